package bot

import (
	"strings"
	"testing"
	"time"

	"github.com/conciergehq/concierge/kb"
)

// countingRenderer is the real Markdown renderer, counting its calls.
type countingRenderer struct{ n int }

func (r *countingRenderer) HTML(md string) string { r.n++; return kb.RenderHTML(md) }
func (r *countingRenderer) Text(md string) string { r.n++; return kb.RenderText(md) }

// An article is rendered once per index, and again when what the bot holds differs from
// what was rendered (an article taken from another snapshot).
func TestArticlesAreRenderedOncePerIndex(t *testing.T) {
	a := kb.Article{ID: "reset", Title: "Reset *your* password", Lang: "en", Status: kb.StatusPublished,
		Body: "Open **Settings** and choose Reset."}
	idx := buildIndex([]kb.Article{a}, time.Now())
	r := &countingRenderer{}
	text, html := idx.render(idx.article("reset"), r)
	if text != "Open Settings and choose Reset." || !strings.Contains(html, "<strong>Reset *your* password</strong>") ||
		!strings.Contains(html, "<strong>Settings</strong>") {
		t.Fatalf("rendered %q / %q", text, html)
	}
	for range 3 {
		if t2, h2 := idx.render(idx.article("reset"), r); t2 != text || h2 != html {
			t.Fatalf("cached render differs: %q / %q", t2, h2)
		}
	}
	if r.n != 2 {
		t.Errorf("rendered %d times for four answers, want 2 (text and HTML once)", r.n)
	}
	edited := a
	edited.Body = "Open **Account** instead."
	if text, _ := idx.render(&edited, r); text != "Open Account instead." || r.n != 4 {
		t.Errorf("edited article rendered as %q after %d renders", text, r.n)
	}
}
