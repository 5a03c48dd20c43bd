package config

import (
	"errors"
	"fmt"
	"net/url"
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
		if t.WebhookURL != "" {
			if err := checkWebhookURL(t.WebhookURL); err != nil {
				errs = append(errs, fmt.Errorf("webhook_url %q: %w", t.WebhookURL, err))
			}
		}
		if t.WebhookSecret != "" && !webhookSecret.MatchString(t.WebhookSecret) {
			errs = append(errs, errors.New("webhook_secret: want 1-256 of A-Za-z0-9_- (Telegram's rule)"))
		}
	default:
		errs = append(errs, fmt.Errorf("mode %q: want polling or webhook", t.Mode))
	}
	if u, err := url.Parse(t.APIURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		errs = append(errs, fmt.Errorf("api_url %q: want http(s)://host", t.APIURL))
	}
	return errors.Join(errs...)
}

var webhookSecret = regexp.MustCompile(`^[A-Za-z0-9_-]{1,256}$`)

// checkWebhookURL applies Telegram's rules: https, on port 443, 80, 88 or 8443.
func checkWebhookURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return errors.New("want an https URL (Telegram posts only over TLS)")
	}
	switch u.Port() {
	case "", "443", "80", "88", "8443":
		return nil
	}
	return fmt.Errorf("port %s: Telegram posts only to 443, 80, 88 or 8443", u.Port())
}

// WebhookPath is where serve mounts the bot's webhook handler; webhook_url must reach it.
func (t *Telegram) WebhookPath() string { return "/telegram/" + t.Name + "/webhook" }

// TokenEnv is the environment variable that sets this bot's token.
func (t *Telegram) TokenEnv() string { return "CONCIERGE_TELEGRAM_" + envName(t.Name) + "_TOKEN" }
