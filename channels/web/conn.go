package web

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/gorilla/websocket"

	"github.com/conciergehq/concierge"
	"github.com/conciergehq/concierge/internal/httpx"
)

const (
	writeWait = 10 * time.Second
	helloWait = 20 * time.Second
	// hardFrameLimit fails the connection (gorilla's read limit); frames between the
	// text limit and this are answered with an error frame and the connection stays up.
	hardFrameLimit = 1 << 20
	catchUpPage    = 200
)

// conn is one widget connection. It has one goroutine while idle: the reader. Frames to
// send go through a bounded queue drained by a pump goroutine that runs only while there
// is something to send, so an idle connection costs a reader's stack and a few small
// structs (see BenchmarkIdleConnectionMemory).
//
// The pump owns the delivery cursor (conv, sent): every message frame leaves through it,
// and a gap between the cursor and an event is filled from the store, so messages reach
// the client exactly once and in sequence order whatever order the bus delivers them in.
type conn struct {
	ch *Channel
	ws *websocket.Conn
	ip string

	// Set by the reader at hello and only read afterwards.
	key      string
	profile  concierge.Profile
	page     string
	locale   string
	metaSent bool
	lastType time.Time
	typingOn bool

	// current is the conversation the pump follows, for the reader's typing frames.
	current atomic.Int64

	mu      sync.Mutex
	queue   []item
	running bool // a pump goroutine is draining the queue
	closed  bool
	unConv  func() // stops listening to the followed conversation
	unVis   func() // stops listening to the visitor's topic

	// Owned by the pump.
	conv int64
	sent int64
}

type itemKind uint8

const (
	itemFrame  itemKind = iota // write frame
	itemEvent                  // a bus event to turn into frames
	itemFollow                 // follow conversation conv from seq after (tail: catch up only)
	itemPing                   // WebSocket ping
	itemClose                  // close the connection with code and reason
)

type item struct {
	kind  itemKind
	frame []byte
	ev    concierge.Event
	conv  int64
	after int64
	tail  bool
	// told is the conversation's status the client already has (itemFollow).
	told concierge.Status
	code int
}

// serveWS upgrades a widget connection and returns at once: the reader goroutine carries
// on, so net/http's per-request state is freed.
func (ch *Channel) serveWS(w http.ResponseWriter, r *http.Request) {
	ip := httpx.ClientIP(r, ch.opts.TrustProxy)
	if !ch.connects.Allow(ip) {
		w.Header().Set("Retry-After", "10")
		http.Error(w, "too many connections from your address; try again shortly", http.StatusTooManyRequests)
		return
	}
	ws, err := ch.upgrader.Upgrade(w, r, nil)
	if err != nil {
		return // the upgrader answered (403 for a foreign origin)
	}
	c := &conn{ch: ch, ws: ws, ip: ip}
	if !ch.add(c) {
		c.goAway(websocket.CloseGoingAway, "server shutting down")
		return
	}
	go c.read()
}

func (c *conn) read() {
	defer c.close()
	ws := c.ws
	ws.SetReadLimit(hardFrameLimit)
	readWait := 2*c.ch.opts.PingInterval + writeWait
	ws.SetPongHandler(func(string) error { return ws.SetReadDeadline(time.Now().Add(readWait)) })
	_ = ws.SetReadDeadline(time.Now().Add(helloWait))
	maxFrame := int64(2*c.ch.opts.MaxTextBytes + 2048)
	helloed, refused := false, false
	for {
		typ, r, err := ws.NextReader()
		if err != nil {
			return
		}
		if helloed {
			_ = ws.SetReadDeadline(time.Now().Add(readWait))
		}
		if typ != websocket.TextMessage {
			_, _ = io.Copy(io.Discard, r)
			c.sendError(CodeBadFrame, "frames are JSON text", "", 0)
			continue
		}
		data, err := io.ReadAll(io.LimitReader(r, maxFrame+1))
		if err != nil {
			return
		}
		if int64(len(data)) > maxFrame {
			if _, err := io.Copy(io.Discard, r); err != nil {
				return
			}
			c.sendError(CodeTooLarge, "frame of more than "+strconv.FormatInt(maxFrame, 10)+" bytes", "", 0)
			continue
		}
		var f clientFrame
		if err := json.Unmarshal(data, &f); err != nil {
			c.sendError(CodeBadFrame, "malformed JSON frame", "", 0)
			continue
		}
		if !helloed {
			switch {
			case refused:
				// The pump writes the refusal and closes; nothing else is taken meanwhile.
			case f.Type != frameHello:
				c.sendError(CodeHelloRequired, "send hello first", f.ID, 0)
			default:
				switch c.hello(&f) {
				case helloFailed:
					return
				case helloRefused:
					refused = true
				default:
					helloed = true
					_ = ws.SetReadDeadline(time.Now().Add(readWait))
				}
			}
			continue
		}
		switch f.Type {
		case frameMessage:
			c.message(&f)
		case frameTyping:
			c.typing(f.On)
		case framePing:
			c.pushFrame(pongFrame{Type: framePong})
		case frameHello:
			c.sendError(CodeBadFrame, "hello was already sent; reconnect to change identity", "", 0)
		default:
			c.sendError(CodeBadFrame, "unknown frame type", f.ID, 0)
		}
	}
}

type helloResult int

const (
	helloOK      helloResult = iota
	helloRefused             // an error frame and a close are queued
	helloFailed              // close at once
)

// hello identifies the visitor and starts following their conversation.
func (c *conn) hello(f *clientFrame) helloResult {
	ch := c.ch
	profile, verified, code := ch.identify(f.User)
	switch code {
	case CodeIdentityRequired:
		c.sendError(code, "this chat needs a signed-in user verified by the site", "", 0)
		c.push(item{kind: itemClose, code: websocket.ClosePolicyViolation})
		return helloRefused
	case CodeIdentityInvalid:
		if ch.opts.IdentityRequired {
			c.sendError(code, "the user_hash does not match the user id", "", 0)
			c.push(item{kind: itemClose, code: websocket.ClosePolicyViolation})
			return helloRefused
		}
		c.sendError(code, "the user_hash does not match the user id; continuing as an anonymous visitor", "", 0)
	}
	c.profile = profile
	c.page, c.locale = clip(f.Page), clip(f.Locale)

	ctx, cancel := context.WithTimeout(ch.base, 10*time.Second)
	defer cancel()
	welcome := welcomeFrame{Type: frameWelcome, Verified: verified, MaxText: ch.opts.MaxTextBytes}
	token := f.Token
	if !ch.validToken(token) {
		token = ch.NewToken()
		welcome.Token = token
	}
	c.key = VisitorKey(token)
	contact, err := ch.store.ContactByExternal(ctx, ChannelName, c.key)
	if err == nil && verified && contact.Verified && contact.Attributes["user_id"] != "" &&
		contact.Attributes["user_id"] != profile.Attributes["user_id"] {
		// Another signed-in user on a browser that was not reset: never show them the
		// previous user's conversations. They become a new visitor.
		token = ch.NewToken()
		welcome.Token, c.key = token, VisitorKey(token)
		err = concierge.ErrNotFound
	}
	if err != nil && !errors.Is(err, concierge.ErrNotFound) {
		ch.log.Error().Err(err).Msg("cannot look up widget visitor")
		c.sendError(CodeUnavailable, "the server cannot load your conversation; reconnect", "", 0)
		c.push(item{kind: itemClose, code: websocket.CloseTryAgainLater})
		return helloRefused
	}
	// Listen for the visitor's new conversations before looking up the current one, so
	// a conversation another tab starts meanwhile is not missed.
	c.listenVisitor()
	if err == nil {
		latest, lerr := ch.store.LatestConversation(ctx, contact.ID)
		if lerr != nil && !errors.Is(lerr, concierge.ErrNotFound) {
			ch.log.Error().Err(lerr).Msg("cannot load widget visitor's conversation")
			c.sendError(CodeUnavailable, "the server cannot load your conversation; reconnect", "", 0)
			c.push(item{kind: itemClose, code: websocket.CloseTryAgainLater})
			return helloRefused
		}
		if lerr == nil {
			welcome.ConversationID, welcome.Status = latest.ID, latest.Status
			c.pushFrame(welcome)
			c.resume(ctx, contact, latest, f.ConversationID, f.Seq)
			return helloOK
		}
	}
	c.pushFrame(welcome)
	return helloOK
}

// resume queues what the client missed: the tail of the conversation it last saw, if that
// is an older one of this contact, then the current conversation after the client's
// sequence number (or its recent history for a fresh window).
func (c *conn) resume(ctx context.Context, contact concierge.Contact, latest concierge.Conversation, convID, seq int64) {
	after := max(0, latest.LastSeq-int64(c.ch.opts.History))
	switch {
	case convID == latest.ID && seq > 0:
		after = min(seq, latest.LastSeq)
	case convID != 0 && convID < latest.ID && seq > 0:
		// Only ever this contact's own conversations.
		if old, err := c.ch.store.Conversation(ctx, convID); err == nil && old.ContactID == contact.ID && seq < old.LastSeq {
			c.push(item{kind: itemFollow, conv: old.ID, after: seq, tail: true})
		}
	}
	c.push(item{kind: itemFollow, conv: latest.ID, after: after, told: latest.Status})
}

func (c *conn) listenVisitor() {
	cancel := c.ch.bus.Listen(visitorTopic(c.key), c.onEvent)
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		cancel()
		return
	}
	c.unVis = cancel
	c.mu.Unlock()
}

// visitorTopic carries a visitor's new conversations to all their open windows.
func visitorTopic(key string) string { return "web.visitor." + key }

// onEvent runs inside the bus's Publish: it only queues.
func (c *conn) onEvent(ev concierge.Event) { c.push(item{kind: itemEvent, ev: ev}) }

func (c *conn) message(f *clientFrame) {
	ch := c.ch
	switch {
	case !validClientID(f.ID):
		c.sendError(CodeInvalid, "message id must be 1 to 64 letters, digits, '-' or '_'", "", 0)
		return
	case len(f.Text) > ch.opts.MaxTextBytes:
		c.sendError(CodeTooLarge, "message of "+strconv.Itoa(len(f.Text))+" bytes; the limit is "+
			strconv.Itoa(ch.opts.MaxTextBytes), f.ID, 0)
		return
	case len(f.Payload) > 256 || !utf8.ValidString(f.Text):
		c.sendError(CodeInvalid, "payload too long or text not UTF-8", f.ID, 0)
		return
	case f.Action != "" && f.Action != string(concierge.ActionHuman):
		c.sendError(CodeInvalid, "unknown action", f.ID, 0)
		return
	}
	if !ch.perVisitor.Allow(c.key) {
		c.sendError(CodeRateLimited, "too many messages; slow down", f.ID, int64(60000/ch.opts.RatePerVisitor)+1)
		return
	}
	if !ch.perIP.Allow(c.ip) {
		c.sendError(CodeRateLimited, "too many messages from your network; slow down", f.ID, int64(60000/ch.opts.RatePerIP)+1)
		return
	}
	in := concierge.Inbound{Channel: ChannelName, ContactID: c.key, MessageID: scopedID(c.key, f.ID),
		Profile: c.profile, Text: strings.TrimSpace(f.Text), Payload: f.Payload, Action: concierge.Action(f.Action)}
	if !c.metaSent && (c.page != "" || c.locale != "") {
		// Where the visitor is writing from, for the agent; once per connection.
		in.Meta = map[string]string{}
		if c.page != "" {
			in.Meta["page"] = c.page
		}
		if c.locale != "" {
			in.Meta["locale"] = c.locale
		}
	}
	if err := in.Validate(ch.opts.MaxTextBytes); err != nil {
		c.sendError(CodeInvalid, "empty message", f.ID, 0)
		return
	}
	ctx, cancel := context.WithTimeout(ch.base, 15*time.Second)
	defer cancel()
	rec, err := ch.gw.Receive(ctx, in)
	if err != nil {
		if errors.Is(err, concierge.ErrInvalid) {
			c.sendError(CodeInvalid, "message refused", f.ID, 0)
			return
		}
		ch.log.Error().Err(err).Msg("cannot store widget message")
		c.sendError(CodeUnavailable, "the message could not be saved; it will be resent", f.ID, 2000)
		return
	}
	c.metaSent = true
	if rec.Started {
		// Every window of this visitor (this one included) moves to the new conversation.
		ch.bus.Publish(visitorTopic(c.key), concierge.Event{Kind: concierge.EventStatus,
			ConversationID: rec.Conversation.ID, Conversation: &rec.Conversation, At: time.Now()})
	}
	c.pushFrame(ackFrame{Type: frameAck, ID: f.ID, ConversationID: rec.Message.ConversationID,
		Seq: rec.Message.Seq, Duplicate: rec.Duplicate})
}

// typing passes the visitor's typing on, at most one "on" every two seconds.
func (c *conn) typing(on bool) {
	conv := c.current.Load()
	if conv == 0 {
		return
	}
	now := time.Now()
	if on && c.typingOn && now.Sub(c.lastType) < 2*time.Second {
		return
	}
	if !on && !c.typingOn {
		return
	}
	c.typingOn, c.lastType = on, now
	ctx, cancel := context.WithTimeout(c.ch.base, 5*time.Second)
	defer cancel()
	c.ch.gw.Typing(ctx, conv, concierge.Typing{Sender: concierge.SenderUser, On: on})
}

func (c *conn) sendError(code, msg, id string, retryMS int64) {
	c.pushFrame(errorFrame{Type: frameError, Code: code, Message: msg, ID: id, RetryAfterMS: retryMS})
}

func (c *conn) pushFrame(v any) {
	b, err := json.Marshal(v)
	if err != nil {
		c.ch.log.Error().Err(err).Msg("cannot encode widget frame")
		return
	}
	c.push(item{kind: itemFrame, frame: b})
}

// push queues an item and starts the pump if it is not running. A connection whose
// queue is full is too slow: it is dropped and will resume from its last sequence number.
func (c *conn) push(it item) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	if len(c.queue) >= c.ch.opts.SendQueue {
		c.closed = true
		c.mu.Unlock()
		c.ch.metrics.Drop("widget")
		c.ch.log.Info().Str("ip", c.ip).Msg("dropping a widget connection that does not keep up; it resumes when it reconnects")
		_ = c.ws.Close() // the reader fails and cleans up; nothing here may block the bus
		if c.ch.dropped != nil {
			select {
			case c.ch.dropped <- struct{}{}:
			default:
			}
		}
		return
	}
	c.queue = append(c.queue, it)
	start := !c.running
	c.running = true
	c.mu.Unlock()
	if start {
		go c.pump()
	}
}

func (c *conn) pump() {
	for {
		c.mu.Lock()
		if c.closed || len(c.queue) == 0 {
			c.running = false
			c.queue = nil // an idle connection keeps no queue
			c.mu.Unlock()
			return
		}
		it := c.queue[0]
		c.queue[0] = item{}
		c.queue = c.queue[1:]
		c.mu.Unlock()
		if err := c.handle(it); err != nil {
			if !errors.Is(err, errClosing) {
				c.ch.log.Debug().Err(err).Msg("widget connection failed")
			}
			_ = c.ws.Close()
			c.mu.Lock()
			c.closed, c.running, c.queue = true, false, nil
			c.mu.Unlock()
			return
		}
	}
}

var errClosing = errors.New("closing")

func (c *conn) handle(it item) error {
	switch it.kind {
	case itemFrame:
		return c.write(it.frame)
	case itemPing:
		return c.ws.WriteControl(websocket.PingMessage, nil, time.Now().Add(writeWait))
	case itemClose:
		_ = c.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(it.code, ""), time.Now().Add(time.Second))
		return errClosing
	case itemFollow:
		if it.tail {
			_, err := c.catchUp(it.conv, it.after)
			return err
		}
		return c.follow(it.conv, it.after, it.told)
	case itemEvent:
		return c.event(&it.ev)
	}
	return nil
}

// follow moves the cursor to a conversation: listen to its topic first, then catch up
// from the store, so nothing stored in between is missed (duplicates are skipped by seq).
// The status is caught up the same way: a change published before the listening began
// (the bot closing or escalating a conversation at its first message, while this window
// was still switching to it) reached nobody, so the stored status is compared with told.
func (c *conn) follow(conv, after int64, told concierge.Status) error {
	cancel := c.ch.bus.Listen(concierge.ConversationTopic(conv), c.onEvent)
	c.mu.Lock()
	old := c.unConv
	c.unConv = cancel
	closed := c.closed
	c.mu.Unlock()
	if old != nil {
		old()
	}
	if closed {
		cancel()
		return errClosing
	}
	c.conv, c.sent = conv, after
	c.current.Store(conv)
	sent, err := c.catchUp(conv, after)
	c.sent = sent
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(c.ch.base, 10*time.Second)
	defer cancel()
	stored, err := c.ch.store.Conversation(ctx, conv)
	if err != nil || stored.Status == told {
		return err
	}
	// A later change may also arrive as an event and be told twice; a status frame is a
	// state, so the client takes it as often as it comes.
	return c.writeJSON(statusFrame{Type: frameStatus, ConversationID: conv, Status: stored.Status})
}

// catchUp writes the messages of conv after seq from the store and returns the last
// sequence number written.
func (c *conn) catchUp(conv, after int64) (int64, error) {
	ctx, cancel := context.WithTimeout(c.ch.base, 10*time.Second)
	defer cancel()
	for {
		msgs, err := c.ch.store.Messages(ctx, conv, after, catchUpPage, false)
		if err != nil {
			return after, err
		}
		for i := range msgs {
			if err := c.write(c.ch.frames.message(&msgs[i])); err != nil {
				return after, err
			}
			after = msgs[i].Seq
		}
		if len(msgs) < catchUpPage {
			return after, nil
		}
	}
}

func (c *conn) event(ev *concierge.Event) error {
	switch ev.Kind {
	case concierge.EventMessage:
		m := ev.Message
		if m == nil || ev.ConversationID != c.conv || m.Internal || m.Seq <= c.sent {
			return nil
		}
		if m.Seq == c.sent+1 {
			if err := c.write(c.ch.frames.message(m)); err != nil {
				return err
			}
			c.sent = m.Seq
			return nil
		}
		// A gap: an earlier message's event is late or was lost. The store has it.
		sent, err := c.catchUp(c.conv, c.sent)
		c.sent = sent
		return err
	case concierge.EventTyping:
		if ev.Typing == nil || ev.ConversationID != c.conv || ev.Typing.Sender == concierge.SenderUser {
			return nil
		}
		return c.writeJSON(typingFrame{Type: frameTyping, Sender: ev.Typing.Sender, Name: ev.Typing.Name, On: ev.Typing.On})
	case concierge.EventStatus:
		if ev.ConversationID < c.conv || ev.Conversation == nil {
			return nil
		}
		if err := c.writeJSON(statusFrame{Type: frameStatus, ConversationID: ev.ConversationID, Status: ev.Conversation.Status}); err != nil {
			return err
		}
		if ev.ConversationID > c.conv {
			// The visitor started a new conversation (here or in another window).
			return c.follow(ev.ConversationID, 0, ev.Conversation.Status)
		}
		return nil
	}
	return nil
}

func (c *conn) writeJSON(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return c.write(b)
}

func (c *conn) write(b []byte) error {
	if err := c.ws.SetWriteDeadline(time.Now().Add(writeWait)); err != nil {
		return err
	}
	return c.ws.WriteMessage(websocket.TextMessage, b)
}

// goAway closes the connection with a close frame (shutdown).
func (c *conn) goAway(code int, reason string) {
	_ = c.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, reason), time.Now().Add(time.Second))
	_ = c.ws.Close()
}

// close ends the connection: called once, by the reader on its way out.
func (c *conn) close() {
	c.mu.Lock()
	c.closed = true
	c.queue = nil
	unConv, unVis := c.unConv, c.unVis
	c.unConv, c.unVis = nil, nil
	c.mu.Unlock()
	if unConv != nil {
		unConv()
	}
	if unVis != nil {
		unVis()
	}
	if c.typingOn {
		if conv := c.current.Load(); conv != 0 {
			c.ch.gw.Typing(c.ch.base, conv, concierge.Typing{Sender: concierge.SenderUser, On: false})
		}
	}
	_ = c.ws.Close()
	c.ch.remove(c)
}

// frameCache encodes a message once for all the connections it fans out to.
type frameCache struct {
	last atomic.Pointer[cachedFrame]
}

type cachedFrame struct {
	id, seq int64
	b       []byte
}

func (fc *frameCache) message(m *concierge.Message) []byte {
	if c := fc.last.Load(); c != nil && c.id == m.ID && c.seq == m.Seq && m.ID != 0 {
		return c.b
	}
	b, _ := json.Marshal(newMessageFrame(m)) // plain values: cannot fail
	fc.last.Store(&cachedFrame{id: m.ID, seq: m.Seq, b: b})
	return b
}
