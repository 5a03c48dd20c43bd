package main

import (
	"context"
	"path/filepath"

	"github.com/conciergehq/concierge/kb"
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
	return nil
}
