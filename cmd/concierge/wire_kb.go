package main

import (
	"context"
	"path/filepath"

	"github.com/conciergehq/concierge/kb"
	"github.com/conciergehq/concierge/kb/editor"
)

// setupKB opens the knowledge base (database + search index in <data>/kb.bleve), loads
// the demo articles into an empty KB, and mounts the editor (/kb), its API (/api/kb/)
// and the public help pages (/help). The editor and its API take the accounts' sign-in
// (setupHandoff runs first): editors and admins.
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
	s.articles = kbArticles{b}
	ed, err := editor.New(b, s.auth, s.log, editor.Options{TrustProxy: s.cfg.Server.TrustProxy})
	if err != nil {
		return err
	}
	ed.Routes(s.mux)
	return nil
}

// kbArticles lets the agent panel search the KB and insert an article.
type kbArticles struct{ *kb.Base }

func (a kbArticles) Article(ctx context.Context, id string) (kb.Article, error) {
	return a.Get(ctx, id)
}
