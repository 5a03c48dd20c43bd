package bot

import (
	"embed"
	"encoding/json"
	"fmt"
	"path"
	"sort"
	"strings"
)

//go:embed messages/*.json
var messageFiles embed.FS

// Catalog holds every phrase the bot says, per language. English is complete and the
// fallback: a language may translate only part of it. Phrases take {name} placeholders.
type Catalog struct {
	langs map[string]map[string]string
}

// LoadCatalog reads the embedded message files (messages/<lang>.json).
func LoadCatalog() (*Catalog, error) {
	c := &Catalog{langs: map[string]map[string]string{}}
	names, err := messageFiles.ReadDir("messages")
	if err != nil {
		return nil, fmt.Errorf("bot: messages: %w", err)
	}
	for _, n := range names {
		b, err := messageFiles.ReadFile(path.Join("messages", n.Name()))
		if err != nil {
			return nil, fmt.Errorf("bot: messages: %w", err)
		}
		m := map[string]string{}
		if err := json.Unmarshal(b, &m); err != nil {
			return nil, fmt.Errorf("bot: messages/%s: %w", n.Name(), err)
		}
		c.langs[strings.TrimSuffix(n.Name(), ".json")] = m
	}
	if c.langs["en"] == nil {
		return nil, fmt.Errorf("bot: messages/en.json is missing")
	}
	return c, nil
}

// Languages lists the languages with a message file.
func (c *Catalog) Languages() []string {
	out := make([]string, 0, len(c.langs))
	for l := range c.langs {
		out = append(out, l)
	}
	sort.Strings(out)
	return out
}

// Has reports whether lang has its own phrases.
func (c *Catalog) Has(lang string) bool { return c.langs[baseLang(lang)] != nil }

// Say returns the phrase key in lang (falling back to English) with placeholders filled
// from pairs ("bot", "Concierge", …). An unknown key is a programming error; it is
// returned bracketed so it shows in tests rather than vanishing.
func (c *Catalog) Say(lang, key string, pairs ...string) string {
	s, ok := c.langs[baseLang(lang)][key]
	if !ok {
		s, ok = c.langs["en"][key]
	}
	if !ok {
		return "[" + key + "]"
	}
	if len(pairs) > 0 {
		args := make([]string, 0, len(pairs))
		for i := 0; i+1 < len(pairs); i += 2 {
			args = append(args, "{"+pairs[i]+"}", pairs[i+1])
		}
		s = strings.NewReplacer(args...).Replace(s)
	}
	return s
}

// Lookup returns the phrase in lang only if that language (or English) defines it.
func (c *Catalog) Lookup(lang, key string) (string, bool) {
	if s, ok := c.langs[baseLang(lang)][key]; ok {
		return s, true
	}
	s, ok := c.langs["en"][key]
	return s, ok
}

// Own reports whether lang itself (not the English fallback) has the phrase.
func (c *Catalog) Own(lang, key string) bool {
	_, ok := c.langs[baseLang(lang)][key]
	return ok
}
