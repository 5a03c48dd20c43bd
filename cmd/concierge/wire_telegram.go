package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/conciergehq/concierge/channels/telegram"
)

// setupTelegram starts one adapter per configured bot: registered with the gateway for
// delivery, run as a service (polling, or webhook registration, and the update worker),
// and, in webhook mode, its handler mounted where webhook_url points.
func (s *server) setupTelegram(ctx context.Context) error {
	for _, c := range s.cfg.Telegram {
		a, err := telegram.New(ctx, telegram.Config{
			Name: c.Name, Token: c.Token, Mode: c.Mode, APIURL: c.APIURL,
			WebhookURL: c.WebhookURL, WebhookSecret: c.WebhookSecret,
		}, s.gateway, s.store, s.blobs, s.log)
		if errors.Is(err, telegram.ErrTokenRefused) {
			return fmt.Errorf("%w; check %s", err, c.TokenEnv())
		}
		if err != nil {
			return err
		}
		if err := s.gateway.Register(a); err != nil {
			return fmt.Errorf("telegram %s: %w", c.Name, err)
		}
		s.addService(a.Name(), a.Run)
		if a.Mode() == telegram.ModeWebhook {
			s.mux.Handle("POST "+a.WebhookPath(), a.WebhookHandler())
		}
		s.log.Info().Str("channel", a.Name()).Str("mode", a.Mode()).Str("bot", a.Username()).Msg("telegram bot configured")
	}
	return nil
}
