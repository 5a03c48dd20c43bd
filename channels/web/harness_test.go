package web

import (
	"context"
	"encoding/json"
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

	"github.com/conciergehq/concierge"
	"github.com/conciergehq/concierge/channels"
	"github.com/conciergehq/concierge/internal/bus"
	"github.com/conciergehq/concierge/internal/httpx"
	"github.com/conciergehq/concierge/internal/metrics"
	"github.com/conciergehq/concierge/internal/store"
)

// echoBot is the test Responder: it answers "echo: <text>", offers quick replies when
// asked for "menu", and resolves (closes) the conversation on "bye".
type echoBot struct{}

func (echoBot) Respond(ctx context.Context, t channels.Turn) (concierge.Reply, error) {
	m := t.Message
	switch {
	case m.Text == "menu":
		return concierge.Reply{Messages: []concierge.Outgoing{{Sender: concierge.SenderBot, Text: "pick one",
			QuickReplies: []concierge.QuickReply{{Label: "Billing", Payload: "topic:billing"}, {Label: "Tech", Payload: "topic:tech"}}}}}, nil
	case m.Text == "bye":
		return concierge.Reply{Messages: []concierge.Outgoing{{Sender: concierge.SenderBot, Text: "goodbye"}}, Resolved: true}, nil
	case m.Payload != "":
		return concierge.Reply{Messages: []concierge.Outgoing{{Sender: concierge.SenderBot, Text: "picked " + m.Payload}}}, nil
	}
	return concierge.Reply{Messages: []concierge.Outgoing{{Sender: concierge.SenderBot, Text: "echo: " + m.Text,
		HTML: "<p>echo: " + htmlEscape(m.Text) + "</p>"}}}, nil
}

func htmlEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&#34;").Replace(s)
}

type testServer struct {
	t       testing.TB
	store   *store.Store
	bus     *bus.Bus
	gw      *channels.Gateway
	ch      *Channel
	metrics *metrics.Metrics
	http    *httptest.Server
	wsURL   string
}

// newTestServer runs the real parts: a SQLite store in t.TempDir(), the bus, the
// gateway with the echo bot, the web channel and an HTTP server on loopback.
func newTestServer(t testing.TB, mod func(*Options)) *testServer {
	t.Helper()
	log := zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.InfoLevel)
	ctx, cancel := context.WithCancel(context.Background())
	st, err := store.Open(ctx, filepath.Join(t.TempDir(), "test.db"), log, store.Options{Synchronous: "NORMAL"})
	if err != nil {
		t.Fatal(err)
	}
	b := bus.New()
	m := metrics.New()
	gw := channels.New(st, b, m, log, channels.Options{Workers: 8, TypingDelay: time.Hour})
	gw.SetResponder(echoBot{})
	opts := Options{Title: "Support", Demo: true, PingInterval: time.Minute}
	if mod != nil {
		mod(&opts)
	}
	mux := http.NewServeMux()
	srv := httptest.NewUnstartedServer(httpx.Middleware(log, nil, mux))
	opts.BaseURL = "http://" + srv.Listener.Addr().String()
	ch, err := New(ctx, st, gw, b, m, log, opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := gw.Register(ch); err != nil {
		t.Fatal(err)
	}
	if err := ch.Routes(mux); err != nil {
		t.Fatal(err)
	}
	srv.Start()
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); gw.Run(ctx) }()
	go func() { defer wg.Done(); ch.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		wg.Wait()
		srv.Close()
		st.Close()
	})
	return &testServer{t: t, store: st, bus: b, gw: gw, ch: ch, metrics: m, http: srv,
		wsURL: "ws" + strings.TrimPrefix(srv.URL, "http") + "/widget/ws"}
}

// frame is any server frame, decoded loosely.
type frame struct {
	Type           string                 `json:"type"`
	Token          string                 `json:"token"`
	ConversationID int64                  `json:"conversation_id"`
	Status         string                 `json:"status"`
	Verified       bool                   `json:"verified"`
	MaxText        int                    `json:"max_text"`
	Seq            int64                  `json:"seq"`
	Sender         string                 `json:"sender"`
	SenderName     string                 `json:"sender_name"`
	Text           string                 `json:"text"`
	HTML           string                 `json:"html"`
	QuickReplies   []concierge.QuickReply `json:"quick_replies"`
	Payload        string                 `json:"payload"`
	ClientID       string                 `json:"client_id"`
	ID             string                 `json:"id"`
	Duplicate      bool                   `json:"duplicate"`
	Code           string                 `json:"code"`
	Message        string                 `json:"message"`
	RetryAfterMS   int64                  `json:"retry_after_ms"`
	On             bool                   `json:"on"`
	Name           string                 `json:"name"`
}

type client struct {
	t      testing.TB
	ws     *websocket.Conn
	frames chan frame
	done   chan error
	token  string
	conv   int64
}

func (s *testServer) dial(t testing.TB, origin string) (*client, *http.Response, error) {
	return s.dialBuffered(t, origin, 1024)
}

// dialBuffered dials with a client that buffers up to n frames; with n = 0 the client
// stops reading the socket as soon as one frame is not taken (a slow consumer).
func (s *testServer) dialBuffered(t testing.TB, origin string, n int) (*client, *http.Response, error) {
	h := http.Header{}
	if origin == "" {
		origin = s.http.URL
	}
	h.Set("Origin", origin)
	ws, resp, err := websocket.DefaultDialer.Dial(s.wsURL, h)
	if err != nil {
		return nil, resp, err
	}
	frames := make(chan frame, n)
	c := &client{t: t, ws: ws, frames: frames, done: make(chan error, 1)}
	go func() {
		for {
			_, b, err := ws.ReadMessage()
			if err != nil {
				c.done <- err
				close(frames)
				return
			}
			var f frame
			if err := json.Unmarshal(b, &f); err != nil {
				c.done <- fmt.Errorf("bad frame %s: %w", b, err)
				close(frames)
				return
			}
			frames <- f
		}
	}()
	t.Cleanup(func() { ws.Close() })
	return c, resp, nil
}

// connect dials and says hello; it returns the client and the welcome frame.
func (s *testServer) connect(t testing.TB, hello map[string]any) (*client, frame) {
	t.Helper()
	return s.connectBuffered(t, hello, 1024)
}

func (s *testServer) connectBuffered(t testing.TB, hello map[string]any, n int) (*client, frame) {
	t.Helper()
	c, _, err := s.dialBuffered(t, "", n)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	if hello == nil {
		hello = map[string]any{}
	}
	hello["type"] = "hello"
	c.send(hello)
	w := c.next("welcome")
	c.token, _ = hello["token"].(string)
	if w.Token != "" {
		c.token = w.Token
	}
	c.conv = w.ConversationID
	return c, w
}

func (c *client) send(v any) {
	c.t.Helper()
	if err := c.ws.WriteJSON(v); err != nil {
		c.t.Fatalf("send %v: %v", v, err)
	}
}

func (c *client) say(id, text string) {
	c.t.Helper()
	c.send(map[string]any{"type": "message", "id": id, "text": text})
}

// next returns the next frame, which must be of type want. Status and typing frames,
// which the server sends whenever they happen, are skipped unless wanted.
func (c *client) next(want string) frame {
	c.t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case f, ok := <-c.frames:
			if !ok {
				c.t.Fatalf("connection closed waiting for %s: %v", want, <-c.done)
			}
			if f.Type != want && (f.Type == "status" || f.Type == "typing") {
				continue
			}
			if f.Type != want {
				c.t.Fatalf("got %s frame %+v, want %s", f.Type, f, want)
			}
			return f
		case <-deadline:
			c.t.Fatalf("no %s frame within 10s", want)
		}
	}
}

// both is a stop condition for until: an ack and a bot message, in either order.
func both() func(frame) bool {
	ack, bot := false, false
	return func(f frame) bool {
		ack = ack || f.Type == "ack"
		bot = bot || f.Type == "message" && f.Sender == "bot"
		return ack && bot
	}
}

// until returns frames up to and including the first one for which stop is true.
func (c *client) until(stop func(frame) bool) []frame {
	c.t.Helper()
	var got []frame
	deadline := time.After(10 * time.Second)
	for {
		select {
		case f, ok := <-c.frames:
			if !ok {
				c.t.Fatalf("connection closed after %+v: %v", got, <-c.done)
			}
			got = append(got, f)
			if stop(f) {
				return got
			}
		case <-deadline:
			c.t.Fatalf("condition not met within 10s; frames so far: %+v", got)
		}
	}
}

// messages returns the message frames received until a pong answers a ping sent now.
// The server answers frames in order, so the pong proves nothing else was queued.
func (c *client) drain() []frame {
	c.t.Helper()
	c.send(map[string]any{"type": "ping"})
	var out []frame
	for _, f := range c.until(func(f frame) bool { return f.Type == "pong" }) {
		if f.Type == "message" {
			out = append(out, f)
		}
	}
	return out
}

func (c *client) close() { c.ws.Close() }
