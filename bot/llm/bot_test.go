package llm

import (
	"context"
	"html"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/conciergehq/concierge"
	"github.com/conciergehq/concierge/bot"
	"github.com/conciergehq/concierge/channels"
	"github.com/conciergehq/concierge/internal/store"
	"github.com/conciergehq/concierge/kb"
)

type memKB []kb.Article

func (m memKB) Published(context.Context) ([]kb.Article, error) { return m, nil }
func (m memKB) Feedback(context.Context, string, bool) error    { return nil }

type textRenderer struct{}

func (textRenderer) HTML(md string) string { return "<p>" + html.EscapeString(md) + "</p>" }
func (textRenderer) Text(md string) string { return md }

var articles = memKB{
	{ID: "reset-password", Title: "Reset your password", Lang: "en", Status: kb.StatusPublished,
		Questions: []string{"how do I reset my password", "I forgot my password", "password reset link"},
		Body:      "Choose **Forgot password** on the sign-in page."},
	{ID: "delivery-times", Title: "Delivery times", Lang: "en", Status: kb.StatusPublished,
		Questions: []string{"when will my parcel arrive", "how long does delivery take", "shipping time"},
		Body:      "Parcels arrive in 3 to 5 working days."},
}

func ask(t *testing.T, b *bot.Bot, text string) concierge.Reply {
	t.Helper()
	msg := concierge.Message{ID: 1, Seq: 1, Sender: concierge.SenderUser, Text: text}
	r, err := b.Respond(context.Background(), channels.Turn{Conversation: concierge.Conversation{ID: 1, Status: concierge.StatusBot},
		Message: msg, History: []concierge.Message{msg}})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func newBot(t *testing.T) *bot.Bot {
	b, err := bot.New(articles, textRenderer{}, bot.Options{BaseURL: "https://help.example.com"}, zerolog.New(zerolog.NewTestWriter(t)))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestBotAnswersWithTheModelsGroundedTextAndFallsBackOnFailure(t *testing.T) {
	f := newFakeAPI(t)
	f.chat = []fakeReply{{stream: []string{"Use **Forgot password** on the sign-in page [1]."}}}
	b := newBot(t)
	c := f.client(t, "k")
	b.SetLLM(c, c)
	if err := b.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	r := ask(t, b, "I forgot my password")
	if r.Decision.Action != "answer" || !strings.Contains(r.Messages[0].Text, "Use **Forgot password**") ||
		!strings.Contains(r.Messages[0].Text, "[1] Reset your password — https://help.example.com/help/reset-password") ||
		!strings.Contains(r.Messages[0].HTML, `href="https://help.example.com/help/reset-password"`) {
		t.Fatalf("reply = %+v", r.Messages)
	}

	f.chat = []fakeReply{{status: 500}}
	r = ask(t, b, "I forgot my password")
	if r.Decision.Action != "answer" || !strings.HasPrefix(r.Messages[0].Text, "Reset your password") {
		t.Fatalf("with the model failing the bot must send the article itself; got %+v", r.Messages)
	}
	f.chat = []fakeReply{{stream: []string{"NO_ANSWER"}}}
	r = ask(t, b, "I forgot my password")
	if r.Decision.Action != "answer" || !strings.HasPrefix(r.Messages[0].Text, "Reset your password") {
		t.Fatalf("a refusal must fall back to the article; got %+v", r.Messages)
	}
}

// Embeddings are computed once per article text and kept in SQLite; a restart reuses
// them, and the semantic ranking can rescue a question the keywords miss.
func TestEmbeddingsAreCachedInTheStoreAndFusedWithKeywords(t *testing.T) {
	f := newFakeAPI(t)
	// A toy embedding: the "delivery" direction for anything about parcels or arriving.
	f.embed = func(s string) []float32 {
		s = strings.ToLower(s)
		if strings.Contains(s, "parcel") || strings.Contains(s, "deliver") || strings.Contains(s, "arriv") || strings.Contains(s, "package") {
			return []float32{0, 1}
		}
		return []float32{1, 0}
	}
	path := filepath.Join(t.TempDir(), "c.db")
	st, err := store.Open(context.Background(), path, zerolog.New(zerolog.NewTestWriter(t)), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	c := f.client(t, "k")
	b := newBot(t)
	b.SetEmbeddings(c, st)
	if err := b.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	embedCalls := func() int {
		n := 0
		for _, r := range f.calls() {
			if r.path == "/v1/embeddings" && len(r.body["input"].([]any)) > 1 {
				n++
			}
		}
		return n
	}
	if embedCalls() != 1 {
		t.Fatalf("%d article embedding calls, want 1 batch", embedCalls())
	}
	b2 := newBot(t)
	b2.SetEmbeddings(c, st)
	if err := b2.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	if embedCalls() != 1 {
		t.Fatal("a second start embedded the articles again instead of reading them from the store")
	}
	r := ask(t, b2, "my package is late")
	if len(r.Messages) == 0 || r.Decision.ArticleID != "delivery-times" {
		t.Fatalf("decision %+v: the embedding ranking should put delivery-times first", r.Decision)
	}
}
