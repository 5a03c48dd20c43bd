package kb

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/conciergehq/concierge"
)

// Limits on article fields. They keep one article from swamping the index or the bot.
const (
	maxID        = 128
	maxTitle     = 300
	maxQuestion  = 1000
	maxQuestions = 5000
	maxTags      = 50
	maxTag       = 64
	maxDetails   = 20
)

var (
	idRe     = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)
	langRe   = regexp.MustCompile(`^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*$`)
	teamRe   = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]*$`)
	detailRe = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)
)

// FieldError is an article refused because of one field.
type FieldError struct {
	Field string // "title", "questions", "details[1]", "body"
	Msg   string
}

func (e *FieldError) Error() string { return e.Msg }

// Unwrap makes a FieldError an ErrInvalid.
func (e *FieldError) Unwrap() error { return concierge.ErrInvalid }

func fieldErr(field, format string, args ...any) error {
	return &FieldError{Field: field, Msg: fmt.Sprintf(format, args...)}
}

func fieldOf(err error) (string, string) {
	var fe *FieldError
	if errors.As(err, &fe) {
		return fe.Field, fe.Msg
	}
	return "", err.Error()
}

// Normalize tidies what editors and files commonly get wrong without changing meaning:
// surrounding spaces, empty list entries, duplicate tags, Windows line ends, a missing
// language (English) or status (draft).
func (a *Article) Normalize() {
	a.ID = strings.TrimSpace(a.ID)
	a.Title = strings.TrimSpace(a.Title)
	a.Lang = strings.TrimSpace(a.Lang)
	if a.Lang == "" {
		a.Lang = "en"
	}
	a.Team = strings.ToLower(strings.TrimSpace(a.Team))
	if a.Status == "" {
		a.Status = StatusDraft
	}
	a.Body = strings.ReplaceAll(a.Body, "\r\n", "\n")
	a.Body = strings.TrimLeft(a.Body, "\n")
	a.Body = strings.TrimRight(a.Body, " \t\n")
	if a.Body != "" {
		a.Body += "\n"
	}
	a.Tags = tidy(a.Tags, true)
	a.Questions = tidy(a.Questions, false)
	for i := range a.Details {
		d := &a.Details[i]
		d.Name = strings.TrimSpace(d.Name)
		d.Pattern = strings.TrimSpace(d.Pattern)
		d.Example = strings.TrimSpace(d.Example)
		for l, p := range d.Prompt {
			d.Prompt[l] = strings.TrimSpace(p)
		}
	}
	if len(a.Details) == 0 {
		a.Details = nil
	}
}

// tidy trims entries and drops empty ones and duplicates (case-insensitively for tags).
func tidy(in []string, fold bool) []string {
	var out []string
	seen := map[string]bool{}
	for _, s := range in {
		s = strings.Join(strings.Fields(s), " ")
		key := s
		if fold {
			key = strings.ToLower(s)
		}
		if s == "" || seen[key] {
			continue
		}
		seen[key] = true
		out = append(out, s)
	}
	return out
}

// Validate refuses an article that cannot be stored or answered from. The error is a
// *FieldError naming the field.
func (a *Article) Validate() error {
	switch {
	case a.ID == "":
		return fieldErr("id", "id is missing (a slug such as reset-password)")
	case len(a.ID) > maxID:
		return fieldErr("id", "id is longer than %d characters", maxID)
	case !idRe.MatchString(a.ID):
		return fieldErr("id", "id %q: use letters, digits, '-', '_' and '.' only, starting with a letter or digit", a.ID)
	case a.Title == "":
		return fieldErr("title", "title is missing")
	case utf8.RuneCountInString(a.Title) > maxTitle:
		return fieldErr("title", "title is longer than %d characters", maxTitle)
	case !langRe.MatchString(a.Lang):
		return fieldErr("lang", "lang %q is not a language tag (en, zh, pt-BR…)", a.Lang)
	case a.Status != StatusDraft && a.Status != StatusPublished:
		return fieldErr("status", "status %q: want draft or published", a.Status)
	case a.Team != "" && !teamRe.MatchString(a.Team):
		return fieldErr("team", "team %q: use lower-case letters, digits, '-' and '_'", a.Team)
	case len(a.Body) > MaxBody:
		return fieldErr("body", "body is %d bytes, more than the %d byte limit", len(a.Body), MaxBody)
	case len(a.Tags) > maxTags:
		return fieldErr("tags", "more than %d tags", maxTags)
	case len(a.Questions) > maxQuestions:
		return fieldErr("questions", "more than %d questions", maxQuestions)
	case len(a.Details) > maxDetails:
		return fieldErr("details", "more than %d details", maxDetails)
	}
	for _, t := range a.Tags {
		if utf8.RuneCountInString(t) > maxTag || strings.ContainsAny(t, ",;") {
			return fieldErr("tags", "tag %q: at most %d characters, no commas", t, maxTag)
		}
	}
	for _, q := range a.Questions {
		if utf8.RuneCountInString(q) > maxQuestion {
			return fieldErr("questions", "question %.40q… is longer than %d characters", q, maxQuestion)
		}
	}
	var names []string
	for i, d := range a.Details {
		f := fmt.Sprintf("details[%d]", i)
		if !detailRe.MatchString(d.Name) {
			return fieldErr(f, "detail name %q: use lower-case letters, digits and '_' (order_number)", d.Name)
		}
		if slices.Contains(names, d.Name) {
			return fieldErr(f, "detail %q is declared twice", d.Name)
		}
		names = append(names, d.Name)
		for l, p := range d.Prompt {
			if !langRe.MatchString(l) {
				return fieldErr(f, "detail %q: prompt language %q is not a language tag", d.Name, l)
			}
			if p == "" {
				return fieldErr(f, "detail %q: the %s prompt is empty", d.Name, l)
			}
		}
		if d.Pattern != "" {
			re, err := regexp.Compile(d.Pattern)
			if err != nil {
				return fieldErr(f, "detail %q: pattern: %v", d.Name, err)
			}
			if d.Example != "" && !re.MatchString(d.Example) {
				return fieldErr(f, "detail %q: example %q does not match the pattern %s", d.Name, d.Example, d.Pattern)
			}
		}
	}
	return nil
}

// PromptIn is the detail's question in lang, falling back to the base language, then
// English, then any.
func (d *Detail) PromptIn(lang string) string {
	if p := d.Prompt[lang]; p != "" {
		return p
	}
	if p := d.Prompt[baseLang(lang)]; p != "" {
		return p
	}
	if p := d.Prompt["en"]; p != "" {
		return p
	}
	keys := make([]string, 0, len(d.Prompt))
	for k := range d.Prompt {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	if len(keys) > 0 {
		return d.Prompt[keys[0]]
	}
	return ""
}

// Valid reports whether v is an acceptable value for the detail.
func (d *Detail) Valid(v string) bool {
	v = strings.TrimSpace(v)
	if v == "" {
		return false
	}
	if d.Pattern == "" {
		return true
	}
	re, err := regexp.Compile(d.Pattern)
	return err == nil && re.MatchString(v)
}

// SameContent reports whether two articles say the same thing (what an import compares:
// everything a file holds).
func (a *Article) SameContent(b *Article) bool {
	eq := func(x, y []string) bool { return slices.Equal(x, y) }
	if a.ID != b.ID || a.Title != b.Title || a.Body != b.Body || a.Lang != b.Lang || a.Team != b.Team ||
		a.Escalate != b.Escalate || a.Status != b.Status || !eq(a.Tags, b.Tags) || !eq(a.Questions, b.Questions) ||
		len(a.Details) != len(b.Details) {
		return false
	}
	for i := range a.Details {
		x, y := a.Details[i], b.Details[i]
		if x.Name != y.Name || x.Pattern != y.Pattern || x.Example != y.Example || len(x.Prompt) != len(y.Prompt) {
			return false
		}
		for k, v := range x.Prompt {
			if y.Prompt[k] != v {
				return false
			}
		}
	}
	return true
}
