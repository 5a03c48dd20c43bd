package bot

import (
	"regexp"
	"strings"
	"testing"
)

func TestCatalogFallsBackToEnglishAndFillsPlaceholders(t *testing.T) {
	c, err := LoadCatalog()
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Say("zh-CN", "greeting", "bot", "小助手"); !strings.Contains(got, "小助手") || !strings.Contains(got, "转人工") {
		t.Errorf("zh greeting = %q", got)
	}
	if got := c.Say("ja", "next_candidate"); got != c.Say("en", "next_candidate") {
		t.Errorf("ja without its own phrase should fall back to English, got %q", got)
	}
	if got := c.Say("en", "no_such_key"); got != "[no_such_key]" {
		t.Errorf("unknown key = %q", got)
	}
}

// Every language's placeholders must be ones the English phrase has, and Chinese must
// be complete: it is a supported language for the bot's own phrases.
func TestCatalogsAreConsistent(t *testing.T) {
	c, err := LoadCatalog()
	if err != nil {
		t.Fatal(err)
	}
	ph := regexp.MustCompile(`\{[a-z_]+\}`)
	en := c.langs["en"]
	for lang, m := range c.langs {
		for k, v := range m {
			base, ok := en[k]
			if !ok {
				t.Errorf("%s: key %q not in en.json", lang, k)
				continue
			}
			for _, p := range ph.FindAllString(v, -1) {
				if !strings.Contains(base, p) {
					t.Errorf("%s.%s uses %s, which the English phrase does not have", lang, k, p)
				}
			}
		}
	}
	for k := range en {
		if _, ok := c.langs["zh"][k]; !ok {
			t.Errorf("zh.json lacks %q", k)
		}
	}
}
