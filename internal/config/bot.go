package config

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
)

// Bot is the triage bot.
type Bot struct {
	// Name the bot signs with (default "Concierge").
	Name string `yaml:"name"`
	// AnswerThreshold is the confidence (the calibrated probability that the best article
	// is right, 0–1) from which the bot answers (default 0.5).
	AnswerThreshold float64 `yaml:"answer_threshold"`
	// ClarifyThreshold: when neither of the two best articles reaches answer_threshold,
	// the bot offers them ("Did you mean…") if each reaches this and together they
	// reach answer_threshold; otherwise it escalates (default 0.3).
	ClarifyThreshold float64 `yaml:"clarify_threshold"`
	// MaxReasks is how often an invalid detail is asked again, with a hint (default 2).
	MaxReasks int `yaml:"max_reasks"`
	// DefaultLanguage for customers whose language is not known yet (default en).
	DefaultLanguage string `yaml:"default_language"`
	// TeamDetails are the details a team needs before a person takes over, by team.
	TeamDetails map[string][]string `yaml:"team_details"`
	// TagTeams route articles that name no team by one of their tags.
	TagTeams map[string]string `yaml:"tag_teams"`
	// EscalateTags: articles with one of these tags always go to a person.
	EscalateTags []string `yaml:"escalate_tags"`
	// EscalateTiers: customers of these tiers always get a person (contact attribute "tier").
	EscalateTiers []string `yaml:"escalate_tiers"`
	// Details add detail kinds or change the built-in ones (email, phone, order_number,
	// instance_id, ip_address, url, error_code, account_id, region).
	Details []BotDetail `yaml:"details"`
}

// BotDetail is one detail kind: how to find it in free text and what a direct answer
// must look like.
type BotDetail struct {
	Name string `yaml:"name"`
	// Find is a regular expression locating the detail in any message; its first group
	// (or the whole match) is the value. It needs an anchor word or a distinctive shape.
	Find string `yaml:"find"`
	// Pattern is what a reply to the bot's question must match (whole).
	Pattern string `yaml:"pattern"`
	// Example is shown when a reply does not match ("ORD-123456").
	Example string `yaml:"example"`
	// Prompt is the question per language (en, zh…); default from the bot's catalogue.
	Prompt map[string]string `yaml:"prompt"`
}

func (b *Bot) defaults() {
	b.Name = "Concierge"
	b.AnswerThreshold = 0.5
	b.ClarifyThreshold = 0.3
	b.MaxReasks = 2
	b.DefaultLanguage = "en"
}

// validate checks the section; zero values stand for the defaults (a Config built in
// code rather than loaded may leave them unset).
func (b *Bot) validate() error {
	var errs []error
	answer, clarify := b.AnswerThreshold, b.ClarifyThreshold
	if answer == 0 {
		answer = 0.5
	}
	if clarify == 0 {
		clarify = min(0.3, answer)
	}
	if answer < 0 || answer > 1 {
		errs = append(errs, fmt.Errorf("bot.answer_threshold %v: want a confidence in (0, 1]", b.AnswerThreshold))
	}
	if clarify < 0 || clarify > answer {
		errs = append(errs, fmt.Errorf("bot.clarify_threshold %v: want (0, answer_threshold]", b.ClarifyThreshold))
	}
	if b.MaxReasks < 0 || b.MaxReasks > 10 {
		errs = append(errs, fmt.Errorf("bot.max_reasks %d: want 0–10", b.MaxReasks))
	}
	for i, d := range b.Details {
		if d.Name == "" || strings.ContainsAny(d.Name, " \t") {
			errs = append(errs, fmt.Errorf("bot.details[%d]: name %q: want a key like order_number", i, d.Name))
		}
		for _, p := range []struct{ key, re string }{{"find", d.Find}, {"pattern", d.Pattern}} {
			if p.re == "" {
				continue
			}
			if _, err := regexp.Compile(p.re); err != nil {
				errs = append(errs, fmt.Errorf("bot.details[%d] (%s).%s: %w", i, d.Name, p.key, err))
			}
		}
	}
	return errors.Join(errs...)
}
