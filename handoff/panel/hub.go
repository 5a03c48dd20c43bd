package panel

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/gorilla/websocket"
	"github.com/rs/zerolog"

	"github.com/conciergehq/concierge"
	"github.com/conciergehq/concierge/handoff"
	"github.com/conciergehq/concierge/internal/auth"
	"github.com/conciergehq/concierge/internal/bus"
	"github.com/conciergehq/concierge/internal/metrics"
)

const (
	writeWait    = 10 * time.Second
	pongWait     = 60 * time.Second
	pingPeriod   = pongWait * 9 / 10
	sessionCheck = time.Minute
)

// hub fans the agents' topic out to every connected panel. It reads the bus once and
// encodes each event once; each connection gets the bytes it may see through its own
// bounded queue, and a connection that falls behind is closed (the panel reconnects and
// reloads its state) rather than slowing the others.
type hub struct {
	svc     *handoff.Service
	auth    *auth.Service
	bus     Bus
	queue   int
	metrics *metrics.Metrics
	log     zerolog.Logger
	up      websocket.Upgrader

	mu      sync.RWMutex
	clients map[*client]struct{}
	// where caches each conversation's team and assignee, learnt from events (and the
	// store for conversations not seen yet), to route events that carry neither.
	whereMu sync.Mutex
	where   map[int64]location
}

type location struct {
	team     string
	assignee int64
}

type client struct {
	acct  auth.Account
	teams map[string]bool
	send  chan []byte
	conn  *websocket.Conn
	once  sync.Once
	done  chan struct{}
}

func (c *client) close() { c.once.Do(func() { close(c.done) }) }

func newHub(svc *handoff.Service, a *auth.Service, b Bus, queue int, m *metrics.Metrics, log zerolog.Logger) *hub {
	h := &hub{svc: svc, auth: a, bus: b, queue: queue, metrics: m, log: log, clients: map[*client]struct{}{},
		where: map[int64]location{}}
	h.up = websocket.Upgrader{ReadBufferSize: 1024, WriteBufferSize: 4096, WriteBufferPool: &sync.Pool{},
		CheckOrigin: auth.SameOrigin}
	return h
}

// frame is what the server sends: an event, or "resync" after events were lost.
type frame struct {
	Type  string           `json:"type"`
	Event *concierge.Event `json:"event,omitempty"`
}

func (h *hub) run(ctx context.Context) error {
	for ctx.Err() == nil {
		sub := h.bus.Subscribe(concierge.TopicAgents, 8192)
		h.broadcast(frame{Type: "resync"}) // whatever happened while unsubscribed
		h.pump(ctx, sub)
		sub.Close()
	}
	h.mu.Lock()
	for c := range h.clients {
		c.close()
	}
	h.mu.Unlock()
	return nil
}

func (h *hub) pump(ctx context.Context, sub *bus.Subscription) {
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-sub.C:
			if !ok {
				h.log.Warn().Msg("the panel hub fell behind the event bus; panels will reload their state")
				return
			}
			h.dispatch(ctx, ev)
		}
	}
}

// dispatch sends one event to every panel that may see it.
func (h *hub) dispatch(ctx context.Context, ev concierge.Event) {
	loc, known := h.locate(ctx, ev)
	b, err := json.Marshal(frame{Type: "event", Event: &ev})
	if err != nil {
		h.log.Error().Err(err).Msg("cannot encode an event")
		return
	}
	h.mu.RLock()
	defer h.mu.RUnlock()
	for c := range h.clients {
		if ev.Kind == concierge.EventPresence || c.acct.Admin() ||
			(known && (c.teams[loc.team] || loc.assignee == c.acct.ID)) || (ev.Team != "" && c.teams[ev.Team]) {
			h.offer(c, b)
		}
	}
}

// locate learns and returns where the event's conversation is.
func (h *hub) locate(ctx context.Context, ev concierge.Event) (location, bool) {
	if ev.ConversationID == 0 {
		return location{team: ev.Team}, ev.Team != ""
	}
	h.whereMu.Lock()
	defer h.whereMu.Unlock()
	if ev.Conversation != nil {
		loc := location{team: ev.Conversation.Team, assignee: ev.Conversation.AssigneeID}
		h.where[ev.ConversationID] = loc
		return loc, true
	}
	if loc, ok := h.where[ev.ConversationID]; ok {
		if ev.Team != "" && ev.Team != loc.team {
			loc.team = ev.Team
			h.where[ev.ConversationID] = loc
		}
		return loc, true
	}
	team, assignee, err := h.svc.Locate(ctx, ev.ConversationID)
	if err != nil {
		return location{}, false
	}
	if len(h.where) > 100000 {
		clear(h.where) // a cache, not a record: bound it
	}
	loc := location{team: team, assignee: assignee}
	h.where[ev.ConversationID] = loc
	return loc, true
}

// offer queues bytes for a client without waiting; a full queue drops the client.
func (h *hub) offer(c *client, b []byte) {
	select {
	case c.send <- b:
	default:
		h.metrics.Drop("panel")
		c.close()
	}
}

func (h *hub) broadcast(f frame) {
	b, _ := json.Marshal(f)
	h.mu.RLock()
	defer h.mu.RUnlock()
	for c := range h.clients {
		h.offer(c, b)
	}
}

// serve upgrades a signed-in agent's request to the panel's WebSocket.
func (h *hub) serve(w http.ResponseWriter, r *http.Request) {
	a, _ := auth.AccountFrom(r.Context())
	sess, _ := auth.SessionFrom(r.Context())
	conn, err := h.up.Upgrade(w, r, nil)
	if err != nil {
		return // the upgrader answered already
	}
	c := &client{acct: a, teams: map[string]bool{}, send: make(chan []byte, h.queue), conn: conn, done: make(chan struct{})}
	for _, t := range a.Teams {
		c.teams[t] = true
	}
	// The request's context ends when the handler returns; the connection outlives it.
	ctx := context.WithoutCancel(r.Context())
	h.svc.Connected(ctx, a)
	// hello goes first, before the client is registered, so events cannot fill its queue
	// ahead of it; the panel reloads its state when it arrives.
	hello, _ := json.Marshal(map[string]any{"type": "hello", "presence": h.svc.Presence(a.ID)})
	c.send <- hello
	h.mu.Lock()
	h.clients[c] = struct{}{}
	h.mu.Unlock()
	h.metrics.Conn("panel", 1)
	go h.writer(ctx, c, sess)
	go h.reader(ctx, c)
}

func (h *hub) leave(ctx context.Context, c *client) {
	h.mu.Lock()
	_, ok := h.clients[c]
	delete(h.clients, c)
	h.mu.Unlock()
	if ok {
		h.metrics.Conn("panel", -1)
		h.svc.Disconnected(ctx, c.acct)
	}
}

// clientFrame is what a panel sends: typing on or off, or a keep-alive.
type clientFrame struct {
	Type           string `json:"type"`
	ConversationID int64  `json:"conversation_id"`
	On             bool   `json:"on"`
}

func (h *hub) reader(ctx context.Context, c *client) {
	defer c.close()
	c.conn.SetReadLimit(4096)
	c.conn.SetReadDeadline(time.Now().Add(pongWait))
	c.conn.SetPongHandler(func(string) error { return c.conn.SetReadDeadline(time.Now().Add(pongWait)) })
	for {
		var f clientFrame
		if err := c.conn.ReadJSON(&f); err != nil {
			return
		}
		c.conn.SetReadDeadline(time.Now().Add(pongWait))
		if f.Type == "typing" && f.ConversationID > 0 {
			if err := h.svc.Typing(ctx, c.acct, f.ConversationID, f.On); err != nil {
				h.log.Debug().Err(err).Msg("typing refused")
			}
		}
	}
}

func (h *hub) writer(ctx context.Context, c *client, sess auth.Session) {
	ping := time.NewTicker(pingPeriod)
	check := time.NewTicker(sessionCheck)
	defer func() {
		ping.Stop()
		check.Stop()
		h.leave(ctx, c)
		c.conn.Close()
	}()
	for {
		select {
		case <-c.done:
			c.conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseGoingAway, "resync"),
				time.Now().Add(time.Second))
			return
		case b := <-c.send:
			c.conn.SetWriteDeadline(time.Now().Add(writeWait))
			if err := c.conn.WriteMessage(websocket.TextMessage, b); err != nil {
				return
			}
		case <-ping.C:
			if err := c.conn.WriteControl(websocket.PingMessage, nil, time.Now().Add(writeWait)); err != nil {
				return
			}
		case <-check.C:
			a, err := h.auth.Check(ctx, sess)
			if err != nil {
				c.conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(4001, "signed out"),
					time.Now().Add(time.Second))
				return
			}
			if !slices.Equal(a.Teams, c.acct.Teams) || !slices.Equal(a.Roles, c.acct.Roles) {
				return // the panel reconnects with the new teams and roles
			}
		}
	}
}
