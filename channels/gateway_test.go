package channels

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/conciergehq/concierge"
	"github.com/conciergehq/concierge/internal/bus"
	"github.com/conciergehq/concierge/internal/store"
)

// echoBot answers every message with "echo: <text>", escalates on "human" and records
// what it saw, in order, per conversation.
type echoBot struct {
	mu   sync.Mutex
	seen map[int64][]string
	// gate, when set, holds each answer until it is closed.
	gate chan struct{}
}

func (b *echoBot) Respond(ctx context.Context, t Turn) (concierge.Reply, error) {
	b.mu.Lock()
	if b.seen == nil {
		b.seen = map[int64][]string{}
	}
	b.seen[t.Conversation.ID] = append(b.seen[t.Conversation.ID], t.Message.Text)
	gate := b.gate
	b.mu.Unlock()
	if gate != nil {
		<-gate
	}
	r := concierge.Reply{
		Messages: []concierge.Outgoing{{Sender: concierge.SenderBot, Text: "echo: " + t.Message.Text}},
		Decision: concierge.Decision{Action: "answer", Query: t.Message.Text},
	}
	if t.Message.Text == "human" {
		r.Escalation = &concierge.Escalation{Reason: "asked_for_human", Team: "general"}
		r.Decision.Action = "escalate"
	}
	return r, nil
}

// queueHandoff moves escalated conversations to queued and records what reaches people.
type queueHandoff struct {
	st       *store.Store
	mu       sync.Mutex
	messages []string
	ratings  []int
}

func (h *queueHandoff) Escalate(ctx context.Context, conv concierge.Conversation, esc concierge.Escalation) error {
	return h.st.Write(ctx, func(ctx context.Context, tx *store.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE conversations SET status = 'queued', team = ?, pending_escalation = NULL WHERE id = ?`, esc.Team, conv.ID)
		return err
	})
}

func (h *queueHandoff) CustomerMessage(ctx context.Context, conv concierge.Conversation, msg concierge.Message) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.messages = append(h.messages, msg.Text)
	return nil
}

func (h *queueHandoff) Rate(ctx context.Context, conv concierge.Conversation, msg concierge.Message, rating int, comment string) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.ratings = append(h.ratings, rating)
	return h.st.Write(ctx, func(ctx context.Context, tx *store.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE conversations SET csat_pending = 0 WHERE id = ?`, conv.ID)
		return err
	})
}

// recordingAdapter delivers by remembering; failNext makes the next deliveries fail.
type recordingAdapter struct {
	name string
	mu   sync.Mutex
	sent []string
	fail []error
	got  chan string
}

func (a *recordingAdapter) Name() string { return a.name }

func (a *recordingAdapter) Deliver(ctx context.Context, d Delivery) (string, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.fail) > 0 {
		err := a.fail[0]
		a.fail = a.fail[1:]
		return "", err
	}
	a.sent = append(a.sent, d.Message.Text)
	if a.got != nil {
		a.got <- d.Message.Text
	}
	return fmt.Sprintf("ext-%d", d.Message.ID), nil
}

// countingStore is the real store, counting the reads of unrouted messages.
type countingStore struct {
	*store.Store
	unroutedReads atomic.Int64
}

func (s *countingStore) UserMessages(ctx context.Context, convID, afterSeq int64, limit int) ([]concierge.Message, error) {
	s.unroutedReads.Add(1)
	return s.Store.UserMessages(ctx, convID, afterSeq, limit)
}

type harness struct {
	t       *testing.T
	path    string
	st      *store.Store
	counted *countingStore
	bus     *bus.Bus
	gw      *Gateway
	bot     *echoBot
	handoff *queueHandoff
	adapter *recordingAdapter
	cancel  context.CancelFunc
	done    chan struct{}
}

func newHarness(t *testing.T, path string) *harness {
	t.Helper()
	if path == "" {
		path = filepath.Join(t.TempDir(), "gw.db")
	}
	log := zerolog.New(zerolog.NewTestWriter(t))
	st, err := store.Open(context.Background(), path, log, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, path: path, st: st, bus: bus.New(), bot: &echoBot{},
		adapter: &recordingAdapter{name: "chat", got: make(chan string, 100)}}
	h.handoff = &queueHandoff{st: st}
	h.counted = &countingStore{Store: st}
	h.gw = New(h.counted, h.bus, nil, log, Options{Workers: 4, OutboxScan: 20 * time.Millisecond})
	h.gw.SetResponder(h.bot)
	h.gw.SetHandoff(h.handoff)
	if err := h.gw.Register(h.adapter); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel, h.done = cancel, make(chan struct{})
	go func() { h.gw.Run(ctx); close(h.done) }()
	t.Cleanup(h.stop)
	return h
}

func (h *harness) stop() {
	if h.cancel == nil {
		return
	}
	h.cancel()
	<-h.done
	h.cancel = nil
	h.st.Close()
}

func (h *harness) receive(contact, text string) store.Received {
	h.t.Helper()
	rec, err := h.gw.Receive(context.Background(), concierge.Inbound{Channel: "chat", ContactID: contact, Text: text})
	if err != nil {
		h.t.Fatal(err)
	}
	return rec
}

func (h *harness) waitDelivered(want ...string) {
	h.t.Helper()
	for _, w := range want {
		select {
		case got := <-h.adapter.got:
			if got != w {
				h.t.Fatalf("delivered %q, want %q next", got, w)
			}
		case <-time.After(10 * time.Second):
			h.t.Fatalf("timed out waiting for delivery of %q", w)
		}
	}
}

func (h *harness) waitStatus(convID int64, want concierge.Status) concierge.Conversation {
	h.t.Helper()
	sub := h.bus.Subscribe(concierge.ConversationTopic(convID), 64)
	defer sub.Close()
	deadline := time.After(10 * time.Second)
	for {
		c, err := h.st.Conversation(context.Background(), convID)
		if err == nil && c.Status == want {
			return c
		}
		select {
		case <-sub.C:
		case <-deadline:
			h.t.Fatalf("conversation %d is %q, want %q", convID, c.Status, want)
		}
	}
}

func TestBotConversationsAreAnsweredInOrderAndDelivered(t *testing.T) {
	h := newHarness(t, "")
	var conv, lastUser int64
	for i := 0; i < 5; i++ {
		rec := h.receive("alice", fmt.Sprintf("q%d", i))
		conv, lastUser = rec.Conversation.ID, rec.Message.Seq
	}
	h.waitDelivered("echo: q0", "echo: q1", "echo: q2", "echo: q3", "echo: q4")
	h.bot.mu.Lock()
	seen := h.bot.seen[conv]
	h.bot.mu.Unlock()
	if fmt.Sprint(seen) != "[q0 q1 q2 q3 q4]" {
		t.Fatalf("bot saw %v, want the messages in order once each", seen)
	}
	c, _ := h.st.Conversation(context.Background(), conv)
	if c.HandledSeq != lastUser || c.LastSeq != 10 {
		t.Fatalf("handled %d last %d, want %d (the last question) and 10", c.HandledSeq, c.LastSeq, lastUser)
	}
}

// A customer who waits for each answer has one unrouted message at a time: routing takes
// it from Receive instead of reading it back. Messages that pile up while the bot works
// (an edit among them) are read from the store and routed in order, leaving nothing.
func TestRoutingTakesTheJustStoredMessageWhenNothingElseWaits(t *testing.T) {
	h := newHarness(t, "")
	// The first message may meet the start-up scan for messages a previous run left.
	conv := h.receive("alice", "q0").Conversation.ID
	h.waitDelivered("echo: q0")
	h.counted.unroutedReads.Store(0)
	for i := 1; i < 4; i++ {
		h.receive("alice", fmt.Sprintf("q%d", i))
		h.waitDelivered(fmt.Sprintf("echo: q%d", i))
	}
	if n := h.counted.unroutedReads.Load(); n != 0 {
		t.Errorf("three answered one by one read unrouted messages %d times, want 0", n)
	}
	gate := make(chan struct{})
	h.bot.mu.Lock()
	h.bot.gate = gate
	h.bot.mu.Unlock()
	h.receive("alice", "q4")
	waitUntil(t, "the bot to take q4", func() bool {
		h.bot.mu.Lock()
		defer h.bot.mu.Unlock()
		return len(h.bot.seen[conv]) == 5
	})
	ctx := context.Background()
	if _, err := h.gw.Receive(ctx, concierge.Inbound{Channel: "chat", ContactID: "alice", MessageID: "e1",
		Text: "q3, edited", Edited: true}); err != nil {
		t.Fatal(err)
	}
	h.receive("alice", "q5")
	h.receive("alice", "q6")
	close(gate)
	h.waitDelivered("echo: q4", "echo: q5", "echo: q6")
	h.bot.mu.Lock()
	seen := fmt.Sprint(h.bot.seen[conv])
	h.bot.mu.Unlock()
	if seen != "[q0 q1 q2 q3 q4 q5 q6]" {
		t.Errorf("bot saw %s", seen)
	}
	if h.counted.unroutedReads.Load() == 0 {
		t.Error("three messages that arrived together were routed without reading the store")
	}
	waitUntil(t, "everything routed", func() bool {
		c, err := h.st.Conversation(ctx, conv)
		ids, _ := h.st.Unrouted(ctx)
		return err == nil && c.HandledSeq == c.LastUserSeq && len(ids) == 0
	})
	ms, err := h.st.UserMessages(ctx, conv, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := h.st.Conversation(ctx, conv)
	if last := ms[len(ms)-1]; last.Text != "q6" || c.HandledSeq != last.Seq {
		t.Errorf("handled up to %d, the customer's last message is %q at %d", c.HandledSeq, last.Text, last.Seq)
	}
	if _, kept := h.gw.latest.Load(conv); kept {
		t.Error("the gateway still keeps a routed message of the conversation")
	}
}

func TestRoutingFollowsTheConversationStatus(t *testing.T) {
	h := newHarness(t, "")
	rec := h.receive("bob", "human")
	h.waitDelivered("echo: human")
	h.waitStatus(rec.Conversation.ID, concierge.StatusQueued)

	h.receive("bob", "are you there?")
	waitUntil(t, "the queued conversation's message reaches the handoff", func() bool {
		h.handoff.mu.Lock()
		defer h.handoff.mu.Unlock()
		return len(h.handoff.messages) == 1
	})
	h.bot.mu.Lock()
	botSaw := len(h.bot.seen[rec.Conversation.ID])
	h.bot.mu.Unlock()
	if botSaw != 1 {
		t.Fatalf("bot saw %d messages, want only the one before escalation", botSaw)
	}

	// Closed with a survey: the rating goes to the old conversation, the next question starts a new one.
	h.st.Write(context.Background(), func(ctx context.Context, tx *store.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE conversations SET status = 'closed', csat_pending = 1 WHERE id = ?`, rec.Conversation.ID)
		return err
	})
	r := h.receive("bob", "4")
	if r.Conversation.ID != rec.Conversation.ID {
		t.Fatalf("rating landed in conversation %d, want %d", r.Conversation.ID, rec.Conversation.ID)
	}
	next := h.receive("bob", "new question")
	if next.Conversation.ID == rec.Conversation.ID || !next.Started {
		t.Fatal("a question after closing did not open a new conversation")
	}
	h.waitDelivered("echo: new question")
	waitUntil(t, "the rating reaches the handoff", func() bool {
		h.handoff.mu.Lock()
		defer h.handoff.mu.Unlock()
		return fmt.Sprint(h.handoff.ratings) == "[4]"
	})
}

// waitUntil polls cond until it holds, failing the test after 10 seconds. For outcomes
// that publish no event.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(10 * time.Second)
	for !cond() {
		select {
		case <-tick.C:
		case <-deadline:
			t.Fatalf("timed out waiting until %s", what)
		}
	}
}

func TestOutboxMessageIsSentAfterARestartBetweenCommitAndSend(t *testing.T) {
	path := filepath.Join(t.TempDir(), "restart.db")
	// First life: the message is committed, but the process stops before sending it.
	log := zerolog.New(zerolog.NewTestWriter(t))
	st, err := store.Open(context.Background(), path, log, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	rec, err := st.Receive(context.Background(), concierge.Inbound{Channel: "chat", ContactID: "carol", Text: "hi"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Append(context.Background(), rec.Conversation.ID,
		concierge.Outgoing{Sender: concierge.SenderAgent, SenderName: "Ann", Text: "sent before the crash?"}, true); err != nil {
		t.Fatal(err)
	}
	st.Close()

	// Second life: the gateway finds the undelivered row and the unrouted user message.
	h := newHarness(t, path)
	got := map[string]bool{}
	for i := 0; i < 2; i++ {
		select {
		case m := <-h.adapter.got:
			got[m] = true
		case <-time.After(10 * time.Second):
			t.Fatalf("after restart delivered only %v", got)
		}
	}
	if !got["sent before the crash?"] || !got["echo: hi"] {
		t.Fatalf("after restart delivered %v, want the pending agent message and the bot's answer to the unrouted message", got)
	}
	select {
	case m := <-h.adapter.got:
		t.Fatalf("delivered %q a second time", m)
	case <-time.After(200 * time.Millisecond):
	}
}

func TestDeliveryRetriesTransientFailuresAndGivesUpOnUnreachable(t *testing.T) {
	h := newHarness(t, "")
	h.adapter.mu.Lock()
	h.adapter.fail = []error{errors.New("connection reset"), &RetryAfter{Delay: 10 * time.Millisecond, Err: errors.New("429")}}
	h.adapter.mu.Unlock()
	rec := h.receive("dan", "hello")
	// backoff after the first failure is 2s; the RetryAfter one is short.
	h.waitDelivered("echo: hello")

	h.adapter.mu.Lock()
	h.adapter.fail = []error{fmt.Errorf("bot was blocked by the user: %w", concierge.ErrUnreachable)}
	h.adapter.mu.Unlock()
	sub := h.bus.Subscribe(concierge.TopicAgents, 64)
	defer sub.Close()
	m, err := h.gw.Send(context.Background(), rec.Conversation.ID, concierge.Outgoing{Sender: concierge.SenderAgent, Text: "still there?"})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.After(10 * time.Second)
	for {
		select {
		case ev := <-sub.C:
			if ev.Kind == concierge.EventDelivery && ev.Delivery.MessageID == m.ID {
				if ev.Delivery.State != "failed" {
					t.Fatalf("delivery state %q, want failed", ev.Delivery.State)
				}
				c, _ := h.st.Contact(context.Background(), rec.Contact.ID)
				if !c.Unreachable {
					t.Fatal("contact not marked unreachable after the channel refused for good")
				}
				return
			}
		case <-deadline:
			t.Fatal("no failed-delivery event for the agent")
		}
	}
}

// typingAdapter records typing starts and stops around deliveries.
type typingAdapter struct {
	recordingAdapter
	events chan string
}

func (a *typingAdapter) Typing(ctx context.Context, conv concierge.Conversation, contact concierge.Contact) error {
	a.events <- "on"
	return nil
}

func (a *typingAdapter) StopTyping(ctx context.Context, conv concierge.Conversation, contact concierge.Contact) {
	a.events <- "off"
}

func TestTypingIsStoppedWhenTheBotHasAnswered(t *testing.T) {
	log := zerolog.New(zerolog.NewTestWriter(t))
	st, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "gw.db"), log, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	gw := New(st, bus.New(), nil, log, Options{Workers: 1, TypingDelay: -1, OutboxScan: 20 * time.Millisecond})
	gw.SetResponder(&echoBot{})
	a := &typingAdapter{recordingAdapter: recordingAdapter{name: "chat", got: make(chan string, 10)}, events: make(chan string, 10)}
	if err := gw.Register(a); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { gw.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	if _, err := gw.Receive(ctx, concierge.Inbound{Channel: "chat", ContactID: "c", Text: "hi"}); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"on", "off"} {
		select {
		case got := <-a.events:
			if got != want {
				t.Fatalf("typing event %q, want %q", got, want)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("no typing %q within 10s", want)
		}
	}
}
