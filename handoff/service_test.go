package handoff_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"golang.org/x/crypto/bcrypt"

	"github.com/conciergehq/concierge"
	"github.com/conciergehq/concierge/channels"
	"github.com/conciergehq/concierge/handoff"
	"github.com/conciergehq/concierge/internal/auth"
	"github.com/conciergehq/concierge/internal/bus"
	"github.com/conciergehq/concierge/internal/config"
	"github.com/conciergehq/concierge/internal/store"
)

// past is a start time for the fake clock: the store's clock stamps outbox rows and the
// gateway delivers those due by the real clock, so fake time must not run ahead of it.
func past() time.Time { return time.Now().Add(-24 * time.Hour) }

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}
func (c *clock) Add(d time.Duration) { c.Set(c.Now().Add(d)) }

// delivered is one message the customer's channel received.
type delivered struct {
	contact string
	msg     concierge.Message
}

// chatAdapter is a channel that records what customers are sent.
type chatAdapter struct {
	mu     sync.Mutex
	out    chan delivered
	typing chan string
}

func (a *chatAdapter) Name() string { return "chat" }
func (a *chatAdapter) Deliver(ctx context.Context, d channels.Delivery) (string, error) {
	a.out <- delivered{contact: d.Contact.ExternalID, msg: d.Message}
	return fmt.Sprintf("x%d", d.Message.ID), nil
}
func (a *chatAdapter) Typing(ctx context.Context, conv concierge.Conversation, c concierge.Contact) error {
	select {
	case a.typing <- c.ExternalID:
	default:
	}
	return nil
}

// humanBot answers everything and escalates on "human"; a "tier" detail names the team.
type humanBot struct{}

func (humanBot) Respond(ctx context.Context, t channels.Turn) (concierge.Reply, error) {
	if strings.Contains(strings.ToLower(t.Message.Text), "human") {
		team := ""
		if _, rest, ok := strings.Cut(t.Message.Text, "team:"); ok {
			team = strings.Fields(rest)[0]
		}
		return concierge.Reply{
			Messages:   []concierge.Outgoing{{Sender: concierge.SenderBot, Text: "Let me get a person."}},
			Details:    map[string]string{"order_number": "ORD-1"},
			Escalation: &concierge.Escalation{Reason: "asked_for_human", Team: team, Sentiment: "negative", Note: "wants a person"},
			Decision:   concierge.Decision{Action: "escalate"},
		}, nil
	}
	return concierge.Reply{Messages: []concierge.Outgoing{{Sender: concierge.SenderBot, Text: "bot: " + t.Message.Text}},
		Decision: concierge.Decision{Action: "answer"}}, nil
}

type harness struct {
	t       *testing.T
	ctx     context.Context
	st      *store.Store
	gw      *channels.Gateway
	svc     *handoff.Service
	auth    *auth.Service
	bus     *bus.Bus
	adapter *chatAdapter
	clock   *clock
	stop    func()
}

func newHarness(t *testing.T, start time.Time, tweak func(*config.Handoff)) *harness {
	return newHarnessAt(t, filepath.Join(t.TempDir(), "h.db"), start, tweak)
}

func newHarnessAt(t *testing.T, path string, start time.Time, tweak func(*config.Handoff)) *harness {
	t.Helper()
	log := zerolog.New(zerolog.NewTestWriter(t))
	c := &clock{t: start}
	st, err := store.Open(context.Background(), path, log, store.Options{Now: c.Now})
	if err != nil {
		t.Fatal(err)
	}
	cfg := config.Default().Handoff
	if tweak != nil {
		tweak(&cfg)
	}
	if err := (&config.Config{Server: config.Default().Server, Log: config.Default().Log, Store: config.Default().Store,
		Widget: config.Default().Widget, Handoff: cfg}).Validate(); err != nil {
		t.Fatal(err)
	}
	b := bus.New()
	gw := channels.New(st, b, nil, log, channels.Options{Workers: 4, OutboxScan: 10 * time.Millisecond, TypingDelay: time.Hour})
	ad := &chatAdapter{out: make(chan delivered, 1000), typing: make(chan string, 100)}
	if err := gw.Register(ad); err != nil {
		t.Fatal(err)
	}
	svc, err := handoff.New(st, gw, b, cfg, handoff.Options{Now: c.Now}, log)
	if err != nil {
		t.Fatal(err)
	}
	gw.SetResponder(humanBot{})
	gw.SetHandoff(svc)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { gw.Run(ctx); close(done) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			<-done
			st.Close()
		})
	}
	t.Cleanup(stop)
	return &harness{t: t, ctx: context.Background(), st: st, gw: gw, svc: svc, bus: b, adapter: ad, clock: c, stop: stop,
		auth: auth.New(st, auth.Options{BcryptCost: bcrypt.MinCost, Now: c.Now}, log)}
}

func (h *harness) agent(name string, teams []string, roles ...string) auth.Account {
	h.t.Helper()
	if len(roles) == 0 {
		roles = []string{"agent"}
	}
	a, err := h.auth.Create(h.ctx, auth.Account{Email: strings.ToLower(name) + "@example.com", Name: name, Roles: roles, Teams: teams},
		"password for tests")
	if err != nil {
		h.t.Fatal(err)
	}
	return a
}

// say sends a customer message and returns the conversation id.
func (h *harness) say(contact, text string) int64 {
	return h.sayAs(contact, text, nil)
}

func (h *harness) sayAs(contact, text string, attrs map[string]string) int64 {
	h.t.Helper()
	rec, err := h.gw.Receive(h.ctx, concierge.Inbound{Channel: "chat", ContactID: contact, Text: text,
		Profile: concierge.Profile{Name: contact, Verified: attrs != nil, Attributes: attrs}})
	if err != nil {
		h.t.Fatal(err)
	}
	return rec.Conversation.ID
}

// expect waits for the customer to be sent a message containing want.
func (h *harness) expect(contact, want string) concierge.Message {
	h.t.Helper()
	deadline := time.After(10 * time.Second)
	var seen []string
	for {
		select {
		case d := <-h.adapter.out:
			if d.contact == contact {
				seen = append(seen, d.msg.Text)
				if strings.Contains(d.msg.Text, want) {
					return d.msg
				}
			}
		case <-deadline:
			h.t.Fatalf("%s was never sent %q; got %q", contact, want, seen)
		}
	}
}

// waitStatus waits until the conversation has the status (routing is asynchronous).
func (h *harness) waitStatus(id int64, want concierge.Status) concierge.Conversation {
	h.t.Helper()
	sub := h.bus.Subscribe(concierge.ConversationTopic(id), 100)
	defer sub.Close()
	deadline := time.After(10 * time.Second)
	for {
		c, err := h.st.Conversation(h.ctx, id)
		if err != nil {
			h.t.Fatal(err)
		}
		if c.Status == want {
			return c
		}
		select {
		case <-sub.C:
		case <-deadline:
			h.t.Fatalf("conversation %d is %s, want %s", id, c.Status, want)
		}
	}
}

func TestEscalationAutoAssignsLeastBusyRoundRobinAndQueuesTheRest(t *testing.T) {
	h := newHarness(t, past(), func(c *config.Handoff) { c.MaxConcurrent = 1 })
	ana := h.agent("Ana", []string{"general"})
	bo := h.agent("Bo", []string{"general"})
	h.svc.Connected(h.ctx, ana)
	h.svc.Connected(h.ctx, bo)

	c1 := h.say("c1", "I want to talk to a human")
	h.expect("c1", "Let me get a person")
	first := h.waitStatus(c1, concierge.StatusAssigned)
	h.expect("c1", "joined the conversation")
	c2 := h.say("c2", "human please")
	second := h.waitStatus(c2, concierge.StatusAssigned)
	if first.AssigneeID == second.AssigneeID {
		t.Fatalf("both conversations went to agent %d; the idle one should get the second", first.AssigneeID)
	}
	c3 := h.say("c3", "a human!")
	h.waitStatus(c3, concierge.StatusQueued)
	if m := h.expect("c3", "number 1"); m.Sender != concierge.SenderSystem {
		t.Fatalf("queue notice sent as %s", m.Sender)
	}
	tk, err := h.st.Ticket(h.ctx, c3)
	if err != nil || tk.Team != "general" || tk.Reason != "asked_for_human" || tk.Tier != "basic" {
		t.Fatalf("ticket %+v (%v)", tk, err)
	}
	conv, _ := h.st.Conversation(h.ctx, c3)
	if conv.PendingEscalation != nil || conv.Detail("order_number") != "ORD-1" {
		t.Fatalf("pending escalation %v, details %v: want it cleared and the details kept", conv.PendingEscalation, conv.Details)
	}

	// The first agent closes: capacity frees up and the waiting customer gets them.
	owner := ana
	if first.AssigneeID == bo.ID {
		owner = bo
	}
	if _, err := h.svc.Close(h.ctx, owner, c1, handoff.Resolved, []string{"Refund", "refund", " "}); err != nil {
		t.Fatal(err)
	}
	h.expect("c1", "has been closed")
	survey := h.expect("c1", "rate")
	if len(survey.QuickReplies) != 5 || survey.QuickReplies[4].Payload != "csat:5" {
		t.Fatalf("survey buttons %+v", survey.QuickReplies)
	}
	if got := h.waitStatus(c3, concierge.StatusAssigned); got.AssigneeID != owner.ID {
		t.Fatalf("waiting conversation went to %d, want %d (the agent who became free)", got.AssigneeID, owner.ID)
	}
	closed, _ := h.st.Ticket(h.ctx, c1)
	if closed.Resolution != handoff.Resolved || len(closed.Tags) != 1 || closed.Tags[0] != "refund" {
		t.Fatalf("closed ticket %+v", closed)
	}

	// The customer rates with text on a channel without buttons.
	h.say("c1", "5 great help")
	h.expect("c1", "Thank you for your feedback")
	rated, _ := h.st.Ticket(h.ctx, c1)
	if rated.Rating != 5 || rated.RatingComment != "great help" {
		t.Fatalf("rating %d %q, want 5 \"great help\"", rated.Rating, rated.RatingComment)
	}
	if c, _ := h.st.Conversation(h.ctx, c1); c.CSATPending {
		t.Fatal("survey still pending after the rating")
	}
}

func TestConcurrentClaimsHaveExactlyOneWinner(t *testing.T) {
	h := newHarness(t, past(), func(c *config.Handoff) {
		c.Teams = []config.Team{{Name: "general", Assignment: "pooled"}}
	})
	var agents []auth.Account
	for i := 0; i < 12; i++ {
		agents = append(agents, h.agent(fmt.Sprintf("Agent%02d", i), []string{"general"}))
	}
	for round := 0; round < 5; round++ {
		id := h.say(fmt.Sprintf("cust%d", round), "human")
		h.waitStatus(id, concierge.StatusQueued)
		var wg sync.WaitGroup
		var mu sync.Mutex
		wins, conflicts := 0, 0
		var msgs []string
		start := make(chan struct{})
		for _, a := range agents {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				_, err := h.svc.Claim(h.ctx, a, id)
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err == nil:
					wins++
				case errors.Is(err, concierge.ErrConflict):
					conflicts++
					msgs = append(msgs, err.Error())
				default:
					t.Errorf("claim: unexpected error %v", err)
				}
			}()
		}
		close(start)
		wg.Wait()
		if wins != 1 || conflicts != len(agents)-1 {
			t.Fatalf("round %d: %d winners and %d conflicts, want 1 and %d", round, wins, conflicts, len(agents)-1)
		}
		conv, _ := h.st.Conversation(h.ctx, id)
		winner, _ := h.st.Account(h.ctx, conv.AssigneeID)
		if !strings.Contains(msgs[0], winner.Name+" has already taken") {
			t.Fatalf("loser was told %q, want it to name %s", msgs[0], winner.Name)
		}
	}
}

func TestOfflineTicketSLAAndBusinessHours(t *testing.T) {
	loc, _ := time.LoadLocation("Europe/Berlin")
	saturday := time.Date(2025, 11, 29, 11, 0, 0, 0, loc)
	h := newHarness(t, saturday, func(c *config.Handoff) {
		c.Teams = []config.Team{{Name: "general", Hours: config.Hours{Timezone: "Europe/Berlin",
			Weekly: map[string]string{"mon": "09:00-17:00", "tue": "09:00-17:00", "wed": "09:00-17:00", "thu": "09:00-17:00", "fri": "09:00-17:00"}}}}
	})
	ana := h.agent("Ana", []string{"general"})
	id := h.say("weekend", "I need a human")
	h.waitStatus(id, concierge.StatusQueued)
	h.expect("weekend", "back Monday 09:00 (Europe/Berlin)")
	h.say("weekend", "sure, it's me@example.org thanks")
	h.expect("weekend", "me@example.org")
	tk, _ := h.st.Ticket(h.ctx, id)
	if !tk.Offline || tk.ContactEmail != "me@example.org" {
		t.Fatalf("offline ticket %+v: want offline with the email", tk)
	}
	if want := time.Date(2025, 12, 1, 9, 30, 0, 0, loc); !tk.FirstResponseDue.Equal(want) {
		t.Fatalf("first response due %s, want %s (30 business minutes from Monday 09:00)", tk.FirstResponseDue.In(loc), want)
	}
	items, _ := h.svc.Queue(h.ctx, nil)
	if len(items) != 1 || !items[0].SLA.Paused || items[0].SLA.RemainingMS != (30*time.Minute).Milliseconds() {
		t.Fatalf("weekend SLA %+v: want paused with all 30 minutes left", items[0].SLA)
	}
	// Monday 09:20: running, ten minutes left, no breach.
	h.clock.Set(time.Date(2025, 12, 1, 9, 20, 0, 0, loc))
	h.svc.Sweep(h.ctx)
	items, _ = h.svc.Queue(h.ctx, nil)
	if it := items[0]; it.SLA.Paused || it.SLA.Breached || it.SLA.RemainingMS != (10*time.Minute).Milliseconds() {
		t.Fatalf("Monday 09:20 SLA %+v", it.SLA)
	}
	// 09:31: breached and recorded.
	h.clock.Set(time.Date(2025, 12, 1, 9, 31, 0, 0, loc))
	h.svc.Sweep(h.ctx)
	tk, _ = h.st.Ticket(h.ctx, id)
	if tk.FirstResponseBreachedAt == nil {
		t.Fatal("first-response breach not recorded at 09:31")
	}
	// An agent comes online: the ticket is assigned, and replying records the response.
	h.svc.Connected(h.ctx, ana)
	h.waitStatus(id, concierge.StatusAssigned)
	if _, err := h.svc.Reply(h.ctx, ana, id, "Hello, sorry for the wait", false); err != nil {
		t.Fatal(err)
	}
	h.expect("weekend", "sorry for the wait")
	tk, _ = h.st.Ticket(h.ctx, id)
	if tk.FirstResponseAt == nil {
		t.Fatal("first response not recorded")
	}
}

func TestPriorityPutsHigherTiersFirst(t *testing.T) {
	h := newHarness(t, past(), func(c *config.Handoff) {
		c.Teams = []config.Team{{Name: "general", Assignment: "pooled"}}
	})
	basic := h.say("basic", "human")
	h.waitStatus(basic, concierge.StatusQueued)
	h.clock.Add(5 * time.Minute)
	vip := h.sayAs("vip", "human", map[string]string{"tier": "VIP"})
	h.waitStatus(vip, concierge.StatusQueued)
	items, err := h.svc.Queue(h.ctx, []string{"general"})
	if err != nil || len(items) != 2 {
		t.Fatalf("queue %v %v", items, err)
	}
	if items[0].Conversation.ID != vip || items[0].Position != 1 || items[0].Ticket.Tier != "vip" {
		t.Fatalf("queue order %d (%s), %d: want the VIP (2-minute target) before the basic customer waiting 5 of 30 minutes",
			items[0].Conversation.ID, items[0].Ticket.Tier, items[1].Conversation.ID)
	}
	// After 29 minutes the basic customer's deadline is the nearer one.
	h.clock.Add(29 * time.Minute)
	late := h.sayAs("vip2", "human", map[string]string{"tier": "vip"})
	h.waitStatus(late, concierge.StatusQueued)
	items, _ = h.svc.Queue(h.ctx, nil)
	if items[1].Conversation.ID != basic || items[2].Conversation.ID != late {
		t.Fatalf("after 34 minutes the order is %d, %d, %d; want the basic customer before the new VIP",
			items[0].Conversation.ID, items[1].Conversation.ID, items[2].Conversation.ID)
	}
	// The counted position (what a newly queued customer is told) agrees with the list.
	for _, it := range items {
		if pos, err := h.st.QueuePosition(h.ctx, it.Conversation.ID); err != nil || pos != it.Position {
			t.Errorf("QueuePosition(%d) = %d, %v; the queue lists it at %d", it.Conversation.ID, pos, err, it.Position)
		}
	}
	var told string
	for deadline := time.Now().Add(5 * time.Second); !strings.Contains(told, "3") && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
		msgs, err := h.st.Messages(h.ctx, late, 0, 100, false)
		if err != nil {
			t.Fatal(err)
		}
		told = ""
		for _, m := range msgs {
			if m.Sender == concierge.SenderSystem {
				told += m.Text + "\n"
			}
		}
	}
	if !strings.Contains(told, "3") {
		t.Errorf("the customer queued third was told %q", told)
	}
	if _, err := h.st.QueuePosition(h.ctx, 999999); !errors.Is(err, concierge.ErrNotFound) {
		t.Errorf("QueuePosition of an unknown conversation: %v, want not found", err)
	}
}

func TestOfflineAgentsConversationsAreRequeuedAfterTheGracePeriod(t *testing.T) {
	h := newHarness(t, past(), func(c *config.Handoff) { c.GracePeriod = 2 * time.Minute })
	ana := h.agent("Ana", []string{"general"})
	bo := h.agent("Bo", []string{"general"})
	h.svc.Connected(h.ctx, ana)
	id := h.say("c", "human")
	if c := h.waitStatus(id, concierge.StatusAssigned); c.AssigneeID != ana.ID {
		t.Fatalf("assigned to %d, want Ana", c.AssigneeID)
	}
	h.svc.Disconnected(h.ctx, ana)
	h.clock.Add(time.Minute)
	h.svc.Sweep(h.ctx)
	if c, _ := h.st.Conversation(h.ctx, id); c.Status != concierge.StatusAssigned {
		t.Fatalf("re-queued within the grace period: %s", c.Status)
	}
	// Reconnecting within the grace period keeps the conversation.
	h.svc.Connected(h.ctx, ana)
	h.svc.Disconnected(h.ctx, ana)
	h.clock.Add(90 * time.Second)
	h.svc.Sweep(h.ctx)
	if c, _ := h.st.Conversation(h.ctx, id); c.Status != concierge.StatusAssigned {
		t.Fatalf("a reconnect did not restart the grace period: %s", c.Status)
	}
	h.clock.Add(time.Minute)
	h.svc.Sweep(h.ctx)
	h.expect("c", "back in the queue")
	// Bo comes online and gets it.
	h.svc.Connected(h.ctx, bo)
	if c := h.waitStatus(id, concierge.StatusAssigned); c.AssigneeID != bo.ID {
		t.Fatalf("re-queued conversation went to %d, want Bo", c.AssigneeID)
	}
	h.expect("c", "Bo joined")
}

func TestAgentsActOnlyOnTheirTeamsAndTheirConversations(t *testing.T) {
	h := newHarness(t, past(), func(c *config.Handoff) {
		c.Teams = []config.Team{{Name: "general", Assignment: "pooled"}, {Name: "billing", Assignment: "pooled"}}
	})
	gen := h.agent("Gen", []string{"general"})
	gen2 := h.agent("Gen2", []string{"general"})
	bill := h.agent("Bill", []string{"billing"})
	admin := h.agent("Root", nil, "admin")
	ed := h.agent("Ed", []string{"general"}, "editor")
	id := h.say("c", "human")
	h.waitStatus(id, concierge.StatusQueued)

	if _, err := h.svc.Claim(h.ctx, bill, id); !errors.Is(err, concierge.ErrNotFound) {
		t.Fatalf("other team's claim: %v, want not found", err)
	}
	if _, err := h.svc.View(h.ctx, bill, id); !errors.Is(err, concierge.ErrNotFound) {
		t.Fatalf("other team's view: %v, want not found", err)
	}
	if _, err := h.svc.Claim(h.ctx, ed, id); err == nil {
		t.Fatal("an editor claimed a conversation")
	}
	if _, err := h.svc.Reply(h.ctx, gen, id, "hi", false); !errors.Is(err, concierge.ErrForbidden) {
		t.Fatalf("reply before claiming: %v, want forbidden", err)
	}
	if _, err := h.svc.Reply(h.ctx, gen, id, "customer said hi", true); err != nil {
		t.Fatalf("team member's note on a queued conversation: %v", err)
	}
	if _, err := h.svc.Claim(h.ctx, gen, id); err != nil {
		t.Fatal(err)
	}
	if _, err := h.svc.Reply(h.ctx, gen2, id, "me too", false); !errors.Is(err, concierge.ErrForbidden) {
		t.Fatalf("colleague's reply to a claimed conversation: %v, want forbidden", err)
	}
	if _, err := h.svc.Close(h.ctx, gen2, id, handoff.Resolved, nil); !errors.Is(err, concierge.ErrForbidden) {
		t.Fatalf("colleague's close: %v, want forbidden", err)
	}
	if _, err := h.svc.Reply(h.ctx, admin, id, "admin here", false); err != nil {
		t.Fatalf("admin reply: %v", err)
	}
	// Notes never reach the customer; replies do, with the agent's name.
	m := h.expect("c", "admin here")
	if m.Sender != concierge.SenderAgent || m.SenderName != "Root" {
		t.Fatalf("agent message sent as %s/%q", m.Sender, m.SenderName)
	}
	// Transfer to the billing team: it leaves Gen's list and enters billing's queue.
	if _, err := h.svc.Transfer(h.ctx, gen, id, 0, "billing", "needs a refund"); err != nil {
		t.Fatal(err)
	}
	h.expect("c", "billing team")
	v, err := h.svc.View(h.ctx, bill, id)
	if err != nil {
		t.Fatal(err)
	}
	var notes []string
	for _, m := range v.Messages {
		if m.Internal {
			notes = append(notes, m.Text)
		}
	}
	if len(notes) != 2 || !strings.Contains(notes[1], "needs a refund") {
		t.Fatalf("notes %q: want the queued note and the transfer note", notes)
	}
	if _, err := h.svc.Claim(h.ctx, bill, id); err != nil {
		t.Fatal(err)
	}
	if _, err := h.svc.Transfer(h.ctx, bill, id, gen.ID, "", ""); !errors.Is(err, concierge.ErrConflict) {
		t.Fatalf("transfer to an offline agent: %v, want conflict", err)
	}
	h.svc.Connected(h.ctx, gen)
	if c, err := h.svc.Transfer(h.ctx, bill, id, gen.ID, "", "back to you"); err != nil || c.AssigneeID != gen.ID {
		t.Fatalf("transfer to Gen: %v %+v", err, c)
	}
	h.expect("c", "Gen joined")
	for _, m := range v.Messages {
		if m.Internal {
			select {
			case d := <-h.adapter.out:
				if d.msg.Internal || strings.Contains(d.msg.Text, "customer said hi") {
					t.Fatalf("a note reached the customer: %q", d.msg.Text)
				}
			default:
			}
		}
	}
}

func TestCannedResponsesPerTeam(t *testing.T) {
	h := newHarness(t, past(), nil)
	gen := h.agent("Gen", []string{"general"})
	bill := h.agent("Bill", []string{"billing"})
	admin := h.agent("Root", nil, "admin")
	if _, err := h.svc.SaveCanned(h.ctx, gen, handoff.Canned{Team: "general", Shortcut: "/Hello", Body: "Hi there!"}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.svc.SaveCanned(h.ctx, gen, handoff.Canned{Team: "", Shortcut: "shared", Body: "x"}); !errors.Is(err, concierge.ErrForbidden) {
		t.Fatalf("agent saving a shared response: %v, want forbidden", err)
	}
	if _, err := h.svc.SaveCanned(h.ctx, admin, handoff.Canned{Shortcut: "bye", Body: "Bye!"}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.svc.SaveCanned(h.ctx, gen, handoff.Canned{Team: "general", Shortcut: "hello", Body: "dup"}); !errors.Is(err, concierge.ErrConflict) {
		t.Fatalf("duplicate shortcut: %v, want conflict", err)
	}
	list, _ := h.svc.CannedResponses(h.ctx, bill)
	if len(list) != 1 || list[0].Shortcut != "bye" {
		t.Fatalf("billing sees %+v, want only the shared response", list)
	}
	list, _ = h.svc.CannedResponses(h.ctx, gen)
	if len(list) != 2 {
		t.Fatalf("general sees %+v, want its own and the shared one", list)
	}
}

func TestQueueAndAssignmentsSurviveARestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "restart.db")
	pooled := func(c *config.Handoff) {
		c.Teams = []config.Team{{Name: "general", Assignment: "pooled"}}
		c.GracePeriod = time.Minute
	}
	start := past()
	h := newHarnessAt(t, path, start, pooled)
	ana := h.agent("Ana", []string{"general"})
	waiting := h.say("w", "human")
	taken := h.say("t", "human")
	h.waitStatus(waiting, concierge.StatusQueued)
	h.waitStatus(taken, concierge.StatusQueued)
	if _, err := h.svc.Claim(h.ctx, ana, taken); err != nil {
		t.Fatal(err)
	}
	if _, err := h.svc.Reply(h.ctx, ana, taken, "on it", false); err != nil {
		t.Fatal(err)
	}
	h.stop()

	h2 := newHarnessAt(t, path, start.Add(time.Second), pooled)
	items, err := h2.svc.Queue(h2.ctx, nil)
	if err != nil || len(items) != 1 || items[0].Conversation.ID != waiting || items[0].Position != 1 {
		t.Fatalf("queue after restart: %+v %v", items, err)
	}
	mine, err := h2.svc.Mine(h2.ctx, ana)
	if err != nil || len(mine) != 1 || mine[0].Conversation.ID != taken || mine[0].Ticket.FirstResponseAt == nil {
		t.Fatalf("Ana's conversations after restart: %+v %v", mine, err)
	}
	v, err := h2.svc.View(h2.ctx, ana, taken)
	if err != nil || v.Messages[len(v.Messages)-1].Text != "on it" {
		t.Fatalf("transcript after restart: %+v %v", v.Messages, err)
	}
	// Nobody reconnects: after the grace period the conversation returns to the queue.
	h2.clock.Add(2 * time.Minute)
	h2.svc.Sweep(h2.ctx)
	if c, _ := h2.st.Conversation(h2.ctx, taken); c.Status != concierge.StatusQueued {
		t.Fatalf("abandoned conversation after restart and grace: %s, want queued", c.Status)
	}
}

func TestAnEscalationLeftPendingByACrashIsEnqueuedAtStart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "crash.db")
	log := zerolog.New(zerolog.NewTestWriter(t))
	st, err := store.Open(context.Background(), path, log, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	rec, err := st.Receive(ctx, concierge.Inbound{Channel: "chat", ContactID: "c", Text: "a human please"})
	if err != nil {
		t.Fatal(err)
	}
	// The bot's turn is stored with its escalation, then the process stops before the
	// handoff enqueues it.
	if _, _, err := st.ApplyTurn(ctx, store.Turn{ConversationID: rec.Conversation.ID, MessageID: rec.Message.ID, Seq: rec.Message.Seq,
		Reply: concierge.Reply{Escalation: &concierge.Escalation{Reason: "asked_for_human", Team: "billing"},
			Decision: concierge.Decision{Action: "escalate"}}}); err != nil {
		t.Fatal(err)
	}
	st.Close()

	h := newHarnessAt(t, path, past(), nil)
	conv := h.waitStatus(rec.Conversation.ID, concierge.StatusQueued)
	if conv.Team != "billing" || conv.PendingEscalation != nil {
		t.Fatalf("after restart: team %q, pending %v; want billing and nothing pending", conv.Team, conv.PendingEscalation)
	}
	h.expect("c", "number 1")
}

// Somebody leaving the queue moves the others up; each is told at most once per
// interval, so an update held back is sent by a later sweep. Arrivals behind them move
// nobody up and send nothing.
func TestPositionUpdatesFollowDeparturesAtMostOncePerInterval(t *testing.T) {
	h := newHarness(t, past(), func(c *config.Handoff) {
		c.Teams = []config.Team{{Name: "general", Assignment: "pooled"}}
		c.PositionUpdates = time.Minute
	})
	ana := h.agent("Ana", []string{"general"})
	h.svc.Connected(h.ctx, ana) // online all along: nothing is re-queued
	var ids []int64
	for i, who := range []string{"a", "b", "c"} {
		id := h.say(who, "human")
		h.expect(who, fmt.Sprintf("number %d.", i+1))
		for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(5 * time.Millisecond) {
			if tk, err := h.st.Ticket(h.ctx, id); err == nil && tk.NoticePosition == i+1 {
				break // the notice is recorded: later changes are updates
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s's place was never recorded", who)
			}
		}
		ids = append(ids, id)
	}
	updates := func(id int64) []string {
		msgs, err := h.st.Messages(h.ctx, id, 0, 100, false)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, m := range msgs {
			if m.Sender == concierge.SenderSystem && strings.HasPrefix(m.Text, "Update:") {
				out = append(out, m.Text)
			}
		}
		return out
	}
	if _, err := h.svc.Claim(h.ctx, ana, ids[0]); err != nil {
		t.Fatal(err)
	}
	h.svc.Sweep(h.ctx)
	if u := updates(ids[1]); len(u) != 0 {
		t.Fatalf("b was told %q within a minute of being told their place", u)
	}
	h.clock.Add(2 * time.Minute)
	h.svc.Sweep(h.ctx)
	if u := updates(ids[1]); len(u) != 1 || !strings.Contains(u[0], "number 1") {
		t.Fatalf("b after the held-back update: %q, want one update to number 1", u)
	}
	if u := updates(ids[2]); len(u) != 1 || !strings.Contains(u[0], "number 2") {
		t.Fatalf("c after the held-back update: %q, want one update to number 2", u)
	}
	d := h.say("d", "human")
	h.waitStatus(d, concierge.StatusQueued)
	h.clock.Add(2 * time.Minute)
	h.svc.Sweep(h.ctx)
	if u := updates(ids[1]); len(u) != 1 {
		t.Fatalf("b was told %q after a customer queued behind them", u)
	}
}

// The counted position (the tickets_waiting index) agrees with the listed queue for
// every waiting customer: two teams, customers queued at the same instant (a tie broken
// by priority, then id), tiers, and tickets that left the queue (assigned, closed).
func TestCountedQueuePositionsMatchTheListedQueue(t *testing.T) {
	h := newHarness(t, past(), func(c *config.Handoff) {
		c.Teams = []config.Team{{Name: "general", Assignment: "pooled"}, {Name: "billing", Assignment: "pooled"}}
	})
	ana := h.agent("Ana", []string{"general", "billing"}, "agent", "admin")
	h.svc.Connected(h.ctx, ana)
	var ids []int64
	for i := range 12 {
		text := "human"
		if i%3 == 0 {
			text = "human team:billing"
		}
		var attrs map[string]string
		if i%4 == 1 {
			attrs = map[string]string{"tier": "vip"}
		}
		id := h.sayAs(fmt.Sprintf("c%d", i), text, attrs)
		h.waitStatus(id, concierge.StatusQueued)
		ids = append(ids, id)
		if i%5 == 4 {
			h.clock.Add(time.Minute)
		}
	}
	if _, err := h.svc.Claim(h.ctx, ana, ids[2]); err != nil {
		t.Fatal(err)
	}
	if _, err := h.svc.Close(h.ctx, ana, ids[7], handoff.Spam, nil); err != nil {
		t.Fatal(err)
	}
	items, err := h.svc.Queue(h.ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(items) != 10 {
		t.Fatalf("%d queued, want 10", len(items))
	}
	for _, it := range items {
		if pos, err := h.st.QueuePosition(h.ctx, it.Conversation.ID); err != nil || pos != it.Position {
			t.Errorf("QueuePosition(%d) in %s = %d, %v; the queue lists it at %d", it.Conversation.ID, it.Conversation.Team, pos, err, it.Position)
		}
	}
	for _, id := range []int64{ids[2], ids[7]} {
		if _, err := h.st.QueuePosition(h.ctx, id); !errors.Is(err, concierge.ErrInvalid) {
			t.Errorf("QueuePosition(%d) of a conversation no longer queued: %v, want ErrInvalid", id, err)
		}
	}
}
