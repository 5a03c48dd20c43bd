package telegram

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/conciergehq/concierge"
	"github.com/conciergehq/concierge/channels"
	"github.com/conciergehq/concierge/channels/telegram/telegramtest"
	"github.com/conciergehq/concierge/internal/blob"
	"github.com/conciergehq/concierge/internal/bus"
	"github.com/conciergehq/concierge/internal/store"
)

// longPayload does not fit Telegram's 64-byte callback_data.
var longPayload = "clarify:" + strings.Repeat("how-do-i-reset-my-password-when-the-email-never-arrives/", 2)

// testBot is a small triage bot: it greets on /start, escalates on /human or a "No",
// closes on a "Yes", and otherwise answers with a "Did this help?" keyboard.
type testBot struct {
	mu   sync.Mutex
	seen []concierge.Message
}

func (b *testBot) Respond(ctx context.Context, t channels.Turn) (concierge.Reply, error) {
	b.mu.Lock()
	b.seen = append(b.seen, t.Message)
	b.mu.Unlock()
	m := t.Message
	say := func(text string, qr ...concierge.QuickReply) concierge.Reply {
		return concierge.Reply{Messages: []concierge.Outgoing{{Sender: concierge.SenderBot, Text: text, QuickReplies: qr}},
			Decision: concierge.Decision{Action: "answer", Query: m.Text}}
	}
	helped := []concierge.QuickReply{{Label: "Yes", Payload: "helpful:yes"}, {Label: "No", Payload: "helpful:no"}}
	switch {
	case m.Action() == concierge.ActionStart:
		return say("Hello! How can I help?"), nil
	case m.Action() == concierge.ActionHuman || m.Payload == "helpful:no":
		r := say("Connecting you with a person.")
		r.Escalation = &concierge.Escalation{Reason: "not_helpful", Team: "support"}
		r.Decision.Action = "escalate"
		return r, nil
	case m.Payload == "helpful:yes":
		r := say("Glad to help!")
		r.Resolved = true
		return r, nil
	case m.Payload == longPayload:
		return say("You picked the long one."), nil
	case m.Text == "choices":
		return say("Which one?", concierge.QuickReply{Label: "Password reset", Payload: longPayload},
			concierge.QuickReply{Label: "Other", Payload: "clarify:other"}), nil
	case strings.HasPrefix(m.Text, "say "):
		return say(strings.TrimPrefix(m.Text, "say ")), nil
	}
	return say("Answer to: "+m.Text+"\n\nDid this help?", helped...), nil
}

func (b *testBot) messages() []concierge.Message {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]concierge.Message(nil), b.seen...)
}

// testHandoff queues escalations and records ratings, as the handoff side will.
type testHandoff struct {
	st      *store.Store
	mu      sync.Mutex
	ratings []int
	rated   chan int
}

func (h *testHandoff) Escalate(ctx context.Context, conv concierge.Conversation, esc concierge.Escalation) error {
	return h.st.Write(ctx, func(ctx context.Context, tx *store.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE conversations SET status = 'queued', team = ?, pending_escalation = NULL WHERE id = ?`, esc.Team, conv.ID)
		return err
	})
}

func (h *testHandoff) CustomerMessage(ctx context.Context, conv concierge.Conversation, msg concierge.Message) error {
	return nil
}

func (h *testHandoff) Rate(ctx context.Context, conv concierge.Conversation, msg concierge.Message, rating int, comment string) error {
	h.mu.Lock()
	h.ratings = append(h.ratings, rating)
	h.mu.Unlock()
	h.rated <- rating
	return h.st.Write(ctx, func(ctx context.Context, tx *store.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE conversations SET csat_pending = 0 WHERE id = ?`, conv.ID)
		return err
	})
}

type harness struct {
	t       *testing.T
	fake    *telegramtest.Server
	dbPath  string
	dataDir string
	cfg     Config
	logs    *syncBuffer

	st      *store.Store
	bus     *bus.Bus
	gw      *channels.Gateway
	bot     *testBot
	handoff *testHandoff
	blobs   *blob.Store
	a       *Adapter
	stopFn  func()
}

// syncBuffer collects log output (checked for the token) while also sending it to t.Log.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func newHarness(t *testing.T, mode func(*Config)) *harness {
	t.Helper()
	h := &harness{t: t, fake: telegramtest.New(t), dataDir: t.TempDir(), logs: &syncBuffer{}, bot: &testBot{}}
	h.dbPath = filepath.Join(h.dataDir, "concierge.db")
	h.cfg = Config{Name: "support", Token: telegramtest.Token, APIURL: h.fake.URL, PollTimeout: 5 * time.Second}
	if mode != nil {
		mode(&h.cfg)
	}
	h.start()
	t.Cleanup(h.stop)
	return h
}

// start opens the store and runs a gateway and the adapter, as serve does.
func (h *harness) start() {
	t := h.t
	t.Helper()
	log := zerolog.New(zerolog.MultiLevelWriter(zerolog.NewTestWriter(t), h.logs))
	var err error
	if h.st, err = store.Open(context.Background(), h.dbPath, log, store.Options{}); err != nil {
		t.Fatal(err)
	}
	if h.blobs, err = blob.New(filepath.Join(h.dataDir, "uploads"), 1<<20); err != nil {
		t.Fatal(err)
	}
	h.bus = bus.New()
	h.handoff = &testHandoff{st: h.st, rated: make(chan int, 10)}
	h.gw = channels.New(h.st, h.bus, nil, log, channels.Options{Workers: 4, OutboxScan: 20 * time.Millisecond, TypingDelay: -1})
	h.gw.SetResponder(h.bot)
	h.gw.SetHandoff(h.handoff)
	if h.a, err = New(context.Background(), h.cfg, h.gw, h.st, h.blobs, log); err != nil {
		t.Fatal(err)
	}
	if err := h.gw.Register(h.a); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); h.gw.Run(ctx) }()
	go func() { defer wg.Done(); h.a.Run(ctx) }()
	h.stopFn = func() {
		cancel()
		wg.Wait()
		h.st.Close()
	}
}

func (h *harness) stop() {
	if h.stopFn != nil {
		h.stopFn()
		h.stopFn = nil
	}
}

func (h *harness) restart() {
	h.stop()
	h.start()
}

// sent waits for the n-th sendMessage (1-based) and returns it.
func (h *harness) sent(n int) telegramtest.Call {
	h.t.Helper()
	return h.fake.WaitCalls(h.t, "sendMessage", n)[n-1]
}

// texts are the texts of all sendMessage calls so far.
func (h *harness) texts() []string {
	var out []string
	for _, c := range h.fake.Calls("sendMessage") {
		out = append(out, c.Params.Get("text"))
	}
	return out
}

// conversation returns the customer's newest conversation.
func (h *harness) conversation(chat string) concierge.Conversation {
	h.t.Helper()
	c, err := h.st.ContactByExternal(context.Background(), h.a.Name(), chat)
	if err != nil {
		h.t.Fatalf("contact %s: %v", chat, err)
	}
	conv, err := h.st.LatestConversation(context.Background(), c.ID)
	if err != nil {
		h.t.Fatal(err)
	}
	return conv
}

func (h *harness) userMessages(chat string) []concierge.Message {
	h.t.Helper()
	ms, err := h.st.UserMessages(context.Background(), h.conversation(chat).ID, 0, 100)
	if err != nil {
		h.t.Fatal(err)
	}
	return ms
}

// waitFor waits until cond holds, checking it after every gateway event and every call
// the fake Bot API receives.
func (h *harness) waitFor(what string, cond func() bool) {
	h.t.Helper()
	sub := h.bus.Subscribe(concierge.TopicAgents, 256)
	defer sub.Close()
	deadline := time.After(10 * time.Second)
	for {
		changed := h.fake.Changed()
		if cond() {
			return
		}
		select {
		case <-sub.C:
		case <-changed:
		case <-deadline:
			h.t.Fatalf("%s did not happen within 10s; Bot API calls: %d", what, len(h.fake.Calls("")))
		}
	}
}

func testLog(t *testing.T) zerolog.Logger { return zerolog.New(zerolog.NewTestWriter(t)) }

// newServer serves the adapter's webhook as serve mounts it and returns the base URL.
func newServer(t *testing.T, a *Adapter) string {
	mux := http.NewServeMux()
	mux.Handle("POST "+a.WebhookPath(), a.WebhookHandler())
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv.URL
}

// waitDelivered waits until nothing is left in the outbox of the chat's conversation.
func (h *harness) waitDelivered(chat string) {
	h.t.Helper()
	conv := h.conversation(chat)
	h.waitFor("every message to "+chat+" delivered", func() bool {
		ms, _ := h.st.Messages(context.Background(), conv.ID, 0, 1000, false)
		for _, m := range ms {
			if m.Sender == concierge.SenderUser {
				continue
			}
			if state, _, _ := h.st.OutboxState(context.Background(), m.ID); state == "pending" {
				return false
			}
		}
		return true
	})
}
