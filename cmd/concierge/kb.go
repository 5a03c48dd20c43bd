package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/conciergehq/concierge/kb"
)

const kbUsage = `Usage:
  concierge kb import [--author NAME] DIR     create or update articles from DIR/**/*.md (all or nothing)
  concierge kb export DIR                    write every article to DIR/<id>.md
  concierge kb search [--lang L] [--limit N] [--drafts] QUERY
                                             print the ranked hits with their scores
  concierge kb reindex                       rebuild the search index from the database

The search index (<data>/kb.bleve) belongs to one process. While "concierge serve" runs,
"kb import" writes to the database only and the server indexes the changes within a few
seconds; "kb search" and "kb reindex" need the server stopped (or use the HTTP API).
`

func runKB(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stderr, kbUsage)
		if len(args) == 0 {
			return usagef("missing subcommand")
		}
		return flag.ErrHelp
	}
	sub, args := args[0], args[1:]
	fs := flag.NewFlagSet("kb "+sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, kbUsage); fs.PrintDefaults() }
	var g globals
	g.register(fs)
	var (
		author = fs.String("author", "cli", "who the import is recorded as (import)")
		lang   = fs.String("lang", "", "search in this language only (search)")
		limit  = fs.Int("limit", 10, "number of hits (search)")
		drafts = fs.Bool("drafts", false, "include draft articles (search)")
	)
	switch sub {
	case "import", "export", "search", "reindex":
	default:
		fmt.Fprint(stderr, kbUsage)
		return usagef("unknown subcommand %q", sub)
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	want := map[string]int{"import": 1, "export": 1, "search": -1, "reindex": 0}[sub]
	switch {
	case want >= 0 && fs.NArg() != want:
		return usagef("kb %s takes %d argument(s), got %d (flags go before arguments)", sub, want, fs.NArg())
	case want < 0 && fs.NArg() == 0:
		return usagef("kb search needs a query")
	}
	e, err := g.open(ctx, stderr)
	if err != nil {
		return err
	}
	defer e.close()
	indexPath := filepath.Join(e.dataDir, "kb.bleve")

	// open returns the knowledge base with its index, or (when allowed) without it when
	// a running server holds the index.
	open := func(dbOnlyOK bool) (*kb.Base, error) {
		b, err := kb.Open(ctx, e.store, indexPath, nil, e.log)
		if errors.Is(err, kb.ErrIndexLocked) && dbOnlyOK {
			fmt.Fprintln(stderr, "note: a running server holds the search index; writing to the database only — the server indexes the changes within a few seconds")
			return kb.OpenDatabaseOnly(e.store, nil, e.log), nil
		}
		if errors.Is(err, kb.ErrIndexLocked) {
			return nil, fmt.Errorf("%w; stop the server first, or use its HTTP API", err)
		}
		return b, err
	}

	switch sub {
	case "import":
		dir := fs.Arg(0)
		files, err := kb.ReadDir(os.DirFS(dir), ".")
		if err != nil {
			return err
		}
		for i := range files {
			files[i].Name = filepath.Join(dir, files[i].Name)
		}
		if len(files) == 0 {
			return fmt.Errorf("no .md files in %s", dir)
		}
		arts, err := kb.ParseFiles(files)
		if err != nil {
			for _, pe := range kb.ImportErrors(err) {
				fmt.Fprintln(stderr, pe)
			}
			fmt.Fprintf(stderr, "nothing imported: fix the file(s) above and run the import again\n")
			return errFailed
		}
		b, err := open(true)
		if err != nil {
			return err
		}
		defer b.Close()
		rep, err := b.ImportArticles(ctx, arts, *author)
		if err != nil {
			return err
		}
		for _, id := range rep.Created {
			fmt.Fprintf(stdout, "created   %s\n", id)
		}
		for _, id := range rep.Updated {
			fmt.Fprintf(stdout, "updated   %s\n", id)
		}
		fmt.Fprintf(stdout, "%d created, %d updated, %d unchanged\n", len(rep.Created), len(rep.Updated), len(rep.Unchanged))
	case "export":
		b := kb.OpenDatabaseOnly(e.store, nil, e.log) // export reads the database only
		n, err := b.Export(ctx, fs.Arg(0))
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%d articles written to %s\n", n, fs.Arg(0))
	case "search":
		b, err := open(false)
		if err != nil {
			return err
		}
		defer b.Close()
		hits, err := b.Search(ctx, kb.Query{Text: strings.Join(fs.Args(), " "), Lang: *lang, Limit: *limit, Drafts: *drafts})
		if err != nil {
			return err
		}
		if len(hits) == 0 {
			fmt.Fprintln(stdout, "no articles match")
			return nil
		}
		for i, h := range hits {
			fmt.Fprintf(stdout, "%2d. %8.4f  %-32s %s [%s]", i+1, h.Score, h.ID, h.Title, h.Lang)
			if h.Status != kb.StatusPublished {
				fmt.Fprintf(stdout, " (%s)", h.Status)
			}
			fmt.Fprintln(stdout)
			if h.Question != "" {
				fmt.Fprintf(stdout, "              matched: %s\n", h.Question)
			}
		}
	case "reindex":
		b, err := open(false)
		if err != nil {
			return err
		}
		defer b.Close()
		n, err := b.Reindex(ctx)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "reindexed %d articles\n", n)
	}
	return nil
}
