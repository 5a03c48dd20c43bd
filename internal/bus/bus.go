// Package bus fans events out to whoever listens: widget connections, agent panels, the
// search index. This is the in-process implementation; a NATS one can replace it behind
// the same two methods when several instances share the work.
package bus

import (
	"sync"
	"sync/atomic"

	"github.com/conciergehq/concierge"
)

// Bus is an in-process publish/subscribe hub. Publishing never blocks: a subscriber whose
// buffer is full is dropped (its channel closed) so one slow reader cannot stall the rest;
// the subscriber notices the closed channel and resynchronises from the store.
type Bus struct {
	mu     sync.RWMutex
	topics map[string]map[*Subscription]struct{}
	drops  atomic.Int64
}

// New returns an empty bus.
func New() *Bus { return &Bus{topics: map[string]map[*Subscription]struct{}{}} }

// Subscription is one listener on one topic.
type Subscription struct {
	C     <-chan concierge.Event
	c     chan concierge.Event
	fn    func(concierge.Event) // set for Listen subscriptions (no channel)
	topic string
	bus   *Bus
	once  sync.Once
}

// Subscribe listens on topic with a buffer of size events.
func (b *Bus) Subscribe(topic string, size int) *Subscription {
	if size < 1 {
		size = 1
	}
	c := make(chan concierge.Event, size)
	s := &Subscription{C: c, c: c, topic: topic, bus: b}
	b.add(s)
	return s
}

// Listen calls fn with every event published on topic until the returned cancel is
// called. fn runs inside Publish, so it must not block and must not call cancel or
// Subscribe/Listen itself: it hands the event to its own queue. It costs no goroutine
// and no buffer, which is what lets a server hold many idle widget connections (a NATS
// implementation maps it onto a subscription callback).
func (b *Bus) Listen(topic string, fn func(concierge.Event)) (cancel func()) {
	s := &Subscription{fn: fn, topic: topic, bus: b}
	b.add(s)
	return s.Close
}

func (b *Bus) add(s *Subscription) {
	topic := s.topic
	b.mu.Lock()
	subs := b.topics[topic]
	if subs == nil {
		subs = map[*Subscription]struct{}{}
		b.topics[topic] = subs
	}
	subs[s] = struct{}{}
	b.mu.Unlock()
}

// Close stops the subscription; its channel is closed. Safe to call more than once.
func (s *Subscription) Close() {
	s.bus.mu.Lock()
	s.bus.remove(s)
	s.bus.mu.Unlock()
}

// remove must be called with mu held.
func (b *Bus) remove(s *Subscription) {
	if subs := b.topics[s.topic]; subs != nil {
		delete(subs, s)
		if len(subs) == 0 {
			delete(b.topics, s.topic)
		}
	}
	s.once.Do(func() {
		if s.c != nil {
			close(s.c)
		}
	})
}

// Publish delivers ev to every subscriber of topic without waiting.
func (b *Bus) Publish(topic string, ev concierge.Event) {
	b.mu.RLock()
	var slow []*Subscription
	for s := range b.topics[topic] {
		if s.fn != nil {
			s.fn(ev)
			continue
		}
		select {
		case s.c <- ev:
		default:
			slow = append(slow, s)
		}
	}
	b.mu.RUnlock()
	if len(slow) == 0 {
		return
	}
	b.mu.Lock()
	for _, s := range slow {
		b.remove(s)
	}
	b.mu.Unlock()
	b.drops.Add(int64(len(slow)))
}

// Subscribers counts the listeners on a topic.
func (b *Bus) Subscribers(topic string) int {
	b.mu.RLock()
	defer b.mu.RUnlock()
	return len(b.topics[topic])
}

// Drops counts subscribers dropped for being too slow since start.
func (b *Bus) Drops() int64 { return b.drops.Load() }
