package config

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"
)

// Server is the HTTP listener and what it answers to.
type Server struct {
	// Addr is the listen address (default 127.0.0.1:8080; --addr overrides).
	Addr string `yaml:"addr"`
	// PublicURL is how browsers and channels reach this server (https://support.example.com).
	// Used in links (KB articles, attachments) and webhook registration. Defaults to http://Addr.
	PublicURL string `yaml:"public_url"`
	// AllowedOrigins are the sites that may embed the widget (scheme://host[:port]). Empty
	// allows only the server's own origin (the demo page). "*" allows any site.
	AllowedOrigins []string `yaml:"allowed_origins"`
	// ShutdownTimeout bounds a graceful stop (default 10s).
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout"`
	// TrustProxy takes the client address from X-Forwarded-For (behind a reverse proxy).
	TrustProxy bool `yaml:"trust_proxy"`
}

func (s *Server) defaults() {
	s.Addr = "127.0.0.1:8080"
	s.ShutdownTimeout = 10 * time.Second
}

func (s *Server) validate() error {
	var errs []error
	if _, _, err := net.SplitHostPort(s.Addr); err != nil {
		errs = append(errs, fmt.Errorf("server.addr %q: %w", s.Addr, err))
	}
	if s.PublicURL != "" {
		if u, err := url.Parse(s.PublicURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, fmt.Errorf("server.public_url %q: want http(s)://host", s.PublicURL))
		}
	}
	for _, o := range s.AllowedOrigins {
		if o == "*" {
			continue
		}
		u, err := url.Parse(o)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") {
			errs = append(errs, fmt.Errorf("server.allowed_origins: %q is not an origin (scheme://host[:port])", o))
		}
	}
	if s.ShutdownTimeout <= 0 {
		errs = append(errs, errors.New("server.shutdown_timeout must be positive"))
	}
	return errors.Join(errs...)
}

// BaseURL is PublicURL, or the listen address as an http URL.
func (s *Server) BaseURL() string {
	if s.PublicURL != "" {
		return strings.TrimRight(s.PublicURL, "/")
	}
	return "http://" + s.Addr
}

// Log is the logger set-up.
type Log struct {
	// Level: trace, debug, info (default), warn, error.
	Level string `yaml:"level"`
	// Format: auto (default: human-readable on a terminal, JSON otherwise), json, console.
	Format string `yaml:"format"`
}

func (l *Log) defaults() {
	l.Level = "info"
	l.Format = "auto"
}

func (l *Log) validate() error {
	switch l.Level {
	case "trace", "debug", "info", "warn", "error":
	default:
		return fmt.Errorf("log.level %q: want trace, debug, info, warn or error", l.Level)
	}
	switch l.Format {
	case "auto", "json", "console":
	default:
		return fmt.Errorf("log.format %q: want auto, json or console", l.Format)
	}
	return nil
}

// Store is the database.
type Store struct {
	// Synchronous: FULL (default) syncs every group commit; NORMAL is faster and may lose
	// the last commits on power loss (never on a process crash).
	Synchronous string `yaml:"synchronous"`
}

func (s *Store) defaults() { s.Synchronous = "FULL" }

func (s *Store) validate() error {
	switch strings.ToUpper(s.Synchronous) {
	case "FULL", "NORMAL", "EXTRA":
		return nil
	}
	return fmt.Errorf("store.synchronous %q: want FULL, NORMAL or EXTRA", s.Synchronous)
}
