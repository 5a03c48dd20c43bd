package kb

import (
	"bytes"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"unicode/utf8"

	"gopkg.in/yaml.v3"

	"github.com/conciergehq/concierge"
)

// MaxBody is the largest article body accepted (1 MiB).
const MaxBody = 1 << 20

// ParseError is a refused article file: the file, the line and the reason.
type ParseError struct {
	File   string
	Line   int
	Reason string
}

func (e *ParseError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Reason)
	}
	return fmt.Sprintf("%s: %s", e.File, e.Reason)
}

// Unwrap makes a ParseError an ErrInvalid.
func (e *ParseError) Unwrap() error { return concierge.ErrInvalid }

// frontKeys are the front matter keys, in the order Marshal writes them.
var frontKeys = []string{"id", "title", "lang", "status", "team", "tags", "escalate", "questions", "details"}

var detailKeys = []string{"name", "prompt", "pattern", "example"}

// Parse reads one article file: YAML front matter between "---" lines, then the Markdown
// body. name is used in errors ("billing/refund.md:4: …"). Unknown keys are refused (a
// typo must not silently drop a field). A file without a status is published: the files
// are what the KB answers from.
func Parse(name string, data []byte) (Article, error) {
	fail := func(line int, format string, args ...any) (Article, error) {
		return Article{}, &ParseError{File: name, Line: line, Reason: fmt.Sprintf(format, args...)}
	}
	if !utf8.Valid(data) {
		return fail(invalidUTF8Line(data), "not valid UTF-8 text")
	}
	if i := bytes.IndexByte(data, 0); i >= 0 {
		return fail(1+bytes.Count(data[:i], []byte("\n")), "contains a NUL byte (is this a binary file?)")
	}
	data = bytes.TrimPrefix(data, []byte("\ufeff"))
	text := strings.ReplaceAll(string(data), "\r\n", "\n")
	if !strings.HasPrefix(text, "---\n") {
		return fail(1, `must start with a "---" line opening the YAML front matter`)
	}
	rest := text[len("---\n"):]
	var front, body string
	if end := strings.Index(rest, "\n---\n"); end >= 0 {
		front, body = rest[:end+1], rest[end+len("\n---\n"):]
	} else if strings.HasSuffix(rest, "\n---") {
		front, body = rest[:len(rest)-len("---")], ""
	} else if strings.HasPrefix(rest, "---\n") || rest == "---" {
		front, body = "", strings.TrimPrefix(strings.TrimPrefix(rest, "---"), "\n")
	} else {
		return fail(1, `front matter is not closed: add a "---" line after it`)
	}
	bodyLine := 2 + strings.Count(front, "\n") + 1 // the line after the closing ---
	var a Article
	lines := map[string]int{}
	var root yaml.Node
	if err := yaml.Unmarshal([]byte(front), &root); err != nil {
		line, msg := yamlError(err)
		return fail(1+line, "front matter: %s", msg)
	}
	if root.Kind == 0 || len(root.Content) == 0 {
		return fail(2, "front matter is empty: id, title and lang are needed")
	}
	m := root.Content[0]
	if m.Kind != yaml.MappingNode {
		return fail(1+m.Line, "front matter must be a mapping of keys (id: …, title: …)")
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		k, v := m.Content[i], m.Content[i+1]
		line := 1 + k.Line
		if _, dup := lines[k.Value]; dup {
			return fail(line, "key %q appears twice", k.Value)
		}
		lines[k.Value] = line
		var err error
		switch k.Value {
		case "id":
			err = decodeScalar(v, &a.ID)
		case "title":
			err = decodeScalar(v, &a.Title)
		case "lang":
			err = decodeScalar(v, &a.Lang)
		case "team":
			err = decodeScalar(v, &a.Team)
		case "status":
			var s string
			err = decodeScalar(v, &s)
			a.Status = Status(s)
		case "escalate":
			if v.Kind != yaml.ScalarNode || (v.Tag != "!!bool") {
				err = fmt.Errorf("want true or false, got %q", v.Value)
			} else {
				err = v.Decode(&a.Escalate)
			}
		case "tags":
			a.Tags, err = decodeStrings(v)
		case "questions":
			a.Questions, err = decodeStrings(v)
		case "details":
			a.Details, err = decodeDetails(v, lines)
		default:
			return fail(line, "unknown key %q (known: %s)", k.Value, strings.Join(frontKeys, ", "))
		}
		if err != nil {
			if le, ok := err.(lineError); ok {
				return fail(1+le.line, "%s: %s", k.Value, le.msg)
			}
			return fail(1+v.Line, "%s: %v", k.Value, err)
		}
	}
	a.Body = strings.TrimLeft(body, "\n")
	if a.Status == "" {
		a.Status = StatusPublished
	}
	a.Normalize()
	if err := a.Validate(); err != nil {
		field, msg := fieldOf(err)
		line := lines[field]
		if field == "body" {
			line = bodyLine
		}
		if line == 0 {
			line = 2
		}
		return fail(line, "%s", msg)
	}
	return a, nil
}

// lineError is an error inside a nested value, with the line it is on.
type lineError struct {
	line int
	msg  string
}

func (e lineError) Error() string { return e.msg }

func decodeScalar(v *yaml.Node, dst *string) error {
	if v.Kind != yaml.ScalarNode {
		return fmt.Errorf("want a text value")
	}
	if v.Tag == "!!null" {
		*dst = ""
		return nil
	}
	*dst = v.Value
	return nil
}

func decodeStrings(v *yaml.Node) ([]string, error) {
	if v.Kind == yaml.ScalarNode && v.Tag == "!!null" {
		return nil, nil
	}
	if v.Kind != yaml.SequenceNode {
		return nil, fmt.Errorf("want a list (lines starting with \"- \")")
	}
	out := make([]string, 0, len(v.Content))
	for _, c := range v.Content {
		if c.Kind != yaml.ScalarNode || c.Tag == "!!null" {
			return nil, lineError{c.Line, "every entry must be a text value"}
		}
		out = append(out, c.Value)
	}
	return out, nil
}

func decodeDetails(v *yaml.Node, lines map[string]int) ([]Detail, error) {
	if v.Kind == yaml.ScalarNode && v.Tag == "!!null" {
		return nil, nil
	}
	if v.Kind != yaml.SequenceNode {
		return nil, fmt.Errorf("want a list of details (- name: …)")
	}
	var out []Detail
	for i, c := range v.Content {
		if c.Kind != yaml.MappingNode {
			return nil, lineError{c.Line, "every detail must be a mapping (name, prompt, pattern, example)"}
		}
		var d Detail
		for j := 0; j+1 < len(c.Content); j += 2 {
			k, val := c.Content[j], c.Content[j+1]
			var err error
			switch k.Value {
			case "name":
				err = decodeScalar(val, &d.Name)
			case "pattern":
				err = decodeScalar(val, &d.Pattern)
			case "example":
				err = decodeScalar(val, &d.Example)
			case "prompt":
				switch val.Kind {
				case yaml.ScalarNode: // one prompt, taken as English
					var p string
					err = decodeScalar(val, &p)
					d.Prompt = map[string]string{"en": p}
				case yaml.MappingNode:
					d.Prompt = map[string]string{}
					for n := 0; n+1 < len(val.Content); n += 2 {
						var p string
						if err = decodeScalar(val.Content[n+1], &p); err != nil {
							break
						}
						d.Prompt[val.Content[n].Value] = p
					}
				default:
					err = fmt.Errorf("want a text or a mapping of language to text")
				}
			default:
				return nil, lineError{k.Line, fmt.Sprintf("unknown key %q (known: %s)", k.Value, strings.Join(detailKeys, ", "))}
			}
			if err != nil {
				return nil, lineError{val.Line, k.Value + ": " + err.Error()}
			}
		}
		lines[fmt.Sprintf("details[%d]", i)] = 1 + c.Line
		out = append(out, d)
	}
	return out, nil
}

var yamlLineRe = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// yamlError splits a yaml.v3 error into its line (relative to the front matter) and text.
func yamlError(err error) (int, string) {
	msg := err.Error()
	if m := yamlLineRe.FindStringSubmatch(msg); m != nil {
		var n int
		fmt.Sscanf(m[1], "%d", &n)
		return n, m[2]
	}
	return 1, strings.TrimPrefix(msg, "yaml: ")
}

func invalidUTF8Line(b []byte) int {
	line := 1
	for len(b) > 0 {
		r, size := utf8.DecodeRune(b)
		if r == utf8.RuneError && size <= 1 {
			return line
		}
		if r == '\n' {
			line++
		}
		b = b[size:]
	}
	return line
}

// Marshal writes an article in the file format Parse reads: front matter with the keys
// in a fixed order, then the body. Parse(Marshal(a)) gives a back.
func Marshal(a *Article) []byte {
	var b bytes.Buffer
	b.WriteString("---\n")
	root := &yaml.Node{Kind: yaml.MappingNode}
	add := func(k string, v *yaml.Node) {
		root.Content = append(root.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: k}, v)
	}
	str := func(s string) *yaml.Node {
		n := &yaml.Node{Kind: yaml.ScalarNode, Value: s}
		// Quote values YAML would read as something else (yes, 1.0, null, "a: b").
		var probe any
		if yaml.Unmarshal([]byte(s), &probe) != nil || fmt.Sprint(probe) != s || strings.ContainsAny(s, "\n#:") || s == "" {
			n.Style = yaml.DoubleQuotedStyle
		}
		return n
	}
	list := func(items []string) *yaml.Node {
		n := &yaml.Node{Kind: yaml.SequenceNode}
		for _, s := range items {
			n.Content = append(n.Content, str(s))
		}
		return n
	}
	add("id", str(a.ID))
	add("title", str(a.Title))
	add("lang", str(a.Lang))
	add("status", str(string(a.Status)))
	if a.Team != "" {
		add("team", str(a.Team))
	}
	if len(a.Tags) > 0 {
		t := list(a.Tags)
		t.Style = yaml.FlowStyle
		add("tags", t)
	}
	if a.Escalate {
		add("escalate", &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!bool", Value: "true"})
	}
	if len(a.Questions) > 0 {
		add("questions", list(a.Questions))
	}
	if len(a.Details) > 0 {
		ds := &yaml.Node{Kind: yaml.SequenceNode}
		for _, d := range a.Details {
			dn := &yaml.Node{Kind: yaml.MappingNode}
			kv := func(k string, v *yaml.Node) {
				dn.Content = append(dn.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: k}, v)
			}
			kv("name", str(d.Name))
			if len(d.Prompt) > 0 {
				pn := &yaml.Node{Kind: yaml.MappingNode}
				langs := make([]string, 0, len(d.Prompt))
				for l := range d.Prompt {
					langs = append(langs, l)
				}
				slices.Sort(langs)
				for _, l := range langs {
					pn.Content = append(pn.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: l}, str(d.Prompt[l]))
				}
				kv("prompt", pn)
			}
			if d.Pattern != "" {
				p := str(d.Pattern)
				p.Style = yaml.SingleQuotedStyle // regular expressions are full of backslashes
				kv("pattern", p)
			}
			if d.Example != "" {
				kv("example", str(d.Example))
			}
			ds.Content = append(ds.Content, dn)
		}
		add("details", ds)
	}
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	_ = enc.Encode(root) // a tree of plain strings always encodes
	enc.Close()
	b.WriteString("---\n\n")
	body := strings.TrimLeft(a.Body, "\n")
	b.WriteString(body)
	if body != "" && !strings.HasSuffix(body, "\n") {
		b.WriteString("\n")
	}
	return b.Bytes()
}
