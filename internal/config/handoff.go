package config

// Handoff is the human side: teams, queues, SLAs, business hours.
type Handoff struct {
	// DefaultTeam takes escalations no article or tag routes elsewhere (default "general").
	DefaultTeam string `yaml:"default_team"`
}

func (h *Handoff) defaults() { h.DefaultTeam = "general" }

func (h *Handoff) validate() error { return nil }
