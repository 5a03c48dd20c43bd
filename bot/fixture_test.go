package bot

import (
	"context"
	"html"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/conciergehq/concierge/internal/store"
	"github.com/conciergehq/concierge/kb"
)

// realKB is the knowledge base as the server has it: articles imported from Markdown
// files into a SQLite store in a temporary data directory, rendered by the KB's own
// renderer. Feedback goes to the store and is also logged for assertions.
type realKB struct {
	base *kb.Base
	fb   *feedbackLog
}

func (k *realKB) Published(ctx context.Context) ([]kb.Article, error) {
	var all []kb.Article
	for offset := 0; ; {
		page, total, err := k.base.List(ctx, kb.Filter{Status: kb.StatusPublished, Limit: 1000, Offset: offset})
		if err != nil {
			return nil, err
		}
		all = append(all, page...)
		offset += len(page)
		if len(page) == 0 || offset >= total {
			return all, nil
		}
	}
}

func (k *realKB) Feedback(ctx context.Context, id string, helpful bool) error {
	k.fb.add(id, helpful)
	return k.base.Feedback(ctx, id, helpful)
}

type kbRenderer struct{}

func (kbRenderer) HTML(md string) string { return kb.RenderHTML(md) }
func (kbRenderer) Text(md string) string { return kb.RenderText(md) }

// importKB imports the Markdown articles of dir into a fresh store.
func importKB(t testing.TB, dir string) *realKB {
	t.Helper()
	st, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "concierge.db"), testLogger(t), store.Options{Synchronous: "OFF"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	base := kb.OpenDatabaseOnly(st, nil, testLogger(t))
	files, err := kb.ReadDir(os.DirFS(dir), ".")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := base.Import(context.Background(), files, "test"); err != nil {
		t.Fatalf("import %s: %v", dir, err)
	}
	return &realKB{base: base, fb: &feedbackLog{}}
}

func newDialogueBot(t testing.TB) (*Bot, *feedbackLog) {
	k := importKB(t, filepath.Join(dialogueDir, "kb"))
	b, err := New(k, kbRenderer{}, dialogueOptions(), testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	return b, k.fb
}

// sliceKB serves articles from memory (benchmarks with generated KBs).
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
