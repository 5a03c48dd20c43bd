package editor_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/conciergehq/concierge"
	"github.com/conciergehq/concierge/internal/httpx"
	"github.com/conciergehq/concierge/internal/store"
	"github.com/conciergehq/concierge/kb"
	"github.com/conciergehq/concierge/kb/editor"
)

const token = "test-token"

type fixture struct {
	srv   *httptest.Server
	kb    *kb.Base
	store *store.Store
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	dir := t.TempDir()
	log := zerolog.New(zerolog.NewTestWriter(t))
	st, err := store.Open(context.Background(), filepath.Join(dir, "t.db"), log, store.Options{Synchronous: "NORMAL"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	b, err := kb.Open(context.Background(), st, filepath.Join(dir, "kb.bleve"), nil, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	ed, err := editor.New(b, httpx.TokenAuth{Token: token}, log, editor.Options{})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	ed.Routes(mux)
	srv := httptest.NewServer(httpx.Middleware(log, nil, mux))
	t.Cleanup(srv.Close)
	return &fixture{srv: srv, kb: b, store: st}
}

// do sends a request with the admin token and decodes a JSON answer into out.
func (f *fixture) do(t testing.TB, method, path, ctype string, body any, out any) int {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		j, _ := json.Marshal(b)
		rd = bytes.NewReader(j)
	}
	req, _ := http.NewRequest(method, f.srv.URL+path, rd)
	req.Header.Set("Authorization", "Bearer "+token)
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	data, _ := io.ReadAll(res.Body)
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			t.Fatalf("%s %s: %d %s: %v", method, path, res.StatusCode, data, err)
		}
	}
	return res.StatusCode
}

const jsonCT = "application/json"

func TestArticleAPI(t *testing.T) {
	f := newFixture(t)
	// No token, no access.
	res, err := http.Get(f.srv.URL + "/api/kb/articles")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusUnauthorized {
		t.Fatalf("without a token: %d, want 401", res.StatusCode)
	}

	in := map[string]any{"id": "vpn-setup", "title": "Set up the VPN", "lang": "en", "body": "Install **the client**.\n<script>x()</script>",
		"questions": []string{"how do I connect to the vpn"}, "tags": []string{"network"}}
	// A form post (what a cross-site page could send) is refused.
	if code := f.do(t, "POST", "/api/kb/articles", "application/x-www-form-urlencoded", "id=x", nil); code != http.StatusUnsupportedMediaType {
		t.Fatalf("form-encoded create: %d, want 415", code)
	}
	var a kb.Article
	if code := f.do(t, "POST", "/api/kb/articles", jsonCT, in, &a); code != http.StatusCreated || a.Version != 1 || a.Author != "admin <admin@localhost>" {
		t.Fatalf("create: %d %+v", code, a)
	}
	if code := f.do(t, "POST", "/api/kb/articles", jsonCT, in, nil); code != http.StatusConflict {
		t.Fatalf("create again: %d, want 409", code)
	}
	var fe struct{ Error, Field string }
	if code := f.do(t, "POST", "/api/kb/articles", jsonCT, map[string]any{"id": "x", "lang": "en"}, &fe); code != 400 || fe.Field != "title" {
		t.Fatalf("create without title: %d %+v", code, fe)
	}
	if code := f.do(t, "POST", "/api/kb/articles", jsonCT, `{"id": "x", "title": `, &fe); code != 400 || !strings.Contains(fe.Error, "malformed JSON") {
		t.Fatalf("malformed JSON: %d %+v", code, fe)
	}
	big := map[string]any{"id": "big", "title": "Big", "body": strings.Repeat("x", kb.MaxBody+1)}
	if code := f.do(t, "POST", "/api/kb/articles", jsonCT, big, &fe); code != 400 || fe.Field != "body" {
		t.Fatalf("1 MiB body: %d %+v", code, fe)
	}

	in["body"] = "Install **the new client**."
	in["version"] = 1
	if code := f.do(t, "PUT", "/api/kb/articles/vpn-setup", jsonCT, in, &a); code != 200 || a.Version != 2 {
		t.Fatalf("update: %d %+v", code, a)
	}
	if code := f.do(t, "PUT", "/api/kb/articles/vpn-setup", jsonCT, in, nil); code != http.StatusConflict {
		t.Fatalf("update from a stale version: %d, want 409", code)
	}
	if code := f.do(t, "PUT", "/api/kb/articles/nope", jsonCT, map[string]any{"title": "N", "version": 1}, nil); code != 404 {
		t.Fatalf("update of an unknown id: %d, want 404", code)
	}

	// Drafts are found by the editor's search but not by "what the bot would pick".
	var sr struct{ Hits []kb.Hit }
	f.do(t, "GET", "/api/kb/search?q=vpn", "", nil, &sr)
	if len(sr.Hits) != 0 {
		t.Fatalf("customer-side search found a draft: %+v", sr.Hits)
	}
	f.do(t, "GET", "/api/kb/search?q=vpn&drafts=1", "", nil, &sr)
	if len(sr.Hits) != 1 || sr.Hits[0].ID != "vpn-setup" {
		t.Fatalf("search with drafts: %+v", sr.Hits)
	}
	if code := f.do(t, "POST", "/api/kb/articles/vpn-setup/publish", jsonCT, "{}", &a); code != 200 || a.Status != kb.StatusPublished || a.Version != 3 {
		t.Fatalf("publish: %d %+v", code, a)
	}
	f.do(t, "GET", "/api/kb/search?q=connect+to+the+vpn", "", nil, &sr)
	if len(sr.Hits) != 1 || sr.Hits[0].Question != "how do I connect to the vpn" {
		t.Fatalf("search after publishing: %+v", sr.Hits)
	}

	var list struct {
		Articles []struct{ ID string }
		Total    int
	}
	f.do(t, "GET", "/api/kb/articles?status=published&tag=network", "", nil, &list)
	if list.Total != 1 || list.Articles[0].ID != "vpn-setup" {
		t.Fatalf("list with filters: %+v", list)
	}
	f.do(t, "GET", "/api/kb/articles?status=draft", "", nil, &list)
	if list.Total != 0 {
		t.Fatalf("list of drafts: %+v", list)
	}

	var prev struct{ HTML string }
	f.do(t, "POST", "/api/kb/preview", jsonCT, map[string]string{"markdown": "## Hi\n<img src=x onerror=alert(1)><script>alert(2)</script>"}, &prev)
	if !strings.Contains(prev.HTML, "<h2") || strings.Contains(prev.HTML, "onerror") || strings.Contains(prev.HTML, "<script") {
		t.Fatalf("preview not sanitised: %s", prev.HTML)
	}

	var vs struct{ Versions []kb.Version }
	f.do(t, "GET", "/api/kb/articles/vpn-setup/versions", "", nil, &vs)
	if len(vs.Versions) != 3 || vs.Versions[2].Action != "create" || vs.Versions[0].Action != "publish" {
		t.Fatalf("versions: %+v", vs.Versions)
	}
	var diff struct{ Lines []kb.DiffLine }
	f.do(t, "GET", "/api/kb/articles/vpn-setup/diff?from=1", "", nil, &diff)
	var added, removed []string
	for _, l := range diff.Lines {
		switch l.Op {
		case "+":
			added = append(added, l.Text)
		case "-":
			removed = append(removed, l.Text)
		}
	}
	if !slicesContain(added, "Install **the new client**.") || !slicesContain(removed, "status: draft") {
		t.Fatalf("diff v1→current: +%q -%q", added, removed)
	}
	if code := f.do(t, "POST", "/api/kb/articles/vpn-setup/versions/1/restore", jsonCT, "{}", &a); code != 200 || a.Version != 4 || !strings.Contains(a.Body, "<script>") {
		t.Fatalf("restore v1: %d %+v", code, a)
	}
	if code := f.do(t, "DELETE", "/api/kb/articles/vpn-setup", "", nil, nil); code != http.StatusNoContent {
		t.Fatalf("delete: %d", code)
	}
	if code := f.do(t, "GET", "/api/kb/articles/vpn-setup", "", nil, nil); code != 404 {
		t.Fatalf("get after delete: %d, want 404", code)
	}
	f.do(t, "GET", "/api/kb/articles?deleted=1", "", nil, &list)
	if list.Total != 1 {
		t.Fatalf("trash: %+v", list)
	}

	// Import through the API: all or nothing, errors per file.
	var imp struct {
		Error  string
		Errors []string
	}
	files := map[string]any{"files": []map[string]string{
		{"name": "ok.md", "content": "---\nid: ok\ntitle: OK\n---\nfine\n"},
		{"name": "bad.md", "content": "---\nid: bad\ntitle: Bad\nfoo: 1\n---\n"},
	}}
	if code := f.do(t, "POST", "/api/kb/import", jsonCT, files, &imp); code != 400 || len(imp.Errors) != 1 || !strings.HasPrefix(imp.Errors[0], "bad.md:4:") {
		t.Fatalf("import with a bad file: %d %+v", code, imp)
	}
	if code := f.do(t, "GET", "/api/kb/articles/ok", "", nil, nil); code != 404 {
		t.Fatalf("a refused import stored ok.md: %d", code)
	}
}

func slicesContain(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

func TestHelpPages(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	_, err := f.kb.Import(ctx, []kb.File{
		{Name: "a.md", Data: []byte("---\nid: reset\ntitle: Reset your password\n---\nClick **Forgot**.\n\n<script>alert(1)</script><a href=\"javascript:alert(2)\">x</a>\n")},
		{Name: "b.md", Data: []byte("---\nid: secret\ntitle: Unreleased\nstatus: draft\n---\nnot yet\n")},
	}, "test")
	if err != nil {
		t.Fatal(err)
	}
	get := func(path string) (int, string) {
		res, err := http.Get(f.srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	code, page := get("/help/reset")
	if code != 200 || !strings.Contains(page, "<strong>Forgot</strong>") || strings.Contains(page, "<script>alert") || strings.Contains(page, "javascript:") {
		t.Fatalf("help page: %d\n%s", code, page)
	}
	if code, _ := get("/help/secret"); code != 404 {
		t.Fatalf("draft on the help center: %d, want 404", code)
	}
	if code, page := get("/help?q=forgot+password"); code != 200 || !strings.Contains(page, `href="/help/reset"`) || strings.Contains(page, "secret") {
		t.Fatalf("help search: %d\n%s", code, page)
	}
	cl := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := cl.PostForm(f.srv.URL+"/help/reset/feedback", url.Values{"helpful": {"yes"}})
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("vote: %d", res.StatusCode)
	}
	a, _ := f.kb.Get(ctx, "reset")
	if a.Stats.Views != 1 || a.Stats.Helpful != 1 {
		t.Fatalf("stats after a view and a vote: %+v", a.Stats)
	}
}

func TestContentGaps(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	ask := func(contact, q, lang string) {
		r, err := f.store.Receive(ctx, concierge.Inbound{Channel: "web", ContactID: contact, Text: q})
		if err != nil {
			t.Fatal(err)
		}
		_, _, err = f.store.ApplyTurn(ctx, store.Turn{ConversationID: r.Conversation.ID, MessageID: r.Message.ID, Seq: r.Message.Seq,
			Reply: concierge.Reply{Decision: concierge.Decision{Action: "escalate", Query: q, Language: lang, Gap: true, Score: 0.1}}})
		if err != nil {
			t.Fatal(err)
		}
	}
	ask("1", "How do I export my data to CSV?", "en")
	ask("2", "export data as csv", "en")
	ask("3", "How do I export my data to CSV?", "en")
	ask("4", "Can I pay with PayPal?", "en")
	ask("5", "如何导出数据", "zh")
	var res struct{ Groups []kb.GapGroup }
	if code := f.do(t, "GET", "/api/kb/gaps?days=7", "", nil, &res); code != 200 {
		t.Fatalf("gaps: %d", code)
	}
	if len(res.Groups) != 3 {
		t.Fatalf("gap groups: %+v, want 3 (csv export, paypal, 导出)", res.Groups)
	}
	g := res.Groups[0]
	if g.Count != 3 || len(g.Questions) != 2 || g.Title != "How do I export my data to CSV?" || g.First.After(g.Last) {
		t.Fatalf("largest group: %+v", g)
	}
}
