package llm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	openai "github.com/sashabaranov/go-openai"

	"github.com/conciergehq/concierge/bot"
)

// fakeAPI is an OpenAI-compatible server on loopback: it speaks the real wire format
// (JSON completions, server-sent-event streams, embeddings, error bodies) and lets each
// test script the responses.
type fakeAPI struct {
	t   *testing.T
	srv *httptest.Server

	mu       sync.Mutex
	requests []recorded
	// chat answers each chat request in turn (the last one repeats).
	chat []fakeReply
	// embed returns a vector for a text.
	embed func(text string) []float32
	// block, when set, holds requests until the client gives up (deadline tests).
	block chan struct{}
}

type recorded struct {
	path string
	auth string
	body map[string]any
}

type fakeReply struct {
	status int      // non-200: an error body is sent
	stream []string // SSE content pieces
	text   string   // non-streamed content
}

func newFakeAPI(t *testing.T) *fakeAPI {
	f := &fakeAPI{t: t}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeAPI) client(t *testing.T, key string) *Client {
	c, err := New(Config{BaseURL: f.srv.URL + "/v1", Model: "test-model", APIKey: key, EmbeddingModel: "test-embed"},
		f.srv.Client(), zerolog.New(zerolog.NewTestWriter(t)))
	if err != nil {
		t.Fatal(err)
	}
	c.sleep = func(ctx context.Context, d time.Duration) error { return ctx.Err() } // no real backoff in tests
	return c
}

func (f *fakeAPI) calls() []recorded {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]recorded(nil), f.requests...)
}

func (f *fakeAPI) serve(w http.ResponseWriter, r *http.Request) {
	var body map[string]any
	b, _ := io.ReadAll(r.Body)
	if err := json.Unmarshal(b, &body); err != nil {
		http.Error(w, "bad json", http.StatusBadRequest)
		return
	}
	f.mu.Lock()
	f.requests = append(f.requests, recorded{path: r.URL.Path, auth: r.Header.Get("Authorization"), body: body})
	n := len(f.requests)
	block := f.block
	f.mu.Unlock()
	if block != nil {
		select {
		case <-r.Context().Done():
		case <-block:
		}
		return
	}
	switch r.URL.Path {
	case "/v1/embeddings":
		f.serveEmbeddings(w, body)
	case "/v1/chat/completions":
		f.mu.Lock()
		i := 0
		chatCalls := 0
		for _, rq := range f.requests[:n] {
			if rq.path == "/v1/chat/completions" {
				chatCalls++
			}
		}
		i = min(chatCalls-1, len(f.chat)-1)
		reply := f.chat[i]
		f.mu.Unlock()
		f.serveChat(w, body, reply)
	default:
		http.NotFound(w, r)
	}
}

func (f *fakeAPI) serveChat(w http.ResponseWriter, body map[string]any, reply fakeReply) {
	if reply.status != 0 && reply.status != 200 {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(reply.status)
		fmt.Fprintf(w, `{"error":{"message":"fake error %d","type":"server_error","code":"fake_%d"}}`, reply.status, reply.status)
		return
	}
	if stream, _ := body["stream"].(bool); stream {
		w.Header().Set("Content-Type", "text/event-stream")
		fl := w.(http.Flusher)
		for _, piece := range reply.stream {
			chunk, _ := json.Marshal(map[string]any{"id": "x", "object": "chat.completion.chunk", "model": "test-model",
				"choices": []any{map[string]any{"index": 0, "delta": map[string]any{"content": piece}}}})
			fmt.Fprintf(w, "data: %s\n\n", chunk)
			fl.Flush()
		}
		// The usage chunk has no choices; clients must cope.
		fmt.Fprint(w, `data: {"id":"x","object":"chat.completion.chunk","choices":[],"usage":{"prompt_tokens":5,"completion_tokens":3,"total_tokens":8}}`+"\n\n")
		fmt.Fprint(w, "data: [DONE]\n\n")
		fl.Flush()
		return
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{"id": "x", "object": "chat.completion", "model": "test-model",
		"choices": []any{map[string]any{"index": 0, "finish_reason": "stop",
			"message": map[string]any{"role": "assistant", "content": reply.text}}}})
}

func (f *fakeAPI) serveEmbeddings(w http.ResponseWriter, body map[string]any) {
	inputs, _ := body["input"].([]any)
	data := []any{}
	// Answer in reverse order: clients must map vectors back by index.
	for i := len(inputs) - 1; i >= 0; i-- {
		data = append(data, map[string]any{"object": "embedding", "index": i, "embedding": f.embed(inputs[i].(string))})
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{"object": "list", "model": body["model"], "data": data})
}

var sources = []bot.Source{
	{ID: "reset-password", Title: "Reset your password", Text: "Choose **Forgot password** on the sign-in page."},
	{ID: "change-email", Title: "Change your e-mail", Text: "Open Settings → Account."},
}

func TestComposeStreamsAGroundedAnswerWithCitations(t *testing.T) {
	f := newFakeAPI(t)
	f.chat = []fakeReply{{stream: []string{"Choose ", "**Forgot password** ", "on the sign-in page [1]."}}}
	c := f.client(t, "sk-test")
	var pieces []string
	got, err := c.ComposeStream(context.Background(), bot.ComposeRequest{Question: "forgot my password", Language: "zh", Sources: sources},
		func(d string) { pieces = append(pieces, d) })
	if err != nil {
		t.Fatal(err)
	}
	if got.Refused || got.Text != "Choose **Forgot password** on the sign-in page [1]." || len(got.Citations) != 1 || got.Citations[0] != "reset-password" {
		t.Fatalf("composed = %+v", got)
	}
	if len(pieces) != 3 {
		t.Fatalf("streamed pieces = %q, want 3", pieces)
	}
	calls := f.calls()
	if len(calls) != 1 || calls[0].auth != "Bearer sk-test" || calls[0].body["model"] != "test-model" || calls[0].body["stream"] != true {
		t.Fatalf("request = %+v", calls)
	}
	msgs := calls[0].body["messages"].([]any)
	sys := msgs[0].(map[string]any)["content"].(string)
	if !strings.Contains(sys, "[1] Reset your password") || !strings.Contains(sys, "[2] Change your e-mail") ||
		!strings.Contains(sys, "Simplified Chinese") || !strings.Contains(sys, noAnswer) {
		t.Fatalf("system prompt lacks the numbered sources, the language or the refusal rule:\n%s", sys)
	}
	if temp, ok := calls[0].body["temperature"].(float64); !ok || temp <= 0 || temp > 1e-30 {
		t.Fatalf("temperature = %v, want the smallest non-zero float (0 would be dropped)", calls[0].body["temperature"])
	}
}

func TestComposeRefusesUnsupportedAndUncitedAnswers(t *testing.T) {
	for _, reply := range [][]string{{"NO_", "ANSWER"}, {"I think you should call us."}, {""}} {
		f := newFakeAPI(t)
		f.chat = []fakeReply{{stream: reply}}
		got, err := f.client(t, "").Compose(context.Background(), bot.ComposeRequest{Question: "q", Sources: sources})
		if err != nil || !got.Refused {
			t.Errorf("reply %q: composed %+v, %v; want a refusal", reply, got, err)
		}
		if f.calls()[0].auth != "" {
			t.Errorf("no key configured, but Authorization %q was sent", f.calls()[0].auth)
		}
	}
}

func TestRateLimitIsRetriedThenSucceeds(t *testing.T) {
	f := newFakeAPI(t)
	f.chat = []fakeReply{{status: 429}, {stream: []string{"Done [2]."}}}
	got, err := f.client(t, "k").Compose(context.Background(), bot.ComposeRequest{Question: "q", Sources: sources})
	if err != nil || got.Citations[0] != "change-email" {
		t.Fatalf("composed %+v, %v", got, err)
	}
	if n := len(f.calls()); n != 2 {
		t.Fatalf("%d calls, want a retry after the 429", n)
	}
}

func TestServerErrorsGiveUpAfterTheRetries(t *testing.T) {
	f := newFakeAPI(t)
	f.chat = []fakeReply{{status: 503}}
	_, err := f.client(t, "k").ReadDetails(context.Background(), "order 12345", []string{"order_number"})
	var apiErr *openai.APIError
	if !errors.As(err, &apiErr) || apiErr.HTTPStatusCode != 503 {
		t.Fatalf("err = %v, want the API's 503", err)
	}
	if n := len(f.calls()); n != 3 {
		t.Fatalf("%d calls, want 1 + 2 retries", n)
	}
	f2 := newFakeAPI(t)
	f2.chat = []fakeReply{{status: 400}}
	if _, err := f2.client(t, "k").ReadDetails(context.Background(), "x", []string{"a"}); err == nil || len(f2.calls()) != 1 {
		t.Fatalf("a 400 must fail at once: err %v after %d calls", err, len(f2.calls()))
	}
}

func TestDeadlineEndsAStalledCall(t *testing.T) {
	f := newFakeAPI(t)
	f.block = make(chan struct{})
	defer close(f.block)
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Millisecond)
	defer cancel()
	_, err := f.client(t, "k").Compose(ctx, bot.ComposeRequest{Question: "q", Sources: sources})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want the deadline", err)
	}
}

func TestReadDetailsAsksForJSONAndKeepsOnlyWhatTheMessageSays(t *testing.T) {
	f := newFakeAPI(t)
	f.chat = []fakeReply{{text: "```json\n{\"order_number\": \"A-7781\", \"email\": \"invented@example.com\", \"other\": \"x\"}\n```"}}
	got, err := f.client(t, "k").ReadDetails(context.Background(), "it's the one with reference A-7781 from Monday",
		[]string{"order_number", "email"})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got["order_number"] != "A-7781" {
		t.Fatalf("details = %v, want only the order number (the e-mail is not in the message)", got)
	}
	rf := f.calls()[0].body["response_format"].(map[string]any)
	if rf["type"] != "json_object" {
		t.Fatalf("response_format = %v", rf)
	}
	f.chat = []fakeReply{{text: "sorry, I can't"}}
	if _, err := f.client(t, "k").ReadDetails(context.Background(), "x", []string{"a"}); err == nil {
		t.Fatal("a non-JSON reply must be an error")
	}
}

func TestEmbedMapsVectorsBackByIndex(t *testing.T) {
	f := newFakeAPI(t)
	f.embed = func(s string) []float32 { return []float32{float32(len(s)), 1} }
	got, err := f.client(t, "k").Embed(context.Background(), []string{"a", "bbb", "cc"})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || got[0][0] != 1 || got[1][0] != 3 || got[2][0] != 2 {
		t.Fatalf("vectors = %v", got)
	}
	if f.calls()[0].body["model"] != "test-embed" {
		t.Fatalf("embedding model = %v", f.calls()[0].body["model"])
	}
}
