package config

import (
	"errors"
	"fmt"
	"regexp"
	"time"
)

// Widget is the website chat widget and its WebSocket channel.
type Widget struct {
	// Title shown in the widget header (default "Support").
	Title string `yaml:"title"`
	// Accent colour of the launcher and header, #rrggbb (default #2563eb).
	Accent string `yaml:"accent"`
	// Position of the launcher: right (default) or left.
	Position string `yaml:"position"`
	// Locale forces the widget's language (en, zh); empty follows the browser.
	Locale string `yaml:"locale"`
	// IdentitySecret verifies setUser calls: user_hash = hex(HMAC-SHA256(secret, id)).
	// Set it through CONCIERGE_WIDGET_IDENTITY_SECRET rather than the file.
	IdentitySecret string `yaml:"identity_secret"`
	// IdentityRequired refuses visitors whose identity is not verified.
	IdentityRequired bool `yaml:"identity_required"`
	// MaxTextBytes is the longest message a visitor may send (default 4096).
	MaxTextBytes int `yaml:"max_text_bytes"`
	// RatePerVisitor and RatePerIP are messages per minute (defaults 30 and 120), with
	// bursts of a third of that.
	RatePerVisitor int `yaml:"rate_per_visitor"`
	RatePerIP      int `yaml:"rate_per_ip"`
	// SendQueue is how many frames may wait for a slow connection before it is dropped
	// (default 64); the client resumes from its last sequence number.
	SendQueue int `yaml:"send_queue"`
	// ConnectsPerIP limits WebSocket connections opened per minute from one address
	// (default 60).
	ConnectsPerIP int `yaml:"connects_per_ip"`
	// History is how many recent messages a newly opened chat window shows (default 100).
	History int `yaml:"history"`
	// PingInterval keeps connections alive through proxies (default 30s).
	PingInterval time.Duration `yaml:"ping_interval"`
	// Demo serves the demo product page at / (default true).
	Demo *bool `yaml:"demo"`
}

var hexColour = regexp.MustCompile(`^#[0-9a-fA-F]{6}$`)

func (w *Widget) defaults() {
	w.Title = "Support"
	w.Accent = "#2563eb"
	w.Position = "right"
	w.ConnectsPerIP = 60
	w.History = 100
	w.MaxTextBytes = 4096
	w.RatePerVisitor = 30
	w.RatePerIP = 120
	w.SendQueue = 64
	w.PingInterval = 30 * time.Second
}

// DemoPage reports whether / serves the demo page.
func (w *Widget) DemoPage() bool { return w.Demo == nil || *w.Demo }

func (w *Widget) validate() error {
	var errs []error
	if !hexColour.MatchString(w.Accent) {
		errs = append(errs, fmt.Errorf("widget.accent %q: want #rrggbb", w.Accent))
	}
	if w.Position != "right" && w.Position != "left" {
		errs = append(errs, fmt.Errorf("widget.position %q: want right or left", w.Position))
	}
	if w.Locale != "" && w.Locale != "en" && w.Locale != "zh" {
		errs = append(errs, fmt.Errorf("widget.locale %q: want en, zh or empty (the browser's language)", w.Locale))
	}
	if w.ConnectsPerIP < 1 {
		errs = append(errs, errors.New("widget.connects_per_ip must be positive"))
	}
	if w.History < 1 || w.History > 1000 {
		errs = append(errs, fmt.Errorf("widget.history %d: want 1..1000", w.History))
	}
	if w.IdentityRequired && w.IdentitySecret == "" {
		errs = append(errs, errors.New("widget.identity_required needs widget.identity_secret (or CONCIERGE_WIDGET_IDENTITY_SECRET)"))
	}
	if w.MaxTextBytes < 1 || w.MaxTextBytes > 1<<20 {
		errs = append(errs, fmt.Errorf("widget.max_text_bytes %d: want 1..1048576", w.MaxTextBytes))
	}
	if w.RatePerVisitor < 1 || w.RatePerIP < 1 {
		errs = append(errs, errors.New("widget.rate_per_visitor and widget.rate_per_ip must be positive"))
	}
	if w.SendQueue < 4 {
		errs = append(errs, errors.New("widget.send_queue must be at least 4"))
	}
	if w.PingInterval < time.Second {
		errs = append(errs, errors.New("widget.ping_interval must be at least 1s"))
	}
	return errors.Join(errs...)
}
