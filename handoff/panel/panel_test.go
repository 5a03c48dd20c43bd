package panel_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/rs/zerolog"
	"golang.org/x/crypto/bcrypt"

	"github.com/conciergehq/concierge"
	"github.com/conciergehq/concierge/channels"
	"github.com/conciergehq/concierge/handoff"
	"github.com/conciergehq/concierge/handoff/panel"
	"github.com/conciergehq/concierge/internal/auth"
	"github.com/conciergehq/concierge/internal/bus"
	"github.com/conciergehq/concierge/internal/config"
	"github.com/conciergehq/concierge/internal/httpx"
	"github.com/conciergehq/concierge/internal/store"
)

// customerChannel stands in for the widget: it records what customers are sent and when
// an agent's typing indicator is shown to them.
type customerChannel struct {
	mu      sync.Mutex
	out     chan concierge.Message
	typing  chan struct{}
	discard bool // benchmarks: deliver into the void
	fail    error
}

func (c *customerChannel) Name() string { return "web" }
func (c *customerChannel) Deliver(ctx context.Context, d channels.Delivery) (string, error) {
	if c.discard {
		return fmt.Sprint(d.Message.ID), nil
	}
	c.mu.Lock()
	fail := c.fail
	c.mu.Unlock()
	if fail != nil {
		return "", fail
	}
	c.out <- d.Message
	return fmt.Sprint(d.Message.ID), nil
}
func (c *customerChannel) Typing(ctx context.Context, conv concierge.Conversation, ct concierge.Contact) error {
	select {
	case c.typing <- struct{}{}:
	default:
	}
	return nil
}

// triageBot escalates on "I want to talk to a human" with what a real triage bot hands over.
type triageBot struct{}

func (triageBot) Respond(ctx context.Context, t channels.Turn) (concierge.Reply, error) {
	if strings.Contains(t.Message.Text, "talk to a human") {
		return concierge.Reply{
			Messages: []concierge.Outgoing{{Sender: concierge.SenderBot, Text: "I'll connect you with a person."}},
			Details:  map[string]string{"order_number": "ORD-77"},
			Escalation: &concierge.Escalation{Reason: "asked_for_human", Sentiment: "negative", Note: "late order ORD-77",
				Candidates: []concierge.Candidate{{ArticleID: "shipping-times", Title: "Shipping times", Score: 0.41}}},
			Decision: concierge.Decision{Action: "escalate"},
		}, nil
	}
	return concierge.Reply{Messages: []concierge.Outgoing{{Sender: concierge.SenderBot, Text: "Orders usually ship in 2 days."}},
		Details: map[string]string{"order_number": "ORD-77"}, Decision: concierge.Decision{Action: "answer"}}, nil
}

type rig struct {
	t        testing.TB
	st       *store.Store
	gw       *channels.Gateway
	svc      *handoff.Service
	auth     *auth.Service
	bus      *bus.Bus
	srv      *httptest.Server
	customer *customerChannel
}

func newRig(t testing.TB, tweak func(*config.Handoff)) *rig {
	return newRigWith(t, tweak, panel.Options{})
}

func newRigWith(t testing.TB, tweak func(*config.Handoff), opts panel.Options) *rig {
	log := zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.InfoLevel)
	st, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "p.db"), log, store.Options{Synchronous: "NORMAL"})
	if err != nil {
		t.Fatal(err)
	}
	cfg := config.Default().Handoff
	cfg.Teams = []config.Team{{Name: "general", Assignment: "pooled"}, {Name: "billing", Assignment: "pooled"}}
	if tweak != nil {
		tweak(&cfg)
	}
	b := bus.New()
	gw := channels.New(st, b, nil, log, channels.Options{Workers: 4, OutboxScan: 20 * time.Millisecond, TypingDelay: time.Hour})
	cust := &customerChannel{out: make(chan concierge.Message, 1000), typing: make(chan struct{}, 10)}
	if err := gw.Register(cust); err != nil {
		t.Fatal(err)
	}
	svc, err := handoff.New(st, gw, b, cfg, handoff.Options{}, log)
	if err != nil {
		t.Fatal(err)
	}
	gw.SetResponder(triageBot{})
	gw.SetHandoff(svc)
	a := auth.New(st, auth.Options{BcryptCost: bcrypt.MinCost}, log)
	p, err := panel.New(svc, a, b, opts, log)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	a.Routes(mux)
	p.Routes(mux)
	srv := httptest.NewServer(httpx.Middleware(log, nil, mux))
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); gw.Run(ctx) }()
	go func() { defer wg.Done(); p.Run(ctx) }()
	t.Cleanup(func() {
		srv.CloseClientConnections()
		srv.Close()
		cancel()
		wg.Wait()
		st.Close()
	})
	return &rig{t: t, st: st, gw: gw, svc: svc, auth: a, bus: b, srv: srv, customer: cust}
}

func (r *rig) account(email, name string, teams []string, roles ...string) auth.Account {
	a, err := r.auth.Create(context.Background(), auth.Account{Email: email, Name: name, Roles: roles, Teams: teams}, "panel test password")
	if err != nil {
		r.t.Fatal(err)
	}
	return a
}

// say is the customer writing in the widget.
func (r *rig) say(contact, name, text, payload string) int64 {
	rec, err := r.gw.Receive(context.Background(), concierge.Inbound{Channel: "web", ContactID: contact, Text: text, Payload: payload,
		Profile: concierge.Profile{Name: name}})
	if err != nil {
		r.t.Fatal(err)
	}
	return rec.Conversation.ID
}

// expect waits for the customer to be sent a message containing want.
func (r *rig) expect(want string) concierge.Message {
	r.t.Helper()
	deadline := time.After(15 * time.Second)
	var seen []string
	for {
		select {
		case m := <-r.customer.out:
			seen = append(seen, m.Text)
			if strings.Contains(m.Text, want) {
				return m
			}
		case <-deadline:
			r.t.Fatalf("customer was never sent %q; got %q", want, seen)
		}
	}
}

func (r *rig) waitStatus(id int64, want concierge.Status) concierge.Conversation {
	r.t.Helper()
	sub := r.bus.Subscribe(concierge.ConversationTopic(id), 100)
	defer sub.Close()
	deadline := time.After(15 * time.Second)
	for {
		c, err := r.st.Conversation(context.Background(), id)
		if err != nil {
			r.t.Fatal(err)
		}
		if c.Status == want {
			return c
		}
		select {
		case <-sub.C:
		case <-deadline:
			r.t.Fatalf("conversation %d is %s, want %s", id, c.Status, want)
		}
	}
}

func TestWebSocketNeedsASessionAndOurOrigin(t *testing.T) {
	r := newRig(t, nil)
	a := r.account("ana@example.com", "Ana", []string{"general"}, "agent")
	rec := httptest.NewRecorder()
	if _, err := r.auth.StartSession(context.Background(), rec, httptest.NewRequest("POST", "/login", nil), a); err != nil {
		t.Fatal(err)
	}
	var cookie []string
	for _, c := range rec.Result().Cookies() {
		cookie = append(cookie, c.Name+"="+c.Value)
	}
	url := "ws" + strings.TrimPrefix(r.srv.URL, "http") + "/agent/ws"
	cases := []struct {
		name string
		hdr  http.Header
		want int
	}{
		{"no session", http.Header{"Origin": {r.srv.URL}}, http.StatusUnauthorized},
		{"other site", http.Header{"Origin": {"https://evil.example"}, "Cookie": {strings.Join(cookie, "; ")}}, http.StatusForbidden},
		{"our page", http.Header{"Origin": {r.srv.URL}, "Cookie": {strings.Join(cookie, "; ")}}, http.StatusSwitchingProtocols},
	}
	for _, c := range cases {
		conn, resp, err := websocket.DefaultDialer.Dial(url, c.hdr)
		if resp == nil || resp.StatusCode != c.want {
			t.Errorf("%s: %v %v, want %d", c.name, resp, err, c.want)
		}
		if conn != nil {
			var hello struct {
				Type     string `json:"type"`
				Presence string `json:"presence"`
			}
			if err := conn.ReadJSON(&hello); err != nil || hello.Type != "hello" || hello.Presence != "online" {
				t.Errorf("first frame %+v %v, want hello with presence online", hello, err)
			}
			conn.Close()
		}
	}
}
