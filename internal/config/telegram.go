package config

import (
	"errors"
	"fmt"
	"regexp"
)

// Telegram is one Telegram bot.
type Telegram struct {
	// Name identifies the bot in the channel name ("telegram:<name>") and environment
	// overrides (CONCIERGE_TELEGRAM_<NAME>_TOKEN).
	Name string `yaml:"name"`
	// Token from BotFather; set it through the environment rather than the file.
	Token string `yaml:"token"`
	// Mode: polling (default) or webhook.
	Mode string `yaml:"mode"`
	// WebhookURL is the public https URL Telegram posts to (webhook mode).
	WebhookURL string `yaml:"webhook_url"`
	// WebhookSecret is echoed by Telegram in X-Telegram-Bot-Api-Secret-Token.
	WebhookSecret string `yaml:"webhook_secret"`
	// APIURL is the Bot API base (default https://api.telegram.org), for a self-hosted
	// Bot API server or tests.
	APIURL string `yaml:"api_url"`
}

var telegramName = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

func (t *Telegram) defaults() {
	if t.Mode == "" {
		t.Mode = "polling"
	}
	if t.APIURL == "" {
		t.APIURL = "https://api.telegram.org"
	}
}

func (t *Telegram) validate() error {
	var errs []error
	if !telegramName.MatchString(t.Name) {
		errs = append(errs, fmt.Errorf("name %q: want 1-64 of A-Za-z0-9_-", t.Name))
	}
	if t.Token == "" {
		errs = append(errs, errors.New("token is required (CONCIERGE_TELEGRAM_<NAME>_TOKEN)"))
	}
	switch t.Mode {
	case "polling":
	case "webhook":
		if t.WebhookURL == "" || t.WebhookSecret == "" {
			errs = append(errs, errors.New("webhook mode needs webhook_url and webhook_secret"))
		}
	default:
		errs = append(errs, fmt.Errorf("mode %q: want polling or webhook", t.Mode))
	}
	return errors.Join(errs...)
}
