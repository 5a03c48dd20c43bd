package handoff

import (
	"fmt"
	"time"

	"github.com/conciergehq/concierge/internal/config"
)

// Hours is a team's business hours: when people answer. SLA timers run only while the
// hours are open, and an escalation while they are closed becomes an offline ticket.
type Hours struct {
	loc      *time.Location
	weekly   [7][]config.Range // by time.Weekday
	holidays map[string]bool   // YYYY-MM-DD in loc
	always   bool
}

// NewHours builds the calendar of a configured schedule (already validated).
func NewHours(c config.Hours) (*Hours, error) {
	h := &Hours{loc: time.UTC, holidays: map[string]bool{}}
	if c.Timezone != "" {
		loc, err := time.LoadLocation(c.Timezone)
		if err != nil {
			return nil, fmt.Errorf("handoff: hours: %w", err)
		}
		h.loc = loc
	}
	if len(c.Weekly) == 0 {
		h.always = true
	}
	for i, day := range config.Weekdays {
		r, err := config.ParseRanges(c.Weekly[day])
		if err != nil {
			return nil, fmt.Errorf("handoff: hours %s: %w", day, err)
		}
		h.weekly[i] = r
	}
	for _, d := range c.Holidays {
		h.holidays[d] = true
	}
	if !h.always && h.empty() {
		return nil, fmt.Errorf("handoff: hours: the weekly schedule has no open time")
	}
	return h, nil
}

// AlwaysOpen is a calendar with no closed time.
func AlwaysOpen() *Hours { return &Hours{loc: time.UTC, always: true} }

func (h *Hours) empty() bool {
	for _, r := range h.weekly {
		if len(r) > 0 {
			return false
		}
	}
	return true
}

// Location is the calendar's time zone.
func (h *Hours) Location() *time.Location { return h.loc }

// spans returns the open intervals of the local day containing t.
func (h *Hours) spans(day time.Time) [][2]time.Time {
	y, m, d := day.Date()
	if h.holidays[fmt.Sprintf("%04d-%02d-%02d", y, m, d)] {
		return nil
	}
	var out [][2]time.Time
	for _, r := range h.weekly[day.Weekday()] {
		// time.Date normalises minutes past midnight, and handles DST days correctly.
		from := time.Date(y, m, d, 0, r.From, 0, 0, h.loc)
		to := time.Date(y, m, d, 0, r.To, 0, 0, h.loc)
		out = append(out, [2]time.Time{from, to})
	}
	return out
}

// maxDays bounds the search for open time (a year of holidays cannot hide all of it).
const maxDays = 800

// Open reports whether the hours are open at t.
func (h *Hours) Open(t time.Time) bool {
	if h.always {
		return true
	}
	for _, s := range h.spans(t.In(h.loc)) {
		if !t.Before(s[0]) && t.Before(s[1]) {
			return true
		}
	}
	return false
}

// NextOpen is t when open, else the start of the next open interval.
func (h *Hours) NextOpen(t time.Time) time.Time {
	if h.always || h.Open(t) {
		return t
	}
	local := t.In(h.loc)
	for i := 0; i < maxDays; i++ {
		day := time.Date(local.Year(), local.Month(), local.Day()+i, 12, 0, 0, 0, h.loc)
		for _, s := range h.spans(day) {
			if s[0].After(t) {
				return s[0]
			}
		}
	}
	return t // unreachable with a validated schedule
}

// Elapsed is the open time between a and b (zero when b is before a).
func (h *Hours) Elapsed(a, b time.Time) time.Duration {
	if !b.After(a) {
		return 0
	}
	if h.always {
		return b.Sub(a)
	}
	var total time.Duration
	local := a.In(h.loc)
	for i := 0; i < maxDays*10; i++ {
		day := time.Date(local.Year(), local.Month(), local.Day()+i, 12, 0, 0, 0, h.loc)
		y, m, d := day.Date()
		if time.Date(y, m, d, 0, 0, 0, 0, h.loc).After(b) {
			break
		}
		for _, s := range h.spans(day) {
			from, to := maxTime(s[0], a), minTime(s[1], b)
			if to.After(from) {
				total += to.Sub(from)
			}
		}
	}
	return total
}

// Add is the moment d of open time after t: when a timer started at t with d to run
// expires if it pauses while the hours are closed.
func (h *Hours) Add(t time.Time, d time.Duration) time.Time {
	if h.always {
		return t.Add(d)
	}
	left := d
	local := t.In(h.loc)
	for i := 0; i < maxDays*10; i++ {
		day := time.Date(local.Year(), local.Month(), local.Day()+i, 12, 0, 0, 0, h.loc)
		for _, s := range h.spans(day) {
			from := maxTime(s[0], t)
			if !s[1].After(from) {
				continue
			}
			if span := s[1].Sub(from); span >= left {
				return from.Add(left)
			} else {
				left -= span
			}
		}
	}
	return t.Add(d)
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}
