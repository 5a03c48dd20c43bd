package main

import (
	"context"
	"fmt"

	"github.com/conciergehq/concierge/channels/web"
)

// setupWeb wires the website widget: its channel on the gateway, the loader, chat window
// and WebSocket routes, the demo page at /, and the service that pings connections and
// closes them at shutdown.
func (s *server) setupWeb(ctx context.Context) error {
	w := s.cfg.Widget
	ch, err := web.New(ctx, s.store, s.gateway, s.bus, s.metrics, s.log, web.Options{
		Title: w.Title, Accent: w.Accent, Position: w.Position, Locale: w.Locale,
		IdentitySecret: w.IdentitySecret, IdentityRequired: w.IdentityRequired,
		MaxTextBytes: w.MaxTextBytes, RatePerVisitor: w.RatePerVisitor, RatePerIP: w.RatePerIP,
		ConnectsPerIP: w.ConnectsPerIP, SendQueue: w.SendQueue, PingInterval: w.PingInterval, History: w.History,
		AllowedOrigins: s.cfg.Server.AllowedOrigins, BaseURL: s.cfg.Server.BaseURL(), TrustProxy: s.cfg.Server.TrustProxy,
		Demo: w.DemoPage(),
	})
	if err != nil {
		return err
	}
	if err := s.gateway.Register(ch); err != nil {
		return fmt.Errorf("web: %w", err)
	}
	if err := ch.Routes(s.mux); err != nil {
		return err
	}
	s.web = ch
	s.addService("web", ch.Run)
	return nil
}
