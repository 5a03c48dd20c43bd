package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/conciergehq/concierge"
	"github.com/conciergehq/concierge/handoff"
	"github.com/conciergehq/concierge/handoff/panel"
	"github.com/conciergehq/concierge/internal/auth"
	"github.com/conciergehq/concierge/internal/httpx"
	"github.com/conciergehq/concierge/kb"
)

// firstAdminEmail is the account created when a server starts with no admin.
const firstAdminEmail = "admin@localhost"

// setupHandoff wires accounts (which replace the interim admin token for every UI), the
// queue and the agent panel at /agent.
func (s *server) setupHandoff(ctx context.Context) error {
	a := newAuth(s.env)
	pwFile := filepath.Join(s.dataDir, "initial-admin-password")
	a.SetPasswordChanged(func(acct auth.Account) {
		if acct.Email == firstAdminEmail {
			_ = os.Remove(pwFile)
		}
	})
	if err := s.firstAdmin(ctx, a, pwFile); err != nil {
		return err
	}
	svc, err := handoff.New(s.store, s.gateway, s.bus, s.cfg.Handoff, handoff.Options{Metrics: s.metrics}, s.log)
	if err != nil {
		return err
	}
	s.gateway.SetHandoff(svc)
	p, err := panel.New(svc, a, s.bus, panel.Options{Search: lateArticles{s}, Metrics: s.metrics}, s.log)
	if err != nil {
		return err
	}
	a.Routes(s.mux)
	p.Routes(s.mux)
	s.auth = a
	s.handoff = svc
	s.addService("handoff", svc.Run)
	s.addService("agent panel", p.Run)
	s.addService("sessions", a.Run)
	return nil
}

// lateArticles reads s.articles when the panel searches: setupKB runs after setupHandoff
// (accounts must exist before the editor mounts its guarded routes).
type lateArticles struct{ s *server }

func (l lateArticles) Available() bool { return l.s.articles != nil }

func (l lateArticles) Search(ctx context.Context, q kb.Query) ([]kb.Hit, error) {
	if l.s.articles == nil {
		return nil, errNoKB
	}
	return l.s.articles.Search(ctx, q)
}

func (l lateArticles) Article(ctx context.Context, id string) (kb.Article, error) {
	if l.s.articles == nil {
		return kb.Article{}, errNoKB
	}
	return l.s.articles.Article(ctx, id)
}

var errNoKB = errors.New("the knowledge base is not connected")

func newAuth(e *env) *auth.Service {
	c := e.cfg.Handoff.Accounts
	return auth.New(e.store, auth.Options{MaxAge: c.SessionMaxAge, Idle: c.SessionIdle,
		AttemptsPerMinute: c.LoginAttemptsPerMinute, BcryptCost: c.BcryptCost, TrustProxy: e.cfg.Server.TrustProxy,
		SecureCookies: strings.HasPrefix(e.cfg.Server.PublicURL, "https://")}, e.log)
}

// firstAdmin makes sure someone can sign in: with no admin account, it creates
// admin@localhost with a generated password, shown once in the log and kept in the data
// directory (mode 0600) until it is changed. The account must choose its own password at
// first sign-in, so the logged one is worthless once used.
func (s *server) firstAdmin(ctx context.Context, a *auth.Service, pwFile string) error {
	n, err := s.store.CountAdmins(ctx)
	if err != nil {
		return err
	}
	if n > 0 {
		if acct, err := s.store.AccountByEmail(ctx, firstAdminEmail); err == nil && acct.MustChangePassword && !acct.Disabled {
			s.log.Warn().Str("email", firstAdminEmail).Str("password_file", pwFile).
				Msg("the first admin still has its generated password; sign in at /agent to choose one (or: concierge agent passwd)")
		}
		return nil
	}
	var teams []string
	for _, t := range s.cfg.Handoff.TeamList() {
		teams = append(teams, t.Name)
	}
	pw := auth.RandomPassword()
	_, err = a.Create(ctx, auth.Account{Email: firstAdminEmail, Name: "Admin",
		Roles: []string{httpx.RoleAdmin, httpx.RoleAgent, httpx.RoleEditor}, Teams: teams, MustChangePassword: true}, pw)
	if errors.Is(err, concierge.ErrConflict) {
		s.log.Warn().Msg("no enabled admin account, and admin@localhost exists; create one with: concierge agent add --role admin")
		return nil
	}
	if err != nil {
		return fmt.Errorf("create the first admin: %w", err)
	}
	if err := os.WriteFile(pwFile, []byte(pw+"\n"), 0o600); err != nil {
		return fmt.Errorf("create the first admin: %w", err)
	}
	s.log.Warn().Str("email", firstAdminEmail).Str("password", pw).Str("password_file", pwFile).
		Msg("created the first admin account; sign in at /agent with this password and choose your own (shown once)")
	return nil
}
