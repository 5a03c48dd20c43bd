package bot

import (
	"fmt"
	"net"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"unicode"

	"github.com/conciergehq/concierge/kb"
)

// DetailKind is one kind of fact the bot can recognise in what customers write and ask
// for when it is missing: an order number, an e-mail address, an error code…
type DetailKind struct {
	Name string
	// Find locates the detail in free text; its first group (or the whole match) is the
	// value. Nil: the detail is only taken as the answer to the bot's question.
	Find *regexp.Regexp
	// Valid is what a value typed in answer to the bot's question must match (whole).
	Valid *regexp.Regexp
	// Check, when set, refines Valid (an IPv4 octet ≤ 255, a parseable URL).
	Check func(string) bool
	// Example shows the expected shape in the re-ask hint.
	Example string
	// Prompt overrides the catalogue's question, per language.
	Prompt map[string]string
}

// Details is the set of known detail kinds, by name.
type Details struct {
	kinds map[string]*DetailKind
	order []string // extraction order: the most specific shapes first
	// patterns caches articles' compiled detail patterns (pattern → *regexp.Regexp):
	// ForArticle runs on every turn that asks for or checks a detail, and compiling
	// was 2 % of the server's CPU under load. Patterns come from the KB, so the cache
	// grows only with edits to them.
	patterns sync.Map
}

// The built-in kinds. Find patterns need an anchor word or an unmistakable shape, so a
// number in "I waited 3 days" is never taken for an order number; Valid patterns are
// looser because the value answers a precise question.
func builtinDetails() []DetailKind {
	return []DetailKind{
		{Name: "email", Find: regexp.MustCompile(`(?i)\b([a-z0-9._%+\-]+@[a-z0-9.\-]+\.[a-z]{2,})\b`),
			Valid: regexp.MustCompile(`(?i)^[a-z0-9._%+\-]+@[a-z0-9.\-]+\.[a-z]{2,}$`), Example: "name@example.com"},
		{Name: "url", Find: regexp.MustCompile(`(?i)\b(https?://[^\s<>"'）)]+)`),
			Valid: regexp.MustCompile(`(?i)^https?://\S+$`), Check: validURL, Example: "https://example.com/page"},
		{Name: "instance_id", Find: regexp.MustCompile(`\b(i-[0-9a-f]{8}(?:[0-9a-f]{9})?|ins-[0-9a-z]{8})\b`),
			Valid: regexp.MustCompile(`^(?:i-[0-9a-f]{8}(?:[0-9a-f]{9})?|ins-[0-9a-z]{8})$`), Example: "i-0abc1234def567890"},
		{Name: "ip_address", Find: regexp.MustCompile(`(?i)(?:^|[^\w.:])((?:\d{1,3}\.){3}\d{1,3}|(?:[0-9a-f]{1,4}:){2,7}[0-9a-f]{0,4}(?::[0-9a-f]{1,4})*)(?:$|[^\w.:])`),
			Valid: regexp.MustCompile(`(?i)^[0-9a-f.:]+$`), Check: validIP, Example: "203.0.113.7"},
		{Name: "region", Find: regexp.MustCompile(`\b((?:us|eu|ap|sa|ca|me|af|cn|il|mx)-(?:north|south|east|west|central|northeast|northwest|southeast|southwest)-\d)\b`),
			Valid: regexp.MustCompile(`^(?:[a-z]{2}-[a-z]+-\d|[a-z]{2,}(?:[- ][a-z]+)*)$`), Example: "eu-west-1"},
		{Name: "error_code", Find: regexp.MustCompile(`(?i)(?:(?:\b(?:error|code)|错误码|错误代码|错误)\s*(?:code\s*)?[:#：]?\s*([A-Z]{0,4}[-_]?\d{2,6}|0x[0-9a-f]{4,8})\b|\b((?:E|ERR)[-_]?\d{2,6}|0x[0-9a-f]{8})\b)`),
			Valid: regexp.MustCompile(`^(?:(?i:[a-z]{0,5}[-_]?\d{2,6}|0x[0-9a-f]{4,8})|[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+)$`), Example: "E1234"},
		{Name: "order_number", Find: regexp.MustCompile(`(?i)(?:\b(?:order|ord|purchase)\s*(?:number|no\.?|num|id|#)?\s*[:#：]?\s*#?\s*([A-Z]{0,4}-?\d{4,14})\b|(?:订单号?|订单编号)\s*[:：]?\s*([A-Z]{0,4}-?\d{4,14})|#(\d{4,14})\b|\b(ORD-?\d{4,14})\b)`),
			Valid: regexp.MustCompile(`(?i)^#?[A-Z]{0,4}-?\d{4,14}$`), Example: "ORD-123456"},
		{Name: "account_id", Find: regexp.MustCompile(`(?i)(?:\b(?:account|acct|customer)\s*(?:id|number|no\.?|#)\s*[:#：]?\s*([A-Z0-9][A-Z0-9-]{3,23})\b|(?:账户|账号|帐号)\s*(?:ID|id)?\s*[:：]?\s*([A-Z0-9][A-Z0-9-]{3,23}))`),
			Valid: regexp.MustCompile(`(?i)^[A-Z0-9][A-Z0-9-]{3,23}$`), Example: "AC-10293"},
		{Name: "phone", Find: regexp.MustCompile(`(?:^|[^\w+])(\+?\d[\d\s().-]{6,18}\d)(?:$|[^\w])`),
			Valid: regexp.MustCompile(`^\+?\d[\d\s().-]{5,18}\d$`), Check: validPhone, Example: "+44 20 7946 0958"},
	}
}

// NewDetails returns the built-in kinds with extra ones (or overrides) added. A kind
// whose Find pattern is nil keeps the built-in one of the same name.
func NewDetails(extra ...DetailKind) *Details {
	d := &Details{kinds: map[string]*DetailKind{}}
	for _, k := range builtinDetails() {
		d.add(k)
	}
	for _, k := range extra {
		if cur, ok := d.kinds[k.Name]; ok {
			if k.Find == nil {
				k.Find = cur.Find
			}
			if k.Valid == nil {
				k.Valid = cur.Valid
			}
			if k.Check == nil {
				k.Check = cur.Check
			}
			if k.Example == "" {
				k.Example = cur.Example
			}
		}
		d.add(k)
	}
	return d
}

func (d *Details) add(k DetailKind) {
	if _, ok := d.kinds[k.Name]; !ok {
		// Extra kinds are tried before the built-in ones: they are the operator's own,
		// usually more specific shapes.
		if len(d.order) >= len(builtinDetails()) {
			d.order = append([]string{k.Name}, d.order...)
		} else {
			d.order = append(d.order, k.Name)
		}
	}
	kk := k
	d.kinds[k.Name] = &kk
}

// Kind returns the named kind, or a kind made from an article's own detail definition.
func (d *Details) Kind(name string) *DetailKind {
	if k, ok := d.kinds[name]; ok {
		return k
	}
	return &DetailKind{Name: name}
}

// ForArticle merges an article's detail definition (its pattern, example and prompts)
// over the known kind of the same name.
func (d *Details) ForArticle(ad kb.Detail) (*DetailKind, error) {
	base := *d.Kind(ad.Name)
	if ad.Pattern != "" {
		re, err := d.pattern(ad.Pattern)
		if err != nil {
			return nil, fmt.Errorf("bot: detail %s: pattern: %w", ad.Name, err)
		}
		base.Valid = re
		base.Check = nil
	}
	if ad.Example != "" {
		base.Example = ad.Example
	}
	if len(ad.Prompt) > 0 {
		base.Prompt = ad.Prompt
	}
	return &base, nil
}

// pattern compiles an article's detail pattern once (anchored: the whole answer must match).
func (d *Details) pattern(p string) (*regexp.Regexp, error) {
	if re, ok := d.patterns.Load(p); ok {
		return re.(*regexp.Regexp), nil
	}
	re, err := regexp.Compile(anchored(p))
	if err != nil {
		return nil, err
	}
	d.patterns.Store(p, re)
	return re, nil
}

func anchored(p string) string {
	if !strings.HasPrefix(p, "^") {
		p = "^(?:" + p + ")"
	}
	if !strings.HasSuffix(p, "$") {
		p += "$"
	}
	return p
}

// Extract finds every known detail in free text. Where several kinds claim the same
// characters (an IP address also looks like a phone number), the first kind in order
// wins.
func (d *Details) Extract(text string) map[string]string {
	out := map[string]string{}
	var taken [][2]int
	overlaps := func(a, b int) bool {
		for _, t := range taken {
			if a < t[1] && b > t[0] {
				return true
			}
		}
		return false
	}
	for _, name := range d.order {
		k := d.kinds[name]
		if k.Find == nil {
			continue
		}
		for _, m := range k.Find.FindAllStringSubmatchIndex(text, -1) {
			a, b := m[0], m[1]
			for g := 2; g+1 < len(m); g += 2 {
				if m[g] >= 0 {
					a, b = m[g], m[g+1]
					break
				}
			}
			v := strings.TrimRight(text[a:b], ".,;:!?")
			if overlaps(a, b) || (k.Check != nil && !k.Check(v)) {
				continue
			}
			taken = append(taken, [2]int{a, b})
			if _, seen := out[name]; !seen {
				out[name] = v
			}
		}
	}
	return out
}

// Validate reads a reply to "what is your <detail>?": the value found in it by the
// kind's Find pattern, or the whole reply when it matches Valid.
func (k *DetailKind) Validate(reply string) (string, bool) {
	reply = strings.TrimSpace(reply)
	if k.Find != nil {
		if m := k.Find.FindStringSubmatch(reply); m != nil {
			v := m[0]
			for _, g := range m[1:] {
				if g != "" {
					v = g
					break
				}
			}
			v = strings.TrimSpace(strings.TrimRight(v, ".,;:!?"))
			if k.Check == nil || k.Check(v) {
				return v, true
			}
		}
	}
	v := strings.TrimSpace(strings.TrimRight(reply, ".,;:!?。！？"))
	if k.Valid == nil {
		return v, v != "" && len(v) <= 200
	}
	if k.valid(v) {
		return v, true
	}
	// "it's 7700123": one word of the reply is the value.
	found := ""
	for _, w := range strings.FieldsFunc(reply, func(r rune) bool { return unicode.IsSpace(r) || strings.ContainsRune(",;:!?。！？，：", r) }) {
		w = strings.Trim(w, ".\"'()[]“”‘’")
		if k.valid(w) {
			if found != "" && found != w {
				return "", false // two candidates: ask again rather than guess
			}
			found = w
		}
	}
	return found, found != ""
}

func (k *DetailKind) valid(v string) bool {
	return v != "" && k.Valid.MatchString(v) && (k.Check == nil || k.Check(v))
}

func validIP(s string) bool { return net.ParseIP(s) != nil }

func validURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}

func validPhone(s string) bool {
	n := 0
	for _, r := range s {
		if r >= '0' && r <= '9' {
			n++
		}
	}
	// Dates and amounts also have digits and dashes; a phone number has 7–15 digits and
	// does not look like a date.
	return n >= 7 && n <= 15 && !dateLike.MatchString(s)
}

var dateLike = regexp.MustCompile(`^\d{4}-\d{1,2}-\d{1,2}$|^\d{1,2}[./-]\d{1,2}[./-]\d{2,4}$`)
