package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestHandoffSectionParsesAndValidates(t *testing.T) {
	const good = `
handoff:
  default_team: billing
  max_concurrent: 3
  grace_period: 90s
  teams:
    - name: general
    - name: billing
      title: Billing
      assignment: pooled
      hours:
        timezone: Europe/Berlin
        weekly:
          mon: 09:00-12:00, 13:00-17:30
          fri: 09:00-16:00
        holidays: [2026-12-24, 2026-12-25]
  sla:
    basic:      { first_response: 30m, resolution: 24h }
    vip:        { first_response: 2m,  resolution: 2h }
  accounts:
    session_idle: 1h
`
	dir := t.TempDir()
	p := filepath.Join(dir, "c.yaml")
	os.WriteFile(p, []byte(good), 0o600)
	c, err := Load(p, func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	h := c.Handoff
	teams := h.TeamList()
	if len(teams) != 2 || teams[0].Assignment != "auto" || teams[1].Hours.Weekly["mon"] != "09:00-12:00, 13:00-17:30" ||
		teams[1].Hours.Holidays[1] != "2026-12-25" || h.GracePeriod != 90*time.Second || h.Accounts.SessionIdle != time.Hour ||
		h.Accounts.BcryptCost != 12 || h.Target("VIP").FirstResponse != 2*time.Minute || h.Target("gold").FirstResponse != 30*time.Minute {
		t.Fatalf("parsed %+v", h)
	}
	bad := map[string]string{
		"default_team: nope":                                     "not one of the teams",
		"teams: [{name: general, assignment: rr}]":               "want auto or pooled",
		"teams: [{name: general, hours: {weekly: {mon: 9-5}}}]":  "HH:MM-HH:MM",
		"teams: [{name: general, hours: {timezone: Mars/Base}}]": "timezone",
		"sla: {gold: {first_response: 1m, resolution: 1h}}":      "unknown tier",
		"accounts: {bcrypt_cost: 4}":                             "bcrypt_cost",
	}
	for frag, want := range bad {
		os.WriteFile(p, []byte("handoff:\n  "+frag+"\n"), 0o600)
		if _, err := Load(p, func(string) (string, bool) { return "", false }); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want it to mention %q", frag, err, want)
		}
	}
}
