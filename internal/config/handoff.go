package config

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"
	_ "time/tzdata" // business hours name IANA zones; embed them so minimal hosts work too
)

// Handoff is the human side: teams, queues, SLAs, business hours, and the accounts
// agents, editors and admins sign in with.
type Handoff struct {
	// DefaultTeam takes escalations no article or tag routes elsewhere (default "general").
	DefaultTeam string `yaml:"default_team"`
	// Teams, each with its assignment mode and business hours. Default: general, billing,
	// technical and security, auto-assigned, open around the clock.
	Teams []Team `yaml:"teams"`
	// SLA targets per customer tier (basic, premium, enterprise, vip). A contact without a
	// tier is treated as basic.
	SLA map[string]SLATarget `yaml:"sla"`
	// MaxConcurrent is how many conversations auto-assignment gives one agent at once
	// (default 5); an account's own max_chats overrides it.
	MaxConcurrent int `yaml:"max_concurrent"`
	// GracePeriod: conversations of an agent whose panel went offline go back to the
	// queue after this long (default 2m).
	GracePeriod time.Duration `yaml:"grace_period"`
	// PositionUpdates is the least time between two "you are number N" updates to one
	// waiting customer (default 1m; 0 turns updates off after the first notice).
	PositionUpdates time.Duration `yaml:"position_updates"`
	// Accounts: sessions and login protection.
	Accounts Accounts `yaml:"accounts"`
}

// Team is one group of agents with its own queue.
type Team struct {
	Name string `yaml:"name"`
	// Title shown in the panel (default: Name).
	Title string `yaml:"title"`
	// Assignment: auto (least-busy online agent, round-robin on ties; the default) or
	// pooled (agents claim from the queue).
	Assignment string `yaml:"assignment"`
	// Hours are the team's business hours; empty means always open.
	Hours Hours `yaml:"hours"`
}

// Hours is a weekly schedule in a time zone, with holidays.
type Hours struct {
	// Timezone is an IANA zone name (default UTC).
	Timezone string `yaml:"timezone"`
	// Weekly maps mon…sun to comma-separated ranges ("09:00-12:00, 13:00-18:00"). Days
	// not listed are closed. An empty map means open around the clock.
	Weekly map[string]string `yaml:"weekly"`
	// Holidays are closed dates (YYYY-MM-DD) in the team's time zone.
	Holidays []string `yaml:"holidays"`
}

// SLATarget is one tier's service targets.
type SLATarget struct {
	// FirstResponse: escalation → first agent reply, counted in business hours.
	FirstResponse time.Duration `yaml:"first_response"`
	// Resolution: escalation → closed, counted in business hours.
	Resolution time.Duration `yaml:"resolution"`
}

// Accounts tunes sign-in.
type Accounts struct {
	// SessionMaxAge ends a session this long after sign-in whatever happens (default 168h).
	SessionMaxAge time.Duration `yaml:"session_max_age"`
	// SessionIdle ends a session unused for this long (default 12h).
	SessionIdle time.Duration `yaml:"session_idle"`
	// LoginAttemptsPerMinute per account (default 5); a client address gets four times that.
	LoginAttemptsPerMinute int `yaml:"login_attempts_per_minute"`
	// BcryptCost is the password hashing cost (default 12; 10–15).
	BcryptCost int `yaml:"bcrypt_cost"`
}

// Tiers are the customer tiers SLA targets are set for, lowest first.
var Tiers = []string{"basic", "premium", "enterprise", "vip"}

func (h *Handoff) defaults() {
	h.DefaultTeam = "general"
	h.MaxConcurrent = 5
	h.GracePeriod = 2 * time.Minute
	h.PositionUpdates = time.Minute
	h.SLA = map[string]SLATarget{
		"basic":      {FirstResponse: 30 * time.Minute, Resolution: 24 * time.Hour},
		"premium":    {FirstResponse: 10 * time.Minute, Resolution: 8 * time.Hour},
		"enterprise": {FirstResponse: 5 * time.Minute, Resolution: 4 * time.Hour},
		"vip":        {FirstResponse: 2 * time.Minute, Resolution: 2 * time.Hour},
	}
	h.Accounts = Accounts{SessionMaxAge: 7 * 24 * time.Hour, SessionIdle: 12 * time.Hour,
		LoginAttemptsPerMinute: 5, BcryptCost: 12}
}

// DefaultTeams are used when the file lists none.
func DefaultTeams() []Team {
	var out []Team
	for _, n := range []string{"general", "billing", "technical", "security"} {
		out = append(out, Team{Name: n, Assignment: "auto"})
	}
	return out
}

// TeamList is the configured teams, or the default ones.
func (h *Handoff) TeamList() []Team {
	teams := h.Teams
	if len(teams) == 0 {
		teams = DefaultTeams()
	}
	out := make([]Team, len(teams))
	for i, t := range teams {
		if t.Assignment == "" {
			t.Assignment = "auto"
		}
		if t.Title == "" {
			t.Title = t.Name
		}
		out[i] = t
	}
	return out
}

// Target is the SLA of a tier (unknown tiers get basic's).
func (h *Handoff) Target(tier string) SLATarget {
	if t, ok := h.SLA[strings.ToLower(tier)]; ok {
		return t
	}
	return h.SLA["basic"]
}

var teamName = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,39}$`)

// Weekdays are the keys of Hours.Weekly, Sunday first as time.Weekday counts.
var Weekdays = []string{"sun", "mon", "tue", "wed", "thu", "fri", "sat"}

func (h *Handoff) validate() error {
	var errs []error
	names := map[string]bool{}
	for i, t := range h.TeamList() {
		if !teamName.MatchString(t.Name) {
			errs = append(errs, fmt.Errorf("handoff.teams[%d].name %q: want 1-40 of a-z0-9_- starting with a letter or digit", i, t.Name))
		}
		if names[t.Name] {
			errs = append(errs, fmt.Errorf("handoff.teams[%d]: team %q listed twice", i, t.Name))
		}
		names[t.Name] = true
		if t.Assignment != "auto" && t.Assignment != "pooled" {
			errs = append(errs, fmt.Errorf("handoff.teams[%d].assignment %q: want auto or pooled", i, t.Assignment))
		}
		if err := t.Hours.Validate(); err != nil {
			errs = append(errs, fmt.Errorf("handoff.teams[%d].hours: %w", i, err))
		}
	}
	if !names[h.DefaultTeam] {
		errs = append(errs, fmt.Errorf("handoff.default_team %q is not one of the teams", h.DefaultTeam))
	}
	for tier, t := range h.SLA {
		known := false
		for _, k := range Tiers {
			known = known || k == tier
		}
		if !known {
			errs = append(errs, fmt.Errorf("handoff.sla.%s: unknown tier (want %s)", tier, strings.Join(Tiers, ", ")))
		}
		if t.FirstResponse <= 0 || t.Resolution <= 0 {
			errs = append(errs, fmt.Errorf("handoff.sla.%s: first_response and resolution must be positive", tier))
		}
	}
	if _, ok := h.SLA["basic"]; !ok {
		errs = append(errs, errors.New("handoff.sla.basic is required (it applies to contacts without a tier)"))
	}
	if h.MaxConcurrent < 1 {
		errs = append(errs, errors.New("handoff.max_concurrent must be at least 1"))
	}
	if h.GracePeriod < 0 || h.PositionUpdates < 0 {
		errs = append(errs, errors.New("handoff.grace_period and handoff.position_updates must not be negative"))
	}
	a := h.Accounts
	if a.SessionMaxAge < time.Minute || a.SessionIdle < time.Minute {
		errs = append(errs, errors.New("handoff.accounts.session_max_age and session_idle must be at least 1m"))
	}
	if a.LoginAttemptsPerMinute < 1 {
		errs = append(errs, errors.New("handoff.accounts.login_attempts_per_minute must be at least 1"))
	}
	if a.BcryptCost < 10 || a.BcryptCost > 15 {
		errs = append(errs, fmt.Errorf("handoff.accounts.bcrypt_cost %d: want 10-15", a.BcryptCost))
	}
	return errors.Join(errs...)
}

// Validate checks the schedule's syntax and time zone.
func (h Hours) Validate() error {
	var errs []error
	if h.Timezone != "" {
		if _, err := time.LoadLocation(h.Timezone); err != nil {
			errs = append(errs, fmt.Errorf("timezone %q: %w", h.Timezone, err))
		}
	}
	for day, spec := range h.Weekly {
		known := false
		for _, d := range Weekdays {
			known = known || d == day
		}
		if !known {
			errs = append(errs, fmt.Errorf("weekly.%s: want mon, tue, wed, thu, fri, sat or sun", day))
			continue
		}
		if _, err := ParseRanges(spec); err != nil {
			errs = append(errs, fmt.Errorf("weekly.%s: %w", day, err))
		}
	}
	for _, d := range h.Holidays {
		if _, err := time.Parse(time.DateOnly, d); err != nil {
			errs = append(errs, fmt.Errorf("holiday %q: want YYYY-MM-DD", d))
		}
	}
	return errors.Join(errs...)
}

// Range is a span of one day in minutes since midnight, [From, To).
type Range struct{ From, To int }

// ParseRanges reads "09:00-12:00, 13:00-18:00" ("24:00" ends a day); "closed" or "" is none.
func ParseRanges(spec string) ([]Range, error) {
	spec = strings.TrimSpace(spec)
	if spec == "" || strings.EqualFold(spec, "closed") {
		return nil, nil
	}
	var out []Range
	for _, part := range strings.Split(spec, ",") {
		from, to, ok := strings.Cut(strings.TrimSpace(part), "-")
		if !ok {
			return nil, fmt.Errorf("%q: want HH:MM-HH:MM", part)
		}
		f, err1 := clock(from)
		t, err2 := clock(to)
		if err1 != nil || err2 != nil || f >= t {
			return nil, fmt.Errorf("%q: want HH:MM-HH:MM with the start before the end", strings.TrimSpace(part))
		}
		if len(out) > 0 && f < out[len(out)-1].To {
			return nil, fmt.Errorf("%q overlaps or precedes the range before it", strings.TrimSpace(part))
		}
		out = append(out, Range{From: f, To: t})
	}
	return out, nil
}

func clock(s string) (int, error) {
	s = strings.TrimSpace(s)
	if s == "24:00" {
		return 24 * 60, nil
	}
	t, err := time.Parse("15:04", s)
	if err != nil {
		return 0, err
	}
	return t.Hour()*60 + t.Minute(), nil
}
