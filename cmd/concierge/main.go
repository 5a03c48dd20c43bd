// Command concierge is the whole product in one binary: the server (serve) and the tools
// operators and editors use around it (kb, bot, agent, loadtest).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"syscall"
	"time"

	"github.com/mattn/go-isatty"
	"github.com/rs/zerolog"

	"github.com/conciergehq/concierge/internal/config"
	"github.com/conciergehq/concierge/internal/metrics"
	"github.com/conciergehq/concierge/internal/store"
)

// version is set at build time with -ldflags "-X main.version=v1.2.3".
var version = "dev"

const usage = `concierge — chat-support gateway with bot-first triage

Usage:
  concierge serve    [--addr 127.0.0.1:8080]    run the server (widget, channels, bot, panels)
  concierge kb       import|export|search|reindex   manage the knowledge base
  concierge bot      test --questions FILE.jsonl    measure the triage bot
  concierge agent    add|list|disable           manage agent, editor and admin accounts
  concierge loadtest --url URL                  load-test a running server
  concierge backup   --out FILE                 copy the database while the server runs
  concierge version                             print the version

Flags every command takes:
  --data DIR        where everything is kept (default ./concierge-data, or $CONCIERGE_DATA)
  --config FILE     YAML configuration (see concierge.example.yaml; or $CONCIERGE_CONFIG)
  --log-level L     trace, debug, info, warn, error

Run "concierge COMMAND -h" for a command's own flags.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run dispatches a command line; it is main without the process, so tests can call it.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	var err error
	switch args[0] {
	case "serve":
		err = runServe(ctx, args[1:], stdout, stderr)
	case "kb":
		err = runKB(ctx, args[1:], stdout, stderr)
	case "bot":
		err = runBot(ctx, args[1:], stdout, stderr)
	case "agent":
		err = runAgent(ctx, args[1:], stdin, stdout, stderr)
	case "loadtest":
		err = runLoadtest(ctx, args[1:], stdout, stderr)
	case "backup":
		err = runBackup(ctx, args[1:], stdout, stderr)
	case "version", "--version":
		fmt.Fprintln(stdout, versionString())
		return 0
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "concierge: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
	var ue usageError
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "concierge %s: %v\n", args[0], err)
		return 2
	case errors.Is(err, errFailed):
		return 1 // the command already said why
	default:
		fmt.Fprintf(stderr, "concierge %s: %v\n", args[0], err)
		return 1
	}
}

// usageError is a wrong command line (exit status 2).
type usageError struct{ error }

func usagef(format string, args ...any) error { return usageError{fmt.Errorf(format, args...)} }

// errFailed ends a command that has already printed its verdict (a failed test run).
var errFailed = errors.New("failed")

func versionString() string {
	v := version
	if bi, ok := debug.ReadBuildInfo(); ok && v == "dev" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		v = bi.Main.Version
	}
	return "concierge " + v
}

// globals are the flags every command takes.
type globals struct {
	data     string
	config   string
	logLevel string
}

func (g *globals) register(fs *flag.FlagSet) {
	g.data = os.Getenv("CONCIERGE_DATA")
	if g.data == "" {
		g.data = "./concierge-data"
	}
	fs.StringVar(&g.data, "data", g.data, "data directory (SQLite file, search index, uploads)")
	fs.StringVar(&g.config, "config", os.Getenv("CONCIERGE_CONFIG"), "YAML configuration file")
	fs.StringVar(&g.logLevel, "log-level", "", "log level: trace, debug, info, warn, error")
}

// env is what every command that touches the data directory opens.
type env struct {
	cfg     config.Config
	log     zerolog.Logger
	dataDir string
	store   *store.Store
	metrics *metrics.Metrics
}

// open loads the configuration, sets up logging and opens the store.
func (g *globals) open(ctx context.Context, stderr io.Writer) (*env, error) {
	cfg, err := config.Load(g.config, nil)
	if err != nil {
		return nil, err
	}
	if g.logLevel != "" {
		cfg.Log.Level = g.logLevel
		if err := cfg.Validate(); err != nil {
			return nil, usagef("%v", err)
		}
	}
	log := newLogger(cfg.Log, stderr)
	dir, err := filepath.Abs(g.data)
	if err != nil {
		return nil, fmt.Errorf("data directory %s: %w", g.data, err)
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("data directory: %w", err)
	}
	m := metrics.New()
	st, err := store.Open(ctx, filepath.Join(dir, "concierge.db"), log,
		store.Options{Synchronous: cfg.Store.Synchronous, Observe: m.ObserveCommit})
	if err != nil {
		return nil, err
	}
	return &env{cfg: cfg, log: log, dataDir: dir, store: st, metrics: m}, nil
}

func (e *env) close() {
	if err := e.store.Close(); err != nil {
		e.log.Error().Err(err).Msg("closing the store")
	}
}

// newLogger is the one place the process's logger is configured.
func newLogger(c config.Log, w io.Writer) zerolog.Logger {
	lvl, err := zerolog.ParseLevel(c.Level)
	if err != nil {
		lvl = zerolog.InfoLevel
	}
	zerolog.TimeFieldFormat = time.RFC3339Nano
	out := w
	console := c.Format == "console"
	if c.Format == "auto" {
		if f, ok := w.(*os.File); ok && isatty.IsTerminal(f.Fd()) {
			console = true
		}
	}
	if console {
		out = zerolog.ConsoleWriter{Out: w, TimeFormat: "15:04:05.000"}
	}
	return zerolog.New(out).Level(lvl).With().Timestamp().Logger()
}
