package panel_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/conciergehq/concierge"
	"github.com/conciergehq/concierge/handoff/panel"
	"github.com/conciergehq/concierge/internal/auth"
	"github.com/conciergehq/concierge/kb"
)

// agentClient calls the API as one signed-in agent.
type agentClient struct {
	t      *testing.T
	base   string
	cookie string
	csrf   string
}

func (r *rig) client(t *testing.T, a auth.Account) *agentClient {
	rec := httptest.NewRecorder()
	sess, err := r.auth.StartSession(context.Background(), rec, httptest.NewRequest("POST", "/login", nil), a)
	if err != nil {
		t.Fatal(err)
	}
	var parts []string
	for _, c := range rec.Result().Cookies() {
		parts = append(parts, c.Name+"="+c.Value)
	}
	return &agentClient{t: t, base: r.srv.URL, cookie: strings.Join(parts, "; "), csrf: sess.CSRF}
}

func (c *agentClient) call(method, path, body string, csrf bool) (int, string) {
	c.t.Helper()
	req, _ := http.NewRequest(method, c.base+"/agent/api/"+path, strings.NewReader(body))
	req.Header.Set("Cookie", c.cookie)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if csrf {
		req.Header.Set(auth.CSRFHeader, c.csrf)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestAPIRefusesBadInputAndStrangers(t *testing.T) {
	r := newRig(t, nil)
	ana := r.client(t, r.account("ana@example.com", "Ana", []string{"general"}, "agent"))
	bill := r.client(t, r.account("bill@example.com", "Bill", []string{"billing"}, "agent"))
	id := r.say("v", "Sam", "I want to talk to a human", "")
	r.waitStatus(id, concierge.StatusQueued)
	conv := fmt.Sprintf("conversations/%d", id)
	cases := []struct {
		who          *agentClient
		method, path string
		body         string
		csrf         bool
		want         int
		says         string
	}{
		{ana, "POST", conv + "/claim", "{}", false, 403, "CSRF"},
		{bill, "GET", conv, "", false, 404, "not found"},
		{bill, "POST", conv + "/claim", "{}", true, 404, "not found"},
		{ana, "GET", "conversations/abc", "", false, 400, "not a number"},
		{ana, "GET", "conversations/999999", "", false, 404, "not found"},
		{ana, "POST", conv + "/messages", `{"text": "hi"`, true, 400, "malformed"},
		{ana, "POST", conv + "/messages", `{"text": "hi", "html": "<b>"}`, true, 400, "unknown field"},
		{ana, "POST", conv + "/messages", `{"text": "hi"}`, true, 403, "claim"},
		{ana, "POST", conv + "/messages", `{"text": "` + strings.Repeat("x", 9000) + `"}`, true, 400, "bytes"},
		{ana, "POST", conv + "/close", `{"resolution": "maybe"}`, true, 400, "resolution"},
		{ana, "PUT", "presence", `{"presence": "busy"}`, true, 400, "want online"},
		{ana, "POST", conv + "/transfer", `{"team": "nope"}`, true, 400, "no team"},
		{ana, "POST", "canned", `{"team": "billing", "shortcut": "x", "body": "y"}`, true, 403, "teams"},
		{ana, "GET", "kb/search?q=refund", "", false, 501, "not connected"},
		{ana, "POST", conv + "/claim", "{}", true, 200, `"status":"assigned"`},
		{bill, "POST", conv + "/claim", "{}", true, 404, "not found"},
	}
	for _, c := range cases {
		code, body := c.who.call(c.method, c.path, c.body, c.csrf)
		if code != c.want || !strings.Contains(body, c.says) {
			t.Errorf("%s %s: %d %s, want %d mentioning %q", c.method, c.path, code, body, c.want, c.says)
		}
	}
	code, body := ana.call("GET", "queue", "", false)
	var q struct {
		Mine []struct {
			Conversation concierge.Conversation `json:"conversation"`
		} `json:"mine"`
	}
	if code != 200 || json.Unmarshal([]byte(body), &q) != nil || len(q.Mine) != 1 || q.Mine[0].Conversation.ID != id {
		t.Fatalf("queue after the claim: %d %s", code, body)
	}
}

type fakeKB struct{}

func (fakeKB) Search(ctx context.Context, q kb.Query) ([]kb.Hit, error) {
	return []kb.Hit{{ID: "refunds", Title: "Refunds", Lang: "en", Score: 0.9}}, nil
}

func (fakeKB) Article(ctx context.Context, id string) (kb.Article, error) {
	switch id {
	case "refunds":
		return kb.Article{ID: id, Title: "Refunds", Body: "Refunds take 5 days.", Status: kb.StatusPublished}, nil
	case "draft":
		return kb.Article{ID: id, Title: "Secret", Status: kb.StatusDraft}, nil
	}
	return kb.Article{}, fmt.Errorf("article %s: %w", id, concierge.ErrNotFound)
}

func TestKBSearchForInsertingArticles(t *testing.T) {
	r := newRigWith(t, nil, panel.Options{Search: fakeKB{}})
	ana := r.client(t, r.account("ana@example.com", "Ana", []string{"general"}, "agent"))
	if code, body := ana.call("GET", "kb/search?q=refund", "", false); code != 200 || !strings.Contains(body, `"title":"Refunds"`) {
		t.Fatalf("search: %d %s", code, body)
	}
	if code, body := ana.call("GET", "kb/articles/refunds", "", false); code != 200 || !strings.Contains(body, "5 days") {
		t.Fatalf("article: %d %s", code, body)
	}
	if code, _ := ana.call("GET", "kb/articles/draft", "", false); code != 404 {
		t.Fatalf("draft article: %d, want 404 (drafts never reach customers)", code)
	}
	if code, body := ana.call("GET", "bootstrap", "", false); code != 200 || !strings.Contains(body, `"kb":true`) {
		t.Fatalf("bootstrap: %d %s", code, body)
	}
}
