package bot

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/conciergehq/concierge"
	"github.com/conciergehq/concierge/channels"
	"github.com/conciergehq/concierge/internal/bus"
	"github.com/conciergehq/concierge/internal/metrics"
	"github.com/conciergehq/concierge/internal/store"
	"github.com/conciergehq/concierge/kb"
)

// captureAdapter is a channel that hands every delivery to the test.
type captureAdapter struct{ out chan concierge.Message }

func (a *captureAdapter) Name() string { return "test" }
func (a *captureAdapter) Deliver(ctx context.Context, d channels.Delivery) (string, error) {
	a.out <- d.Message
	return "", nil
}

func (a *captureAdapter) next(t *testing.T) concierge.Message {
	t.Helper()
	select {
	case m := <-a.out:
		return m
	case <-time.After(10 * time.Second):
		t.Fatal("no message delivered within 10s")
	}
	return concierge.Message{}
}

// The bot behind the real gateway and store: replies are stored and delivered in order,
// the decision is recorded (gaps reach the KB editor), "yes" closes the conversation,
// and an escalation is left pending for the handoff with everything it needs.
func TestBotThroughTheGateway(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	st, err := store.Open(ctx, filepath.Join(t.TempDir(), "concierge.db"), testLogger(t), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	base := kb.OpenDatabaseOnly(st, nil, testLogger(t))
	files, err := kb.ReadDir(os.DirFS(filepath.Join(dialogueDir, "kb")), ".")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := base.Import(ctx, files, "test"); err != nil {
		t.Fatal(err)
	}
	b, err := New(&realKB{base: base, fb: &feedbackLog{}}, kbRenderer{}, dialogueOptions(), testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	gw := channels.New(st, bus.New(), metrics.New(), testLogger(t), channels.Options{})
	ad := &captureAdapter{out: make(chan concierge.Message, 16)}
	if err := gw.Register(ad); err != nil {
		t.Fatal(err)
	}
	gw.SetResponder(b)
	done := make(chan error, 1)
	go func() { done <- gw.Run(ctx) }()
	defer func() { cancel(); <-done }()

	rec, err := gw.Receive(ctx, concierge.Inbound{Channel: "test", ContactID: "ana", MessageID: "m1", Text: "I forgot my password"})
	if err != nil {
		t.Fatal(err)
	}
	answer, ask := ad.next(t), ad.next(t)
	if answer.Sender != concierge.SenderBot || !strings.Contains(answer.Text, "Forgot password") ||
		!strings.Contains(answer.HTML, `href="https://help.example.com/help/reset-password"`) || !strings.Contains(answer.HTML, "<strong>Forgot password</strong>") {
		t.Fatalf("answer = %+v", answer)
	}
	if len(ask.QuickReplies) != 2 || ask.QuickReplies[0].Payload != "helpful:yes" {
		t.Fatalf("did-it-help = %+v", ask)
	}
	if _, err := gw.Receive(ctx, concierge.Inbound{Channel: "test", ContactID: "ana", MessageID: "m2", Payload: "helpful:yes", Text: "Yes"}); err != nil {
		t.Fatal(err)
	}
	if m := ad.next(t); !strings.Contains(m.Text, "glad") {
		t.Fatalf("resolution message = %q", m.Text)
	}
	conv, err := st.Conversation(ctx, rec.Conversation.ID)
	if err != nil || conv.Status != concierge.StatusClosed || conv.Language != "en" {
		t.Fatalf("after yes: conversation %+v, %v; want closed, language en", conv, err)
	}
	if a, err := base.Get(ctx, "reset-password"); err != nil || a.Stats.Helpful != 1 {
		t.Fatalf("helpful vote not counted: %+v %v", a.Stats, err)
	}

	rec, err = gw.Receive(ctx, concierge.Inbound{Channel: "test", ContactID: "li", MessageID: "m3", Text: "你们的门店几点关门"})
	if err != nil {
		t.Fatal(err)
	}
	if m := ad.next(t); !strings.Contains(m.Text, "人工客服") {
		t.Fatalf("escalation message = %q, want it in Chinese", m.Text)
	}
	conv, err = st.Conversation(ctx, rec.Conversation.ID)
	if err != nil || conv.PendingEscalation == nil || conv.PendingEscalation.Reason != reasonLow || conv.PendingEscalation.Language != "zh" ||
		len(conv.PendingEscalation.Candidates) == 0 {
		t.Fatalf("conversation %+v (pending %+v), %v: want a pending low-confidence escalation in zh", conv, conv.PendingEscalation, err)
	}
	gaps, err := st.GapQuestions(ctx, time.Now().Add(-time.Hour), 10)
	if err != nil || len(gaps) != 1 || gaps[0].Query != "你们的门店几点关门" || gaps[0].Language != "zh" {
		t.Fatalf("content gaps = %+v, %v", gaps, err)
	}
}
