package handoff

import (
	"testing"
	"time"

	"github.com/conciergehq/concierge/internal/config"
)

func berlinWeekdays(t *testing.T) *Hours {
	t.Helper()
	h, err := NewHours(config.Hours{
		Timezone: "Europe/Berlin",
		Weekly: map[string]string{"mon": "09:00-12:00, 13:00-17:00", "tue": "09:00-17:00", "wed": "09:00-17:00",
			"thu": "09:00-17:00", "fri": "09:00-17:00"},
		Holidays: []string{"2026-12-25"},
	})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func at(t *testing.T, s string) time.Time {
	t.Helper()
	loc, _ := time.LoadLocation("Europe/Berlin")
	v, err := time.ParseInLocation("2006-01-02 15:04", s, loc)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestHoursOpenAndNextOpen(t *testing.T) {
	h := berlinWeekdays(t)
	cases := []struct {
		now  string
		open bool
		next string
	}{
		{"2026-11-23 10:00", true, "2026-11-23 10:00"},  // Monday morning
		{"2026-11-23 12:30", false, "2026-11-23 13:00"}, // Monday lunch break
		{"2026-11-23 17:00", false, "2026-11-24 09:00"}, // end is exclusive
		{"2026-11-28 11:00", false, "2026-11-30 09:00"}, // Saturday → Monday
		{"2026-12-24 18:00", false, "2026-12-28 09:00"}, // Thursday evening, Friday is a holiday
	}
	for _, c := range cases {
		now := at(t, c.now)
		if got := h.Open(now); got != c.open {
			t.Errorf("Open(%s) = %v, want %v", c.now, got, c.open)
		}
		if got := h.NextOpen(now); !got.Equal(at(t, c.next)) {
			t.Errorf("NextOpen(%s) = %s, want %s", c.now, got.In(h.Location()), c.next)
		}
	}
}

func TestSLATimersPauseOutsideBusinessHours(t *testing.T) {
	h := berlinWeekdays(t)
	// Escalated Friday 16:50 with 30 minutes to run: 10 minutes on Friday, 20 on Monday.
	start := at(t, "2026-11-27 16:50")
	if got, want := h.Add(start, 30*time.Minute), at(t, "2026-11-30 09:20"); !got.Equal(want) {
		t.Fatalf("Add = %s, want %s", got, want)
	}
	if got := h.Elapsed(start, at(t, "2026-11-30 09:05")); got != 15*time.Minute {
		t.Fatalf("Elapsed over the weekend = %s, want 15m", got)
	}
	// Across the Monday lunch break.
	if got, want := h.Add(at(t, "2026-11-23 11:50"), 20*time.Minute), at(t, "2026-11-23 13:10"); !got.Equal(want) {
		t.Fatalf("Add across lunch = %s, want %s", got, want)
	}
	if got := h.Elapsed(at(t, "2026-11-23 11:50"), at(t, "2026-11-23 13:10")); got != 20*time.Minute {
		t.Fatalf("Elapsed across lunch = %s, want 20m", got)
	}
	// Escalated while closed: the timer starts at opening.
	if got, want := h.Add(at(t, "2026-11-29 20:00"), time.Hour), at(t, "2026-11-30 10:00"); !got.Equal(want) {
		t.Fatalf("Add from Sunday = %s, want %s", got, want)
	}
}

func TestHoursAcrossDaylightSavingChange(t *testing.T) {
	// Berlin moves clocks back on 2026-10-25 (Sunday); Monday 09:00 is still 09:00 local.
	h := berlinWeekdays(t)
	got := h.NextOpen(at(t, "2026-10-24 10:00"))
	if want := at(t, "2026-10-26 09:00"); !got.Equal(want) {
		t.Fatalf("NextOpen across DST = %s, want %s", got.In(h.Location()), want)
	}
}

func TestAlwaysOpenAndBadSchedules(t *testing.T) {
	h, err := NewHours(config.Hours{})
	if err != nil || !h.Open(time.Now()) || h.Add(time.Unix(0, 0), time.Hour) != time.Unix(0, 0).Add(time.Hour) {
		t.Fatalf("empty schedule should be always open (err %v)", err)
	}
	for _, bad := range []config.Hours{
		{Weekly: map[string]string{"mon": "closed"}},
		{Timezone: "Mars/Olympus"},
	} {
		if _, err := NewHours(bad); err == nil {
			t.Errorf("NewHours(%+v) accepted", bad)
		}
	}
	for _, spec := range []string{"9-17", "17:00-09:00", "09:00-12:00,11:00-13:00"} {
		if _, err := config.ParseRanges(spec); err == nil {
			t.Errorf("ParseRanges(%q) accepted", spec)
		}
	}
}
