package kb_test

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/conciergehq/concierge"
	"github.com/conciergehq/concierge/internal/store"
	"github.com/conciergehq/concierge/kb"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

type recorder struct {
	mu     sync.Mutex
	events []concierge.Event
}

func (r *recorder) Publish(topic string, ev concierge.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if topic == concierge.TopicKB {
		r.events = append(r.events, ev)
	}
}

func (r *recorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.events)
}

type env struct {
	dir   string
	store *store.Store
	kb    *kb.Base
	pub   *recorder
}

// newEnv opens a real SQLite store and an on-disk index in a temporary directory.
func newEnv(t testing.TB) *env {
	t.Helper()
	dir := t.TempDir()
	log := zerolog.New(zerolog.NewTestWriter(t))
	st, err := store.Open(context.Background(), filepath.Join(dir, "test.db"), log, store.Options{Synchronous: "NORMAL"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	e := &env{dir: dir, store: st, pub: &recorder{}}
	e.open(t)
	return e
}

func (e *env) open(t testing.TB) {
	t.Helper()
	b, err := kb.Open(context.Background(), e.store, filepath.Join(e.dir, "kb.bleve"), e.pub, zerolog.New(zerolog.NewTestWriter(t)))
	if err != nil {
		t.Fatal(err)
	}
	e.kb = b
	t.Cleanup(func() { b.Close() })
}

func readFiles(t testing.TB, dir string) []kb.File {
	t.Helper()
	files, err := kb.ReadDir(os.DirFS(dir), ".")
	if err != nil {
		t.Fatal(err)
	}
	return files
}

func (e *env) importDir(t testing.TB, dir string) kb.ImportReport {
	t.Helper()
	rep, err := e.kb.Import(context.Background(), readFiles(t, dir), "test")
	if err != nil {
		t.Fatalf("import %s: %v", dir, err)
	}
	return rep
}

func ids(hits []kb.Hit) []string {
	var out []string
	for _, h := range hits {
		out = append(out, h.ID)
	}
	return out
}

func TestImportExportRoundTrip(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	rep := e.importDir(t, "testdata/import")
	if len(rep.Created) != 3 || len(rep.Updated)+len(rep.Unchanged) != 0 {
		t.Fatalf("first import: %+v, want 3 created", rep)
	}
	if rep := e.importDir(t, "testdata/import"); len(rep.Unchanged) != 3 || len(rep.Created)+len(rep.Updated) != 0 {
		t.Fatalf("second import of the same files: %+v, want all unchanged (idempotent)", rep)
	}
	out := t.TempDir()
	if n, err := e.kb.Export(ctx, out); err != nil || n != 3 {
		t.Fatalf("export: %d, %v", n, err)
	}
	golden := "testdata/golden"
	exported, _ := filepath.Glob(filepath.Join(out, "*.md"))
	for _, p := range exported {
		got, _ := os.ReadFile(p)
		gp := filepath.Join(golden, filepath.Base(p))
		if *update {
			os.MkdirAll(golden, 0o755)
			os.WriteFile(gp, got, 0o644)
			continue
		}
		want, err := os.ReadFile(gp)
		if err != nil {
			t.Fatalf("golden file: %v (run go test -update to write it)", err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("export of %s differs from %s:\n%s", filepath.Base(p), gp, got)
		}
	}
	if rep := e.importDir(t, out); len(rep.Unchanged) != 3 || len(rep.Created)+len(rep.Updated) != 0 {
		t.Fatalf("export → import: %+v, want nothing changed", rep)
	}
	a, err := e.kb.Get(ctx, "refund-zh")
	if err != nil {
		t.Fatal(err)
	}
	if !a.Escalate || a.Team != "billing" || len(a.Details) != 1 || a.Details[0].Prompt["zh"] != "请提供您的订单号。" ||
		!a.Details[0].Valid("ORD-123456") || a.Details[0].Valid("123") {
		t.Fatalf("refund-zh after the round trip: %+v", a)
	}
	if a.Version != 1 {
		t.Fatalf("re-importing unchanged files wrote versions: version %d", a.Version)
	}
}

func TestBadFilesImportNothing(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	cases := []struct {
		name string
		data string
		want string
	}{
		{"unknown-key.md", "---\nid: a\ntitle: A\nlang: en\ncolour: blue\n---\nBody\n", "unknown-key.md:5: unknown key \"colour\""},
		{"bad-yaml.md", "---\nid: a\ntitle: A: b: c\nlang: en\n---\n", "bad-yaml.md:3: front matter: mapping values are not allowed"},
		{"no-front.md", "# Just Markdown\n", "no-front.md:1: must start with a \"---\" line"},
		{"unclosed.md", "---\nid: a\ntitle: A\n", "unclosed.md:1: front matter is not closed"},
		{"no-title.md", "---\nid: a\nlang: en\n---\nBody\n", "no-title.md:2: title is missing"},
		{"bad-id.md", "---\nid: a b\ntitle: A\n---\n", "bad-id.md:2: id \"a b\""},
		{"bad-status.md", "---\nid: a\ntitle: A\n\nstatus: live\n---\n", "bad-status.md:5: status \"live\""},
		{"bad-pattern.md", "---\nid: a\ntitle: A\ndetails:\n  - name: order\n    pattern: '(['\n---\n", "bad-pattern.md:5: detail \"order\": pattern"},
		{"bad-escalate.md", "---\nid: a\ntitle: A\nescalate: maybe\n---\n", "bad-escalate.md:4: escalate: want true or false"},
		{"latin1.md", "---\nid: a\ntitle: caf\xe9\n---\n", "latin1.md:3: not valid UTF-8"},
		{"questions.md", "---\nid: a\ntitle: A\nquestions:\n  - ok\n  - [nested]\n---\n", "questions.md:6: questions: every entry must be a text value"},
		{"big.md", "---\nid: big\ntitle: Big\n---\n" + strings.Repeat("a", kb.MaxBody+1), "big.md:5: body is 10485"},
	}
	good := kb.File{Name: "good.md", Data: []byte("---\nid: good\ntitle: Good\n---\nFine.\n")}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := e.kb.Import(ctx, []kb.File{good, {Name: c.name, Data: []byte(c.data)}}, "test")
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("import: %v\nwant an error containing %q", err, c.want)
			}
			if !errors.Is(err, concierge.ErrInvalid) {
				t.Errorf("error %v is not ErrInvalid", err)
			}
		})
	}
	_, err := e.kb.Import(ctx, []kb.File{
		{Name: "a/one.md", Data: []byte("---\nid: same\ntitle: One\n---\n")},
		{Name: "b/two.md", Data: []byte("---\nid: same\ntitle: Two\n---\n")},
	}, "test")
	if err == nil || !strings.Contains(err.Error(), "b/two.md") || !strings.Contains(err.Error(), "a/one.md") {
		t.Fatalf("duplicate ids: %v, want an error naming both files", err)
	}
	if n, _ := e.kb.Count(ctx); n != 0 {
		t.Fatalf("%d articles stored after refused imports, want none (nothing half-imported)", n)
	}
}

func TestSearchPerLanguage(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.importDir(t, "testdata/import")
	cases := []struct {
		q    kb.Query
		want string
	}{
		{kb.Query{Text: "forgot my password", Lang: "en"}, "reset-password"},
		{kb.Query{Text: "I can't log in"}, "reset-password"},
		{kb.Query{Text: "怎样退款", Lang: "zh"}, "refund-zh"},
		{kb.Query{Text: "退"}, "refund-zh"},                             // one character, no language given
		{kb.Query{Text: "退", Lang: "zh-CN"}, "refund-zh"},              // a regional tag
		{kb.Query{Text: "工作日", Lang: "zh"}, "refund-zh"},               // body text
		{kb.Query{Text: "sign-in page", Lang: "en"}, "reset-password"}, // body text
	}
	for _, c := range cases {
		hits, err := e.kb.Search(ctx, c.q)
		if err != nil {
			t.Fatal(err)
		}
		if len(hits) == 0 || hits[0].ID != c.want {
			t.Errorf("search %+v: got %v, want %s first", c.q, ids(hits), c.want)
			continue
		}
		if hits[0].Score <= 0 || hits[0].Title == "" || hits[0].Status != kb.StatusPublished {
			t.Errorf("search %+v: hit %+v lacks score, title or status", c.q, hits[0])
		}
	}
	hits, _ := e.kb.Search(ctx, kb.Query{Text: "forgot password", Lang: "en"})
	if len(hits) == 0 || hits[0].Question != "I forgot my password" || !strings.Contains(hits[0].Snippet, "<mark>") {
		t.Fatalf("best question and snippet: %+v", hits)
	}
	if hits, _ := e.kb.Search(ctx, kb.Query{Text: "退款", Lang: "en"}); len(hits) != 0 {
		t.Fatalf("an English-only search found %v in Chinese articles", ids(hits))
	}
}

func TestDraftsNeverAnswer(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.importDir(t, "testdata/import")
	q := kb.Query{Text: "maintenance window", Lang: "en"}
	if hits, _ := e.kb.Search(ctx, q); len(hits) != 0 {
		t.Fatalf("customer search found drafts: %v", ids(hits))
	}
	q.Drafts = true
	if hits, _ := e.kb.Search(ctx, q); len(hits) == 0 || hits[0].ID != "draft-note" || hits[0].Status != kb.StatusDraft {
		t.Fatalf("editor search: %+v, want the draft", hits)
	}
	if _, err := e.kb.Published(ctx, "draft-note"); !errors.Is(err, concierge.ErrNotFound) {
		t.Fatalf("Published(draft) = %v, want ErrNotFound", err)
	}
	// Publishing makes it answer; unpublishing takes it back at once.
	if _, err := e.kb.SetStatus(ctx, "draft-note", kb.StatusPublished, "ed"); err != nil {
		t.Fatal(err)
	}
	q.Drafts = false
	if hits, _ := e.kb.Search(ctx, q); len(hits) == 0 || hits[0].ID != "draft-note" {
		t.Fatalf("published article not found: %v", ids(hits))
	}
	if _, err := e.kb.SetStatus(ctx, "draft-note", kb.StatusDraft, "ed"); err != nil {
		t.Fatal(err)
	}
	if hits, _ := e.kb.Search(ctx, q); len(hits) != 0 {
		t.Fatalf("unpublished article still answers: %v", ids(hits))
	}
	// Deleted articles answer nobody.
	if err := e.kb.Delete(ctx, "reset-password", "ed"); err != nil {
		t.Fatal(err)
	}
	if hits, _ := e.kb.Search(ctx, kb.Query{Text: "password", Drafts: true}); len(hits) != 0 {
		t.Fatalf("deleted article found: %v", ids(hits))
	}
}

func TestIndexRebuildsWhenDeletedOrCorrupt(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.importDir(t, "testdata/import")
	q := kb.Query{Text: "forgot my password"}
	for _, damage := range []string{"deleted", "corrupt"} {
		e.kb.Close()
		idx := filepath.Join(e.dir, "kb.bleve")
		switch damage {
		case "deleted":
			if err := os.RemoveAll(idx); err != nil {
				t.Fatal(err)
			}
		case "corrupt":
			if err := os.WriteFile(filepath.Join(idx, "index_meta.json"), []byte("{not json"), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		e.open(t)
		hits, err := e.kb.Search(ctx, q)
		if err != nil || len(hits) == 0 || hits[0].ID != "reset-password" {
			t.Fatalf("after the index was %s: %v, %v", damage, ids(hits), err)
		}
	}
}

func TestIndexCatchesUpWithChangesMadeElsewhere(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	// Another process (kb import while the server runs) writes to the database only.
	other := kb.OpenDatabaseOnly(e.store, nil, zerolog.New(zerolog.NewTestWriter(t)))
	if _, err := other.Import(ctx, readFiles(t, "testdata/import"), "cli"); err != nil {
		t.Fatal(err)
	}
	if hits, _ := e.kb.Search(ctx, kb.Query{Text: "password"}); len(hits) != 0 {
		t.Fatalf("found %v before catching up", ids(hits))
	}
	e.kb.Poll = 10 * time.Millisecond
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- e.kb.Run(runCtx) }()
	deadline := time.Now().Add(10 * time.Second)
	for e.pub.count() < 3 {
		if time.Now().After(deadline) {
			t.Fatalf("the index did not pick up the import (events: %d)", e.pub.count())
		}
		time.Sleep(5 * time.Millisecond) // polling an outcome, not waiting for time to pass
	}
	cancel()
	<-done
	if hits, _ := e.kb.Search(ctx, kb.Query{Text: "password"}); len(hits) == 0 || hits[0].ID != "reset-password" {
		t.Fatalf("after catching up: %v", ids(hits))
	}
}

func TestVersionsAndRestore(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	a := kb.Article{ID: "vpn", Title: "Connect to the VPN", Body: "Use the client.", Lang: "en"}
	v1, err := e.kb.Save(ctx, a, "ann", 0)
	if err != nil || v1.Version != 1 || v1.Status != kb.StatusDraft || v1.Author != "ann" {
		t.Fatalf("create: %+v, %v", v1, err)
	}
	if _, err := e.kb.Save(ctx, a, "bob", 0); !errors.Is(err, concierge.ErrConflict) {
		t.Fatalf("creating an existing id: %v, want ErrConflict", err)
	}
	a.Body = "Use the new client."
	v2, err := e.kb.Save(ctx, a, "bob", 1)
	if err != nil || v2.Version != 2 {
		t.Fatalf("edit: %+v, %v", v2, err)
	}
	if _, err := e.kb.Save(ctx, kb.Article{ID: "vpn", Title: "Stale", Lang: "en"}, "cy", 1); !errors.Is(err, concierge.ErrConflict) {
		t.Fatalf("edit of a stale version: %v, want ErrConflict", err)
	}
	if same, _ := e.kb.Save(ctx, a, "bob", 2); same.Version != 2 {
		t.Fatalf("a save without changes wrote version %d", same.Version)
	}
	r, err := e.kb.Restore(ctx, "vpn", 1, "ann")
	if err != nil || r.Version != 3 || r.Body != "Use the client.\n" {
		t.Fatalf("restore: %+v, %v", r, err)
	}
	vs, err := e.kb.Versions(ctx, "vpn")
	if err != nil || len(vs) != 3 || vs[0].Action != "restore" || vs[1].Author != "bob" || vs[2].Action != "create" {
		t.Fatalf("versions: %+v, %v", vs, err)
	}
	if err := e.kb.Delete(ctx, "vpn", "ann"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.kb.Get(ctx, "vpn"); !errors.Is(err, concierge.ErrNotFound) {
		t.Fatalf("get after delete: %v", err)
	}
	if r, err := e.kb.Restore(ctx, "vpn", 2, "ann"); err != nil || r.Deleted() || r.Version != 5 {
		t.Fatalf("undelete by restoring: %+v, %v", r, err)
	}
	if e.pub.count() != 5 {
		t.Fatalf("%d article events, want one per change (5)", e.pub.count())
	}
}

func TestViewsAndFeedback(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.importDir(t, "testdata/import")
	for _, f := range []func() error{
		func() error { return e.kb.View(ctx, "reset-password") },
		func() error { return e.kb.View(ctx, "reset-password") },
		func() error { return e.kb.Feedback(ctx, "reset-password", true) },
		func() error { return e.kb.Feedback(ctx, "reset-password", false) },
		func() error { return e.kb.Feedback(ctx, "reset-password", true) },
	} {
		if err := f(); err != nil {
			t.Fatal(err)
		}
	}
	a, _ := e.kb.Get(ctx, "reset-password")
	if a.Stats != (kb.Stats{Views: 2, Helpful: 2, NotHelpful: 1}) {
		t.Fatalf("stats %+v", a.Stats)
	}
	if err := e.kb.Feedback(ctx, "nope", true); !errors.Is(err, concierge.ErrNotFound) {
		t.Fatalf("feedback on an unknown article: %v", err)
	}
	if a.Version != 1 {
		t.Fatalf("counting views wrote a version")
	}
}

func TestDemoKB(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	if loaded, err := e.kb.LoadDemo(ctx); err != nil || !loaded {
		t.Fatalf("LoadDemo: %v, %v", loaded, err)
	}
	arts, total, err := e.kb.List(ctx, kb.Filter{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	var zh, details, escalate int
	teams := map[string]bool{}
	for _, a := range arts {
		if a.Lang == "zh" {
			zh++
		}
		if len(a.Details) > 0 {
			details++
		}
		if a.Escalate {
			escalate++
		}
		if a.Team == "" || !a.Published() || len(a.Questions) < 3 {
			t.Errorf("demo article %s: team %q, status %s, %d questions", a.ID, a.Team, a.Status, len(a.Questions))
		}
		teams[a.Team] = true
	}
	if total < 40 || zh < 15 || details < 5 || escalate < 2 || len(teams) < 4 {
		t.Fatalf("demo KB: %d articles, %d in Chinese, %d with details, %d escalating, teams %v", total, zh, details, escalate, teams)
	}
	// Realistic questions land on the right article.
	for q, want := range map[string]string{
		"I was charged twice for my order": "charged-twice",
		"my website shows 502 bad gateway": "load-balancer-502",
		"someone hacked my account":        "security-incident",
		"the API keeps returning 429":      "api-rate-limit",
		"I want a refund for my order":     "request-refund",
		"lost my phone with the 2FA app":   "lost-2fa-device",
		"怎么开增值税专用发票":                       "zh-invoice",
		"我的账号被盗了":                          "zh-security-incident",
		"网站需要备案吗":                          "zh-icp-filing",
		"服务器连不上":                           "zh-server-unreachable",
	} {
		hits, err := e.kb.Search(ctx, kb.Query{Text: q, Limit: 3})
		if err != nil {
			t.Fatal(err)
		}
		if len(hits) == 0 || hits[0].ID != want {
			t.Errorf("%q: got %v, want %s first", q, ids(hits), want)
		}
	}
	// A KB that had articles never gets the demo again.
	if err := e.kb.Delete(ctx, "reset-password", "ed"); err != nil {
		t.Fatal(err)
	}
	if loaded, _ := e.kb.LoadDemo(ctx); loaded {
		t.Fatal("the demo was loaded into a KB that already had articles")
	}
}
