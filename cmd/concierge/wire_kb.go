package main

import (
	"context"
	"net/http"
	"path/filepath"

	"github.com/conciergehq/concierge/internal/httpx"
	"github.com/conciergehq/concierge/kb"
	"github.com/conciergehq/concierge/kb/editor"
)

// setupKB opens the knowledge base (database + search index in <data>/kb.bleve), loads
// the demo articles into an empty KB, and mounts the editor (/kb), its API (/api/kb/)
// and the public help pages (/help).
func (s *server) setupKB(ctx context.Context) error {
	b, err := kb.Open(ctx, s.store, filepath.Join(s.dataDir, "kb.bleve"), s.bus, s.log)
	if err != nil {
		return err
	}
	s.kb = b
	s.addService("kb index", func(ctx context.Context) error {
		defer b.Close()
		return b.Run(ctx)
	})
	if s.cfg.KB.LoadDemo() {
		if _, err := b.LoadDemo(ctx); err != nil {
			return err
		}
	}
	// Until accounts exist the editor is guarded by the admin token. Without a configured
	// one, a random token is made for this run and the editor's URL logged with it (the
	// only way in; it changes at every start).
	if ta, ok := s.auth.(httpx.TokenAuth); ok && ta.Token == "" {
		tok := httpx.NewID(16)
		s.auth = httpx.TokenAuth{Token: tok}
		s.log.Warn().Str("editor", s.cfg.Server.BaseURL()+"/kb?token="+tok).
			Msg("no kb.admin_token configured (CONCIERGE_KB_ADMIN_TOKEN); generated one for this run — open the editor URL")
	}
	ed, err := editor.New(b, lateAuth{s}, s.log, editor.Options{TrustProxy: s.cfg.Server.TrustProxy})
	if err != nil {
		return err
	}
	ed.Routes(s.mux)
	return nil
}

// lateAuth asks the server's guard at request time, so the editor follows when a later
// setup step (accounts) replaces the interim admin token.
type lateAuth struct{ s *server }

func (a lateAuth) Require(role string, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a.s.auth.Require(role, h).ServeHTTP(w, r)
	})
}
