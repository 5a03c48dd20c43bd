package bot

import (
	"context"
	"html"
	"strings"
	"testing"

	"github.com/conciergehq/concierge/kb"
)

// sliceKB serves articles from memory (until the KB package lands).
type sliceKB struct {
	arts []kb.Article
	fb   *feedbackLog
}

func (s *sliceKB) Published(ctx context.Context) ([]kb.Article, error) { return s.arts, nil }
func (s *sliceKB) Feedback(ctx context.Context, id string, helpful bool) error {
	s.fb.add(id, helpful)
	return nil
}

type plainRenderer struct{}

func (plainRenderer) HTML(md string) string { return "<p>" + html.EscapeString(md) + "</p>" }
func (plainRenderer) Text(md string) string {
	return strings.NewReplacer("**", "", "`", "").Replace(md)
}

func newDialogueBot(t testing.TB) (*Bot, *feedbackLog) {
	fb := &feedbackLog{}
	b, err := New(&sliceKB{arts: fixtureArticles(t), fb: fb}, plainRenderer{}, dialogueOptions(), testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	return b, fb
}
