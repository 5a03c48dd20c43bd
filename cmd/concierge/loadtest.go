package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/conciergehq/concierge/internal/loadtest"
	"github.com/conciergehq/concierge/kb"
)

const loadtestUsage = `Usage:
  concierge loadtest --url http://127.0.0.1:8080 [--visitors N] [--rate R] [--duration D]
                     [--questions FILE.jsonl] [--idle]
  concierge loadtest --make-kb DIR [--articles 1000]

Opens N widget WebSocket connections to a running server and sends R messages per second
across them (open loop: latency counts from each message's scheduled time). Prints
throughput, bot-reply latency, the server's memory and CPU (from its /metrics), and an
exact accounting; exits 1 when a message was lost or duplicated or anything failed.
The server should run with testdata/loadtest.yaml, which lifts the per-address limits
that every client on one loopback address would otherwise hit.

--make-kb writes a synthetic knowledge base (Markdown files for "concierge kb import")
and DIR/questions.jsonl, for the 1,000-article runs in docs/performance.md.

Flags:
`

func runLoadtest(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("loadtest", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, loadtestUsage); fs.PrintDefaults() }
	var o loadtest.Options
	fs.StringVar(&o.URL, "url", "http://127.0.0.1:8080", "the server's base URL")
	fs.IntVar(&o.Visitors, "visitors", 100, "widget connections to open and hold")
	fs.Float64Var(&o.Rate, "rate", 50, "messages per second across all visitors")
	fs.DurationVar(&o.Duration, "duration", 30*time.Second, "how long to send (or, with --idle, to hold the connections)")
	fs.DurationVar(&o.Drain, "drain", 10*time.Second, "how long to wait for replies still owed after the last send")
	fs.Float64Var(&o.ConnectRate, "connect-rate", 1000, "new connections per second while connecting")
	questions := fs.String("questions", "", "JSON-lines file whose \"text\" fields are sent (default: the demo KB's sample questions)")
	idle := fs.Bool("idle", false, "only hold the connections; send nothing")
	quiet := fs.Bool("quiet", false, "no progress line every second")
	makeKB := fs.String("make-kb", "", "write a synthetic knowledge base to this directory and exit")
	articles := fs.Int("articles", 1000, "articles in the synthetic knowledge base (with --make-kb)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("unexpected arguments %q", fs.Args())
	}
	if *makeKB != "" {
		q, err := loadtest.MakeKB(*makeKB, *articles, 1)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "wrote %d articles to %s and their questions to %s\n", *articles, *makeKB, q)
		return nil
	}
	if *idle {
		o.Rate = 0
	}
	var err error
	if o.Questions, err = loadQuestions(*questions); err != nil {
		return err
	}
	if !*quiet {
		o.Progress = stderr
	}
	rep, err := loadtest.Run(ctx, o)
	if err != nil {
		return err
	}
	rep.Print(stdout)
	if !rep.OK() {
		return errFailed
	}
	return nil
}

// loadQuestions reads --questions, or collects the demo KB's sample questions.
func loadQuestions(path string) ([]string, error) {
	if path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, err
		}
		qs, err := loadtest.ReadQuestions(data)
		if err != nil {
			return nil, fmt.Errorf("--questions %s: %w", path, err)
		}
		return qs, nil
	}
	files, err := kb.DemoFiles()
	if err != nil {
		return nil, err
	}
	arts, err := kb.ParseFiles(files)
	if err != nil {
		return nil, err
	}
	var qs []string
	for _, a := range arts {
		qs = append(qs, a.Questions...)
	}
	return qs, nil
}
