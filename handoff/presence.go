package handoff

import (
	"sync"
	"time"
)

// Presence is whether an agent can take conversations now.
type Presence string

const (
	Online  Presence = "online"  // takes new conversations
	Away    Presence = "away"    // keeps their conversations, gets no new ones
	Offline Presence = "offline" // no panel open (or chose offline); conversations re-queued after the grace period
)

// Valid reports whether p is one of the three states.
func (p Presence) Valid() bool { return p == Online || p == Away || p == Offline }

// presence tracks agents' panel connections and manual choices. It lives in memory: after
// a restart everyone is offline until their panels reconnect (they do so by themselves),
// and the grace period gives them time to.
type presence struct {
	mu     sync.Mutex
	agents map[int64]*agentPresence
	start  time.Time
}

type agentPresence struct {
	conns  int
	manual Presence // online, away or offline as the agent chose; online by default
	// since is when the agent last went offline (zero while connected).
	since time.Time
	// requeued: the conversations left behind were re-queued for this offline spell.
	requeued bool
}

func newPresence(start time.Time) *presence {
	return &presence{agents: map[int64]*agentPresence{}, start: start}
}

func (p *presence) get(id int64) *agentPresence {
	a := p.agents[id]
	if a == nil {
		a = &agentPresence{manual: Online, since: p.start}
		p.agents[id] = a
	}
	return a
}

func (a *agentPresence) status() Presence {
	if a.conns == 0 {
		return Offline
	}
	return a.manual
}

// connect counts a panel connection and returns the status before and after.
func (p *presence) connect(id int64) (before, after Presence) {
	p.mu.Lock()
	defer p.mu.Unlock()
	a := p.get(id)
	before = a.status()
	a.conns++
	if a.manual == Offline {
		// Opening the panel again means coming back.
		a.manual = Online
	}
	if after = a.status(); after != Offline {
		a.since, a.requeued = time.Time{}, false
	}
	return before, after
}

// disconnect drops a panel connection at now.
func (p *presence) disconnect(id int64, now time.Time) (before, after Presence) {
	p.mu.Lock()
	defer p.mu.Unlock()
	a := p.get(id)
	before = a.status()
	if a.conns > 0 {
		a.conns--
	}
	after = a.status()
	if after == Offline && before != Offline {
		a.since, a.requeued = now, false
	}
	return before, after
}

// set records the agent's own choice at now.
func (p *presence) set(id int64, s Presence, now time.Time) (before, after Presence) {
	p.mu.Lock()
	defer p.mu.Unlock()
	a := p.get(id)
	before = a.status()
	a.manual = s
	after = a.status()
	switch {
	case after == Offline && before != Offline:
		a.since, a.requeued = now, false
	case after != Offline:
		a.since, a.requeued = time.Time{}, false
	}
	return before, after
}

// status returns an agent's presence.
func (p *presence) status(id int64) Presence {
	p.mu.Lock()
	defer p.mu.Unlock()
	if a := p.agents[id]; a != nil {
		return a.status()
	}
	return Offline
}

// due returns the offline agents among ids whose grace period ran out at now and whose
// conversations were not yet re-queued, and marks them re-queued.
func (p *presence) due(ids []int64, now time.Time, grace time.Duration) []int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []int64
	for _, id := range ids {
		a := p.get(id)
		if a.status() == Offline && !a.requeued && !now.Before(a.since.Add(grace)) {
			a.requeued = true
			out = append(out, id)
		}
	}
	return out
}

// unmark lets a failed re-queue be retried at the next sweep.
func (p *presence) unmark(id int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if a := p.agents[id]; a != nil {
		a.requeued = false
	}
}
