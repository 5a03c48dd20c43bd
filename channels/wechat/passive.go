package wechat

import (
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"strconv"
	"time"
)

// Passive replies. WeChat lets a callback's HTTP response carry one reply to the message,
// free of the customer-service quota. The gateway answers asynchronously (the bot runs
// after the message is stored) and delivers through Deliver, so the two meet here: a
// callback queues itself for its customer before storing the message, waits up to the
// reply budget, and Deliver hands the first text it sends that customer to the oldest
// waiting callback instead of calling the API.

// pending is a callback in hand: deduplicated against WeChat's retries and, while it
// waits, the place a passive reply for its customer can be handed to.
type pending struct {
	key    string
	openID string
	state  pendingState       // guarded by Account.mu
	reply  chan *passiveReply // capacity 1: whoever takes the callback sends one reply
	gone   chan struct{}      // closed when a retry showed that WeChat gave up on it
	closed bool               // gone is closed; guarded by Account.mu
}

type pendingState int

const (
	idle    pendingState = iota // in hand, not yet waiting for a reply
	waiting                     // in Account.waiting, may be taken by Deliver
	taken                       // Deliver handed it a reply
	dropped                     // answered "success"; no reply will be taken
)

type passiveReply struct {
	text string
	done chan error // the callback reports whether the reply was written
}

// begin registers a callback under its dedupe key. A second callback with the same key
// while the first is in hand is WeChat retrying (it waited 5s for the first and dropped
// it): the first must no longer hold a reply, which would be lost with its connection.
func (a *Account) begin(key, openID string) *pending {
	a.mu.Lock()
	defer a.mu.Unlock()
	if first, ok := a.inflight[key]; ok {
		a.dropLocked(first)
		if !first.closed {
			first.closed = true
			close(first.gone)
		}
		return nil
	}
	p := &pending{key: key, openID: openID, reply: make(chan *passiveReply, 1), gone: make(chan struct{})}
	a.inflight[key] = p
	return p
}

// enqueue makes p available to Deliver. Called before the message is stored, so a reply
// produced at once cannot miss it.
func (a *Account) enqueue(p *pending) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if p.state == idle {
		p.state = waiting
		a.waiting[p.openID] = append(a.waiting[p.openID], p)
	}
}

// drop withdraws p and reports whether that worked; false means Deliver took it first
// and a reply is on its way to p.reply.
func (a *Account) drop(p *pending) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.dropLocked(p)
}

func (a *Account) dropLocked(p *pending) bool {
	switch p.state {
	case taken:
		return false
	case waiting:
		q := a.waiting[p.openID]
		for i, o := range q {
			if o == p {
				q = append(q[:i:i], q[i+1:]...)
				break
			}
		}
		if len(q) == 0 {
			delete(a.waiting, p.openID)
		} else {
			a.waiting[p.openID] = q
		}
	}
	p.state = dropped
	return true
}

func (a *Account) end(p *pending) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.dropLocked(p)
	if a.inflight[p.key] == p {
		delete(a.inflight, p.key)
	}
}

// take hands the oldest callback of a customer waiting for a reply to Deliver.
func (a *Account) take(openID string) *pending {
	a.mu.Lock()
	defer a.mu.Unlock()
	q := a.waiting[openID]
	if len(q) == 0 {
		return nil
	}
	p := q[0]
	if len(q) == 1 {
		delete(a.waiting, openID)
	} else {
		a.waiting[openID] = q[1:]
	}
	p.state = taken
	return p
}

// await holds the callback until Deliver hands it a reply or the budget is spent, then
// answers with the reply or "success".
func (a *Account) await(w http.ResponseWriter, r *http.Request, p *pending, m *callback, encrypted bool, deadline time.Time) {
	t := time.NewTimer(time.Until(deadline))
	defer t.Stop()
	var reply *passiveReply
	select {
	case reply = <-p.reply:
	case <-t.C:
	case <-p.gone:
	case <-r.Context().Done():
	}
	if reply == nil {
		a.finish(w, p, m, encrypted)
		return
	}
	reply.done <- a.writeReply(w, m, encrypted, reply.text)
}

// finish answers a callback that stops waiting: "success", or the reply Deliver handed
// it in the meantime.
func (a *Account) finish(w http.ResponseWriter, p *pending, m *callback, encrypted bool) {
	if a.drop(p) {
		ack(w)
		return
	}
	reply := <-p.reply // Deliver took p just now: its reply is already on the way
	reply.done <- a.writeReply(w, m, encrypted, reply.text)
}

// writeReply sends a passive text reply, encrypted when the callback was.
func (a *Account) writeReply(w http.ResponseWriter, m *callback, encrypted bool, text string) error {
	now := a.now()
	body := textReply(m.FromUserName, m.ToUserName, now.Unix(), text)
	if encrypted {
		var n [8]byte
		_, _ = rand.Read(n[:])
		body = encryptedReply(a.cipher, a.cfg.Token, body, strconv.FormatInt(now.Unix(), 10), hex.EncodeToString(n[:]))
	}
	rc := http.NewResponseController(w)
	_ = rc.SetWriteDeadline(time.Now().Add(2 * time.Second))
	w.Header().Set("Content-Type", "application/xml; charset=utf-8")
	if _, err := w.Write(body); err != nil {
		return err
	}
	return rc.Flush()
}

// offerPassive gives text to a callback of the customer waiting for a reply and reports
// whether it was written to WeChat.
func (a *Account) offerPassive(openID, text string) bool {
	p := a.take(openID)
	if p == nil {
		return false
	}
	reply := &passiveReply{text: text, done: make(chan error, 1)}
	p.reply <- reply
	t := time.NewTimer(10 * time.Second) // the callback writes at once; this only guards against a bug
	defer t.Stop()
	select {
	case err := <-reply.done:
		if err != nil {
			a.log.Debug().Err(err).Msg("passive reply not written; sending through the API")
		}
		return err == nil
	case <-t.C:
		return false
	}
}
