package config

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// The example file is the configuration's reference: these tests keep it complete and true
// as sections grow. Its convention: uncommented keys carry their defaults; keys that are off
// or empty by default are commented out as "# key: example", with the "#" at the key's
// indentation (or at the indentation of the list item they belong to).

var examplePath = filepath.Join("..", "..", "concierge.example.yaml")

// commentedKey is a commented-out key line: "  # key: value", "  # - key: value" or
// "  #   key: value" (a key of a commented-out list item). Prose comments must not start
// with a lower-case word and a colon.
var commentedKey = regexp.MustCompile(`^(\s*)# (\s*(?:- )?[a-z][a-z0-9_]*:(?:\s.*)?)$`)

// uncomment turns every commented-out key of the example file into a live one.
func uncomment(body string) string {
	lines := strings.Split(body, "\n")
	for i, l := range lines {
		lines[i] = commentedKey.ReplaceAllString(l, "$1$2")
	}
	return strings.Join(lines, "\n")
}

func readExample(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(examplePath)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// exampleEnv gives every secret the example leaves to the environment a valid value.
func exampleEnv(k string) (string, bool) {
	switch {
	case !strings.HasPrefix(k, "CONCIERGE_TELEGRAM_") && !strings.HasPrefix(k, "CONCIERGE_WECHAT_"):
		return "", false
	case strings.HasSuffix(k, "_ENCODING_AES_KEY"):
		return "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG", true
	case strings.HasSuffix(k, "_TOKEN") && strings.HasPrefix(k, "CONCIERGE_TELEGRAM_"):
		return "123456:abc", true
	}
	return "secret_from_env", true
}

// keyPaths lists every key a type accepts: "server.addr", "handoff.teams[].hours.weekly",
// "handoff.sla.*.resolution". Maps of scalars or lists (free keys such as weekdays or
// menu keys) are one key.
func keyPaths(t reflect.Type, prefix string, out map[string]bool) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Struct:
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			if !f.IsExported() {
				continue
			}
			name, opts, _ := strings.Cut(f.Tag.Get("yaml"), ",")
			if name == "-" {
				continue
			}
			if strings.Contains(opts, "inline") {
				keyPaths(f.Type, prefix, out)
				continue
			}
			if name == "" {
				name = strings.ToLower(f.Name)
			}
			p := name
			if prefix != "" {
				p = prefix + "." + name
			}
			if !hasKeys(f.Type) {
				out[p] = true
			}
			keyPaths(f.Type, p, out)
		}
	case reflect.Slice, reflect.Array:
		if hasKeys(t.Elem()) {
			keyPaths(t.Elem(), prefix+"[]", out)
		}
	case reflect.Map:
		if hasKeys(t.Elem()) {
			keyPaths(t.Elem(), prefix+".*", out)
		}
	}
}

// hasKeys reports whether values of t are mappings with fixed keys (a struct, or a list or
// map of them).
func hasKeys(t reflect.Type) bool {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Struct:
		return true
	case reflect.Slice, reflect.Array, reflect.Map:
		return hasKeys(t.Elem())
	}
	return false
}

// nodeKeys lists the keys a YAML document sets, in keyPaths' notation, guided by the
// Go type so that free map keys (sla tiers) become "*"; commented records which of them
// carry a comment (above the key or after it). Keys of a flow mapping ({a: 1, b: 2}) share
// the comment of the key that holds it, passed down as explained.
func nodeKeys(n *yaml.Node, t reflect.Type, prefix string, explained bool, found, commented map[string]bool) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if n.Kind == yaml.DocumentNode {
		for _, c := range n.Content {
			nodeKeys(c, t, prefix, explained, found, commented)
		}
		return
	}
	switch {
	case t.Kind() == reflect.Struct && n.Kind == yaml.MappingNode:
		fields := map[string]reflect.Type{}
		for i := 0; i < t.NumField(); i++ {
			name, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ",")
			fields[name] = t.Field(i).Type
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			ft, ok := fields[k.Value]
			if !ok {
				continue // KnownFields decoding reports it
			}
			p := k.Value
			if prefix != "" {
				p = prefix + "." + k.Value
			}
			if !hasKeys(ft) {
				found[p] = true
			}
			own := k.HeadComment != "" || k.LineComment != "" || v.LineComment != "" ||
				(explained && n.Style&yaml.FlowStyle != 0)
			if own {
				commented[p] = true
			}
			nodeKeys(v, ft, p, own, found, commented)
		}
	case (t.Kind() == reflect.Slice || t.Kind() == reflect.Array) && n.Kind == yaml.SequenceNode:
		for _, c := range n.Content {
			nodeKeys(c, t.Elem(), prefix+"[]", explained, found, commented)
		}
	case t.Kind() == reflect.Map && n.Kind == yaml.MappingNode && hasKeys(t.Elem()):
		for i := 0; i+1 < len(n.Content); i += 2 {
			nodeKeys(n.Content[i+1], t.Elem(), prefix+".*", explained, found, commented)
		}
	}
}

// TestTheExampleFileNamesEveryKey fails naming each key the configuration accepts that
// concierge.example.yaml does not show, live or as a "# key: …" comment.
func TestTheExampleFileNamesEveryKey(t *testing.T) {
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(uncomment(readExample(t))), &doc); err != nil {
		t.Fatalf("concierge.example.yaml with its keys uncommented is not YAML: %v", err)
	}
	want := map[string]bool{}
	keyPaths(reflect.TypeOf(Config{}), "", want)
	found, commented := map[string]bool{}, map[string]bool{}
	nodeKeys(&doc, reflect.TypeOf(Config{}), "", false, found, commented)
	for _, p := range absent(want, found) {
		t.Errorf("concierge.example.yaml does not show %s (add it with its default, commented out as \"# %s: …\" if it is off by default)",
			p, p[strings.LastIndexAny(p, ".]")+1:])
	}
	if len(want) < 75 {
		t.Errorf("only %d keys found in Config: is keyPaths still reading the yaml tags?", len(want))
	}
	// Every key says what it is for (somewhere, if it appears more than once).
	for _, p := range absent(found, commented) {
		t.Errorf("concierge.example.yaml: %s has no comment saying what it does", p)
	}
}

// absent lists, sorted, the keys of keys that are not set in in.
func absent(keys, in map[string]bool) []string {
	var out []string
	for k := range keys {
		if !in[k] {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

// TestTheExampleFilesCommentedKeysAreValid uncomments every "# key: …" line: the result must
// still be a valid configuration (secrets from the environment), so the file shows no key
// that is misspelt, misplaced or given a value the checks refuse.
func TestTheExampleFilesCommentedKeysAreValid(t *testing.T) {
	c, err := Load(write(t, uncomment(readExample(t))), exampleEnv)
	if err != nil {
		t.Fatalf("concierge.example.yaml with its commented keys uncommented: %v", err)
	}
	if len(c.Telegram) == 0 || len(c.WeChat) == 0 || len(c.Handoff.Teams) == 0 || len(c.Bot.Details) == 0 {
		t.Fatalf("the commented examples were not read: %+v", c)
	}
}

// TestTheExampleFileIsTheDefaults: the live keys of the example carry the defaults, so a
// copy of it behaves exactly like no file at all until something is changed.
func TestTheExampleFileIsTheDefaults(t *testing.T) {
	got, err := Load(examplePath, noEnv)
	if err != nil {
		t.Fatal(err)
	}
	want := Default()
	// "demo: true" is the default that an absent key also means.
	if got.Widget.DemoPage() {
		got.Widget.Demo = nil
	}
	if got.KB.LoadDemo() {
		got.KB.Demo = nil
	}
	for _, d := range differences(reflect.ValueOf(got), reflect.ValueOf(want), "") {
		t.Errorf("concierge.example.yaml sets %s, not its default", d)
	}
}

// differences lists the keys whose values differ, an empty list or map being as good as none.
func differences(a, b reflect.Value, path string) []string {
	switch a.Kind() {
	case reflect.Struct:
		var out []string
		for i := 0; i < a.NumField(); i++ {
			name, _, _ := strings.Cut(a.Type().Field(i).Tag.Get("yaml"), ",")
			p := name
			if path != "" {
				p = path + "." + name
			}
			out = append(out, differences(a.Field(i), b.Field(i), p)...)
		}
		return out
	case reflect.Slice, reflect.Map:
		if a.Len() == 0 && b.Len() == 0 {
			return nil
		}
	}
	if !reflect.DeepEqual(a.Interface(), b.Interface()) {
		return []string{fmt.Sprintf("%s to %v (default %v)", path, a.Interface(), b.Interface())}
	}
	return nil
}

// TestTheExampleFileNamesEveryEnvironmentOverride: each variable applyEnv reads is listed
// in the example, with <NAME> standing for a channel's upper-cased name.
func TestTheExampleFileNamesEveryEnvironmentOverride(t *testing.T) {
	c := Config{Telegram: []Telegram{{Name: "name"}}, WeChat: []WeChat{{Name: "name"}}}
	var read []string
	if err := c.applyEnv(func(k string) (string, bool) { read = append(read, k); return "", false }); err != nil {
		t.Fatal(err)
	}
	if len(read) < 13 {
		t.Fatalf("applyEnv read only %v", read)
	}
	body := readExample(t)
	for _, k := range read {
		k = strings.Replace(k, "_NAME_", "_<NAME>_", 1)
		if !strings.Contains(body, k) {
			t.Errorf("concierge.example.yaml does not name the environment override %s", k)
		}
	}
}

func TestTheExampleFilesUncommentingKeepsProseAndIndentation(t *testing.T) {
	in := "a:\n  # Prose: stays.\n  # b: 1\n  # - name: x\n  #   mode: y\n# auto, json or console\n"
	want := "a:\n  # Prose: stays.\n  b: 1\n  - name: x\n    mode: y\n# auto, json or console\n"
	if got := uncomment(in); got != want {
		t.Fatalf("uncomment:\n%s\nwant:\n%s", got, want)
	}
}
