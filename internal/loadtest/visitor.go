package loadtest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// frame is every field of the server's frames that the load tool reads
// (docs/widget-protocol.md).
type frame struct {
	Type           string `json:"type"`
	Token          string `json:"token"`
	ID             string `json:"id"`
	ConversationID int64  `json:"conversation_id"`
	Seq            int64  `json:"seq"`
	Duplicate      bool   `json:"duplicate"`
	Sender         string `json:"sender"`
	ClientID       string `json:"client_id"`
	Status         string `json:"status"`
	Code           string `json:"code"`
}

// inflight is the one question a visitor is waiting on.
type inflight struct {
	id     string
	text   string
	at     time.Time // when it was scheduled
	acked  bool
	echoed bool // its own message came back in the conversation's stream
	resent bool
}

// visitor is one widget client: a WebSocket, the visitor token it was given, and the
// accounting of what it sent and received.
type visitor struct {
	r *run
	n int

	mu      sync.Mutex // guards everything below and serialises writes
	conn    *websocket.Conn
	token   string
	conv    int64
	lastSeq int64
	nextID  int
	wait    *inflight
	last    *inflight // the question answered last
	acked   map[string]bool
	closing bool
	pooled  bool // in run.free (at most once)
}

var dialer = &websocket.Dialer{
	HandshakeTimeout: 30 * time.Second,
	// Small buffers: the tool shares the machine with the server it measures.
	ReadBufferSize:  2048,
	WriteBufferSize: 1024,
	NetDialContext:  (&net.Dialer{Timeout: 30 * time.Second}).DialContext,
}

func newVisitor(r *run, n int) *visitor {
	return &visitor{r: r, n: n, acked: map[string]bool{}}
}

// connect dials and says hello, resuming the visitor's conversation when it has one.
// Callers hold no lock.
func (v *visitor) connect(ctx context.Context) error {
	var lastErr error
	for attempt := 0; attempt < 5; attempt++ {
		if attempt > 0 {
			select {
			case <-time.After(time.Duration(attempt) * 200 * time.Millisecond):
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		conn, resp, err := dialer.DialContext(ctx, v.r.ws, nil)
		if err != nil {
			v.r.dialErrors.Add(1)
			if resp != nil {
				err = fmt.Errorf("%w (HTTP %d)", err, resp.StatusCode)
			}
			lastErr = err
			continue
		}
		v.mu.Lock()
		hello := map[string]any{"type": "hello"}
		if v.token != "" {
			hello["token"] = v.token
		}
		if v.conv != 0 {
			hello["conversation_id"], hello["seq"] = v.conv, v.lastSeq
		}
		err = conn.WriteJSON(hello)
		v.mu.Unlock()
		if err == nil {
			var w frame
			conn.SetReadDeadline(time.Now().Add(30 * time.Second))
			if err = conn.ReadJSON(&w); err == nil && w.Type != "welcome" {
				err = fmt.Errorf("the first frame is %q, not welcome (%s)", w.Type, w.Code)
			}
			conn.SetReadDeadline(time.Time{})
			if err == nil {
				v.mu.Lock()
				if w.Token != "" {
					v.token = w.Token
				}
				if w.ConversationID != v.conv {
					v.conv, v.lastSeq = w.ConversationID, 0
				}
				v.conn = conn
				v.mu.Unlock()
				v.r.connected.Add(1)
				return nil
			}
		}
		conn.Close()
		lastErr = err
	}
	return lastErr
}

// ask sends one scheduled question.
func (v *visitor) ask(ctx context.Context, j job) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.pooled = false
	v.nextID++
	w := &inflight{id: "v" + strconv.Itoa(v.n) + "-" + strconv.Itoa(v.nextID), text: j.text, at: j.at}
	v.wait = w
	v.r.sent.Add(1)
	// A failed write needs no handling here: the read loop sees the broken connection
	// too, reconnects and resends what was not acknowledged.
	v.write(map[string]any{"type": "message", "id": w.id, "text": j.text})
}

// release puts the visitor back among the free ones. Callers hold v.mu.
func (v *visitor) release() {
	if !v.pooled && !v.closing {
		v.pooled = true
		v.r.free <- v // never blocks: the channel holds every visitor once
	}
}

func (v *visitor) write(f map[string]any) error {
	if v.conn == nil {
		return errors.New("not connected")
	}
	v.conn.SetWriteDeadline(time.Now().Add(30 * time.Second))
	return v.conn.WriteJSON(f)
}

// readLoop reads frames until the run ends, reconnecting when the connection breaks.
func (v *visitor) readLoop(ctx context.Context) {
	for {
		v.mu.Lock()
		conn := v.conn
		v.mu.Unlock()
		err := v.readConn(conn)
		v.mu.Lock()
		closing := v.closing
		v.mu.Unlock()
		if closing || ctx.Err() != nil {
			return
		}
		if err != errRecycle {
			v.r.errorf("connection: " + shortErr(err))
			v.r.reconnects.Add(1)
		}
		conn.Close()
		v.r.connected.Add(-1)
		if err := v.connect(ctx); err != nil {
			if ctx.Err() == nil {
				v.r.errorf("reconnect: " + shortErr(err))
			}
			return
		}
		v.mu.Lock()
		if w := v.wait; w != nil && !w.acked {
			w.resent = true
			v.write(map[string]any{"type": "message", "id": w.id, "text": w.text})
		}
		if v.wait == nil {
			v.release()
		}
		v.mu.Unlock()
	}
}

// errRecycle ends a connection on purpose: its conversation went to a person, so the
// visitor starts over as a new one.
var errRecycle = errors.New("recycle")

func (v *visitor) readConn(conn *websocket.Conn) error {
	for {
		_, data, err := conn.ReadMessage()
		if err != nil {
			return err
		}
		now := time.Now()
		var f frame
		if err := json.Unmarshal(data, &f); err != nil {
			v.r.errorf("bad frame from the server")
			continue
		}
		switch f.Type {
		case "ack":
			v.onAck(f)
		case "message":
			v.onMessage(f, now)
		case "status":
			if f.Status == "queued" || f.Status == "assigned" {
				v.mu.Lock()
				if v.wait != nil {
					// Sent to a conversation that a person takes now: no bot reply is owed.
					v.r.handedMsgs.Add(1)
					v.wait = nil
				}
				v.r.handedOff.Add(1)
				if l := v.last; l != nil && l.echoed && !v.acked[l.id] {
					// Answered, and its ack still on the way when the bot's escalation made
					// us leave: the echo proved it stored, and we close before the ack can come.
					v.acked[l.id] = true
					v.r.acked.Add(1)
				}
				v.token, v.conv, v.lastSeq = "", 0, 0
				v.mu.Unlock()
				return errRecycle
			}
		case "error":
			v.r.errorf("server error: " + f.Code)
			if f.ID != "" {
				// The message was refused, not stored: it is owed nothing more.
				v.mu.Lock()
				if v.wait != nil && v.wait.id == f.ID {
					v.wait = nil
					v.release()
				}
				v.mu.Unlock()
			}
		}
	}
}

func (v *visitor) onAck(f frame) {
	v.mu.Lock()
	defer v.mu.Unlock()
	resent := v.wait != nil && v.wait.id == f.ID && v.wait.resent
	if v.acked[f.ID] && !(resent && f.Duplicate) {
		v.r.dupAcks.Add(1)
		return
	}
	if !v.acked[f.ID] {
		v.acked[f.ID] = true
		v.r.acked.Add(1)
	}
	// The first message after a close may start a newer conversation; never an older one.
	if f.ConversationID != 0 && f.ConversationID < v.conv {
		v.r.errorf("ack names an older conversation")
	}
	if v.wait != nil && v.wait.id == f.ID {
		v.wait.acked = true
	}
}

// onMessage checks the conversation's sequence and matches bot replies to the question
// waiting for one.
func (v *visitor) onMessage(f frame, now time.Time) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if f.ConversationID != v.conv {
		if f.ConversationID < v.conv {
			v.r.dupMessages.Add(1) // a message of a conversation already left behind
			return
		}
		v.conv, v.lastSeq = f.ConversationID, 0
	}
	switch {
	case f.Seq <= v.lastSeq:
		v.r.dupMessages.Add(1)
		return
	case f.Seq > v.lastSeq+1:
		v.r.gaps.Add(f.Seq - v.lastSeq - 1)
	}
	v.lastSeq = f.Seq
	w := v.wait
	if w == nil {
		return
	}
	if f.Sender == "user" {
		if f.ClientID == w.id {
			w.echoed = true
		}
		return
	}
	if !w.echoed {
		return // the rest of an earlier reply
	}
	v.wait, v.last = nil, w
	v.r.replied.Add(1)
	v.r.observe(now.Sub(w.at))
	v.release()
}

// owed counts the question still waiting for an ack or a reply.
func (v *visitor) owed() int {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.wait != nil {
		return 1
	}
	return 0
}

// unsettled splits what is still owed at the end into never acknowledged and never
// answered.
func (v *visitor) unsettled() (unacked, unanswered int64) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.wait == nil {
		return 0, 0
	}
	if !v.acked[v.wait.id] {
		return 1, 0
	}
	return 0, 1
}

func (v *visitor) close() {
	v.mu.Lock()
	v.closing = true
	if v.conn != nil {
		v.conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
		v.conn.Close()
	}
	v.mu.Unlock()
}

func shortErr(err error) string {
	var ce *websocket.CloseError
	if errors.As(err, &ce) {
		return "closed by the server (" + strconv.Itoa(ce.Code) + ")"
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return "timeout"
	}
	s := err.Error()
	if len(s) > 80 {
		s = s[:80]
	}
	return s
}
