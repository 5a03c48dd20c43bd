package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/conciergehq/concierge/channels"
	"github.com/conciergehq/concierge/channels/web"
	"github.com/conciergehq/concierge/handoff"
	"github.com/conciergehq/concierge/handoff/panel"
	"github.com/conciergehq/concierge/internal/blob"
	"github.com/conciergehq/concierge/internal/bus"
	"github.com/conciergehq/concierge/internal/httpx"
	"github.com/conciergehq/concierge/kb"
)

// server is the running product: the shared parts every feature is wired onto. Features
// add themselves in their own setup functions (setupKB, setupWeb, …) so this file stays
// the one place that shows the start-up order.
type server struct {
	*env
	bus     *bus.Bus
	gateway *channels.Gateway
	mux     *http.ServeMux
	auth    httpx.Auth
	blobs   *blob.Store  // customers' files (attachments), viewable by agents
	web     *web.Channel // the website widget's channel (nil until setupWeb)
	// articles is the KB search the agent panel's "insert KB article" uses; setupKB sets it
	// (nil leaves the button saying the KB is not connected).
	articles panel.ArticleSearcher
	// handoff is the people's side (queue, teams, business hours), set by setupHandoff.
	handoff  *handoff.Service
	kb       *kb.Base // the knowledge base (search for the bot, editor, help pages)
	services []service
	// ready is set once everything started and cleared when shutdown begins.
	ready atomic.Bool
}

// service is a long-running loop; all of them run under one errgroup.
type service struct {
	name string
	run  func(ctx context.Context) error
}

func (s *server) addService(name string, run func(ctx context.Context) error) {
	s.services = append(s.services, service{name: name, run: run})
}

func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var g globals
	g.register(fs)
	addr := fs.String("addr", "", "listen address (default from config, 127.0.0.1:8080)")
	pprofAddr := fs.String("pprof", "", "serve Go profiles at this loopback address (127.0.0.1:6060), for profiling under load")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("unexpected arguments %q", fs.Args())
	}
	e, err := g.open(ctx, stderr)
	if err != nil {
		return err
	}
	defer e.close()
	if *addr != "" {
		e.cfg.Server.Addr = *addr
		if err := e.cfg.Validate(); err != nil {
			return usagef("%v", err)
		}
	}
	s := &server{env: e, bus: bus.New(), mux: http.NewServeMux()}
	if s.blobs, err = blob.New(filepath.Join(e.dataDir, "uploads"), 25<<20); err != nil {
		return err
	}
	s.gateway = channels.New(e.store, s.bus, e.metrics, e.log, channels.Options{})
	if err := s.setup(ctx); err != nil {
		return err
	}
	if *pprofAddr != "" {
		run, err := pprofService(*pprofAddr)
		if err != nil {
			return err
		}
		s.addService("pprof", run)
		s.log.Warn().Str("addr", *pprofAddr).Msg("serving profiles at /debug/pprof/")
	}
	return s.serve(ctx)
}

// setup wires every feature, in dependency order.
func (s *server) setup(ctx context.Context) error {
	steps := []struct {
		name string
		fn   func(context.Context) error
	}{
		// Accounts first: every later UI (the KB editor too) is guarded by s.auth.
		{"handoff", s.setupHandoff},
		{"knowledge base", s.setupKB},
		{"bot", s.setupBot},
		{"web widget", s.setupWeb},
		{"telegram", s.setupTelegram},
		{"wechat", s.setupWeChat},
	}
	for _, st := range steps {
		if err := st.fn(ctx); err != nil {
			return fmt.Errorf("set up %s: %w", st.name, err)
		}
	}
	// Mounted after the features so it uses the final guard (accounts replace the token).
	s.mux.Handle("GET /attachments/{key}", s.auth.Require(httpx.RoleAgent, s.blobs.Handler()))
	s.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "ok")
	})
	s.mux.HandleFunc("GET /readyz", s.readyz)
	s.mux.Handle("GET /metrics", s.metrics.Handler())
	s.addService("gateway", s.gateway.Run)
	s.addService("maintenance", s.maintain)
	return nil
}

// maintain prunes what only needs keeping for a while: dedupe keys of channel events
// (channels redeliver within minutes; a day is ample).
func (s *server) maintain(ctx context.Context) error {
	t := time.NewTicker(time.Hour)
	defer t.Stop()
	for {
		if n, err := s.store.PruneDedupe(ctx, time.Now().Add(-24*time.Hour)); err != nil && ctx.Err() == nil {
			s.log.Warn().Err(err).Msg("pruning dedupe keys failed; retrying in an hour")
		} else if n > 0 {
			s.log.Debug().Int64("keys", n).Msg("pruned dedupe keys")
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

func (s *server) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	switch err := s.store.Ping(ctx); {
	case !s.ready.Load():
		http.Error(w, "starting or stopping", http.StatusServiceUnavailable)
	case err != nil:
		s.log.Warn().Err(err).Msg("readiness check: store")
		http.Error(w, "store unavailable", http.StatusServiceUnavailable)
	default:
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "ready")
	}
}

// serve listens and runs every service until ctx ends, then stops in order: no new
// connections, in-flight requests drained, services finished, store flushed (by the
// caller's deferred close) — all within the configured shutdown timeout.
func (s *server) serve(ctx context.Context) error {
	ln, err := net.Listen("tcp", s.cfg.Server.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", s.cfg.Server.Addr, err)
	}
	count := func(code int) {
		if s.metrics != nil {
			s.metrics.HTTPRequests.WithLabelValues(strconv.Itoa(code/100) + "xx").Inc()
		}
	}
	hs := &http.Server{
		Handler:           httpx.Middleware(s.log, count, s.mux),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
	}
	svcCtx, stopServices := context.WithCancel(context.WithoutCancel(ctx))
	defer stopServices()
	grp, gctx := errgroup.WithContext(svcCtx)
	for _, svc := range s.services {
		grp.Go(func() error {
			if err := svc.run(gctx); err != nil && gctx.Err() == nil {
				return fmt.Errorf("%s: %w", svc.name, err)
			}
			return nil
		})
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- hs.Serve(ln) }()
	s.ready.Store(true)
	s.log.Info().Str("addr", ln.Addr().String()).Str("url", s.cfg.Server.BaseURL()).Str("data", s.dataDir).
		Msg("concierge is running; open the URL for the demo page, /agent for the agent panel, /kb for the editor")

	var runErr error
	select {
	case <-ctx.Done():
		s.log.Info().Msg("shutting down")
	case err := <-serveErr:
		runErr = fmt.Errorf("http server: %w", err)
	case <-gctx.Done():
		runErr = grp.Wait()
	}
	s.ready.Store(false)
	deadline := time.Now().Add(s.cfg.Server.ShutdownTimeout)
	shCtx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	if err := hs.Shutdown(shCtx); err != nil {
		s.log.Warn().Err(err).Msg("connections still open at the shutdown deadline; closing them")
		hs.Close()
	}
	stopServices()
	done := make(chan error, 1)
	go func() { done <- grp.Wait() }()
	select {
	case err := <-done:
		if runErr == nil && err != nil {
			runErr = err
		}
	case <-time.After(time.Until(deadline)):
		s.log.Warn().Msg("services did not stop by the shutdown deadline; exiting anyway (unrouted work resumes at next start)")
	}
	if runErr != nil && !errors.Is(runErr, http.ErrServerClosed) {
		return runErr
	}
	s.log.Info().Msg("stopped")
	return nil
}
