package kb

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
)

//go:embed demo/*.md
var demoFiles embed.FS

// DemoFiles are the bundled demo articles: the help center of Nimbus Cloud, a fictional
// cloud and SaaS provider, in English and Chinese.
func DemoFiles() ([]File, error) {
	sub, err := fs.Sub(demoFiles, "demo")
	if err != nil {
		return nil, err
	}
	return ReadDir(sub, ".")
}

// LoadDemo imports the demo articles when the knowledge base has never had an article
// (deleting every article does not bring them back). It reports whether it loaded them.
func (b *Base) LoadDemo(ctx context.Context) (bool, error) {
	n, err := b.store.ArticleCount(ctx)
	if err != nil || n > 0 {
		return false, err
	}
	files, err := DemoFiles()
	if err != nil {
		return false, fmt.Errorf("kb: demo: %w", err)
	}
	rep, err := b.Import(ctx, files, "demo")
	if err != nil {
		return false, fmt.Errorf("kb: demo: %w", err)
	}
	b.log.Info().Int("articles", len(rep.Created)).Msg("loaded the demo knowledge base (set kb.demo: false to start empty)")
	return true, nil
}
