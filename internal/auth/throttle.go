package auth

import (
	"sync"
	"time"
)

// throttle allows at most limit attempts per key in any window (a sliding window, so a
// burst at the end of one minute and the start of the next is still one burst). It uses
// the service's clock, so tests can move time.
type throttle struct {
	mu     sync.Mutex
	limit  int
	window time.Duration
	now    func() time.Time
	hits   map[string][]time.Time
	lastGC time.Time
}

func newThrottle(limit int, window time.Duration, now func() time.Time) *throttle {
	return &throttle{limit: limit, window: window, now: now, hits: map[string][]time.Time{}}
}

// Allow records an attempt for key and reports whether it is within the limit.
func (t *throttle) Allow(key string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	cut := now.Add(-t.window)
	if now.Sub(t.lastGC) > t.window {
		t.lastGC = now
		for k, hs := range t.hits {
			if len(hs) == 0 || !hs[len(hs)-1].After(cut) {
				delete(t.hits, k)
			}
		}
	}
	hs := t.hits[key]
	i := 0
	for i < len(hs) && !hs[i].After(cut) {
		i++
	}
	hs = hs[i:]
	if len(hs) >= t.limit {
		t.hits[key] = hs
		return false
	}
	t.hits[key] = append(hs, now)
	return true
}
