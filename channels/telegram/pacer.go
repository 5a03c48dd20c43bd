package telegram

import (
	"context"
	"slices"
	"sync"
	"time"
)

// pacer spaces messages to stay inside Telegram's limits: about one message a second per
// chat with short bursts, and about 30 a second across chats. Each send books a slot
// under one lock, so concurrent senders to a chat queue in the order they asked.
type pacer struct {
	mu      sync.Mutex
	now     func() time.Time
	perChat time.Duration // interval between a chat's messages
	burst   int           // messages a quiet chat may get at once
	global  time.Duration // minimum gap between any two messages of the bot
	// chats holds each chat's "theoretical arrival time" (GCRA): the next slot it would
	// get with no burst allowance left.
	chats map[int64]time.Time
	// paused chats: Telegram answered 429 and we wait out its retry_after.
	paused map[int64]time.Time
	// booked are the bot's upcoming send times, sorted; a chat's slot far ahead does
	// not hold up other chats, which take the free gaps before it.
	booked []time.Time
	// maxWait: a send that would wait longer is refused and retried by the outbox later,
	// so a long queue never holds a delivery worker.
	maxWait time.Duration
}

func newPacer(now func() time.Time) *pacer {
	return &pacer{now: now, perChat: time.Second, burst: 3, global: time.Second / 30,
		chats: map[int64]time.Time{}, paused: map[int64]time.Time{}, maxWait: 15 * time.Second}
}

// reserve books a slot for one message to chat and returns when it may be sent, or
// ok=false (nothing booked) when that is further away than maxWait or the chat is paused.
func (p *pacer) reserve(chat int64) (at time.Time, ok bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.now()
	if until, paused := p.paused[chat]; paused {
		if until.After(now) {
			return until, false
		}
		delete(p.paused, chat)
	}
	tau := time.Duration(p.burst-1) * p.perChat
	tat := p.chats[chat]
	at = now
	if t := tat.Add(-tau); t.After(at) {
		at = t
	}
	at = p.freeSlot(at)
	if at.Sub(now) > p.maxWait {
		return at, false
	}
	if tat.Before(at) {
		tat = at
	}
	p.chats[chat] = tat.Add(p.perChat)
	i, _ := slices.BinarySearchFunc(p.booked, at, func(a, b time.Time) int { return a.Compare(b) })
	p.booked = slices.Insert(p.booked, i, at)
	p.forget(now)
	return at, true
}

// freeSlot is the earliest time from t that is at least the global gap away from every
// booked send.
func (p *pacer) freeSlot(t time.Time) time.Time {
	for _, b := range p.booked {
		switch {
		case !b.Add(p.global).After(t): // b is far enough before t
		case !t.Add(p.global).After(b): // b is far enough after t: t fits here
			return t
		default:
			t = b.Add(p.global)
		}
	}
	return t
}

// pause keeps a chat quiet for d (Telegram answered 429 with retry_after).
func (p *pacer) pause(chat int64, d time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	until := p.now().Add(d)
	if p.paused[chat].Before(until) {
		p.paused[chat] = until
	}
}

// forget drops past bookings and chats whose slots are all free again.
func (p *pacer) forget(now time.Time) {
	cut := 0
	for cut < len(p.booked) && p.booked[cut].Add(p.global).Before(now) {
		cut++
	}
	p.booked = p.booked[cut:]
	if len(p.chats) > 1024 {
		for id, tat := range p.chats {
			if !tat.After(now) {
				delete(p.chats, id)
			}
		}
	}
}

// wait books a slot and sleeps until it; ok=false means the chat must wait longer than
// a delivery should block, for the returned duration.
func (p *pacer) wait(ctx context.Context, chat int64) (wait time.Duration, ok bool, err error) {
	at, ok := p.reserve(chat)
	d := at.Sub(p.now())
	if !ok {
		return max(d, time.Second), false, nil
	}
	if d <= 0 {
		return 0, true, nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return d, true, nil
	case <-ctx.Done():
		return d, false, ctx.Err()
	}
}
