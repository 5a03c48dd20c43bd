// Package loadtest drives a running Concierge server with real widget WebSocket clients
// and accounts for every message: what `concierge loadtest` runs.
//
// The load is open loop: messages are scheduled at a fixed rate and each is stamped with
// its scheduled time, so a server that falls behind shows up as latency instead of
// slowing the load down. A visitor has at most one question waiting for the bot's reply
// (a person waits for the answer before asking the next thing), so a scheduled message
// goes to the next visitor who is free; when none is, it waits in line and the wait
// counts in its latency.
package loadtest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net/url"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Options describe one run.
type Options struct {
	// URL is the server's base URL (http://127.0.0.1:8080).
	URL string
	// Visitors is how many widget connections are opened and held.
	Visitors int
	// Rate is messages per second across all visitors; 0 only holds the connections
	// (the idle mode).
	Rate float64
	// Duration is how long messages are sent (or connections held, when idle).
	Duration time.Duration
	// Drain is how long to wait for the replies still owed after the last send.
	Drain time.Duration
	// ConnectRate is handshakes per second while the visitors connect.
	ConnectRate float64
	// Questions are the texts sent, in turn.
	Questions []string
	// Settle is the pause between connecting the last visitor and reading the server's
	// memory with every connection held (default 2s: welcome frames sent, buffers shrunk).
	Settle time.Duration
	// Progress, when set, gets a line per second while the run goes on.
	Progress io.Writer
}

func (o *Options) defaults() error {
	if o.URL == "" {
		return errors.New("loadtest: the server's URL is required")
	}
	if o.Visitors <= 0 {
		return errors.New("loadtest: visitors must be positive")
	}
	if o.Rate < 0 || math.IsNaN(o.Rate) || math.IsInf(o.Rate, 0) {
		return errors.New("loadtest: rate must be a number ≥ 0")
	}
	if o.Duration <= 0 {
		return errors.New("loadtest: duration must be positive")
	}
	if o.Drain <= 0 {
		o.Drain = 10 * time.Second
	}
	if o.Settle <= 0 {
		o.Settle = 2 * time.Second
	}
	if o.ConnectRate <= 0 {
		o.ConnectRate = 1000
	}
	if o.Rate > 0 && len(o.Questions) == 0 {
		return errors.New("loadtest: no questions to send")
	}
	return nil
}

func wsURL(base string) (string, error) {
	u, err := url.Parse(base)
	if err != nil {
		return "", fmt.Errorf("loadtest: url %q: %w", base, err)
	}
	switch u.Scheme {
	case "http":
		u.Scheme = "ws"
	case "https":
		u.Scheme = "wss"
	case "ws", "wss":
	default:
		return "", fmt.Errorf("loadtest: url %q: want http:// or https://", base)
	}
	u.Path = strings.TrimSuffix(u.Path, "/") + "/widget/ws"
	return u.String(), nil
}

// job is one scheduled message.
type job struct {
	at   time.Time
	text string
}

// run is the state one Run shares among its visitors.
type run struct {
	opts  Options
	ws    string
	start time.Time

	free chan *visitor // visitors with nothing awaiting a reply

	mu        sync.Mutex
	latencies []time.Duration
	errs      map[string]int

	sent, acked, replied, handedOff   atomic.Int64
	handedMsgs                        atomic.Int64 // sent into a conversation a person took
	dupAcks, dupMessages, gaps        atomic.Int64
	connected, reconnects, dialErrors atomic.Int64
	late                              atomic.Int64 // sent more than 10 ms after its time
	unsent                            atomic.Int64 // no visitor was free in time
}

func (r *run) errorf(kind string) {
	r.mu.Lock()
	r.errs[kind]++
	r.mu.Unlock()
}

func (r *run) observe(d time.Duration) {
	r.mu.Lock()
	r.latencies = append(r.latencies, d)
	r.mu.Unlock()
}

// Run connects the visitors, sends at the configured rate for the duration, waits for
// the replies still owed, and reports. The report is returned even when the run found
// lost or duplicated messages; Report.OK says whether it did.
func Run(ctx context.Context, opts Options) (*Report, error) {
	if err := opts.defaults(); err != nil {
		return nil, err
	}
	ws, err := wsURL(opts.URL)
	if err != nil {
		return nil, err
	}
	r := &run{opts: opts, ws: ws, errs: map[string]int{}, free: make(chan *visitor, opts.Visitors)}
	scr := newScraper(opts.URL)
	base, err := scr.sample(ctx)
	if err != nil {
		return nil, fmt.Errorf("loadtest: the server's metrics: %w", err)
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	visitors := make([]*visitor, opts.Visitors)
	connectStart := time.Now()
	tick := time.NewTicker(time.Duration(float64(time.Second) / opts.ConnectRate))
	var wg sync.WaitGroup
	for i := range visitors {
		visitors[i] = newVisitor(r, i)
		if err := visitors[i].connect(ctx); err != nil {
			tick.Stop()
			for _, v := range visitors[:i] {
				v.close()
			}
			return nil, fmt.Errorf("loadtest: visitor %d: %w", i, err)
		}
		wg.Add(1)
		go func(v *visitor) { defer wg.Done(); v.readLoop(ctx) }(visitors[i])
		visitors[i].mu.Lock()
		visitors[i].release()
		visitors[i].mu.Unlock()
		select {
		case <-tick.C:
		case <-ctx.Done():
		}
	}
	tick.Stop()
	connectTime := time.Since(connectStart)
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}

	time.Sleep(opts.Settle)
	held, err := scr.sample(ctx)
	if err != nil {
		return nil, fmt.Errorf("loadtest: the server's metrics: %w", err)
	}

	stopProgress := r.progress(ctx, scr)
	r.start = time.Now()
	if opts.Rate > 0 {
		r.send(ctx)
		r.drain(ctx, visitors)
	} else {
		select {
		case <-time.After(opts.Duration):
		case <-ctx.Done():
		}
	}
	elapsed := time.Since(r.start)
	stopProgress()
	end, err := scr.sample(ctx)
	if err != nil {
		r.errorf("metrics: " + err.Error())
	}
	for _, v := range visitors {
		v.close()
	}
	cancel()
	wg.Wait()

	rep := r.report(visitors, elapsed, connectTime, base, held, end, scr.peakRSS())
	return rep, nil
}

// send schedules Rate messages per second for Duration and hands each to a free visitor.
func (r *run) send(ctx context.Context) {
	interval := time.Duration(float64(time.Second) / r.opts.Rate)
	n := int(r.opts.Duration.Seconds() * r.opts.Rate)
	// Senders: enough that one slow write does not hold up the schedule.
	jobs := make(chan job, 1<<16)
	// Once the schedule is over, a message still waiting for a free visitor waits at most
	// Drain: visitors whose replies never come would otherwise hold the run forever.
	giveUp := make(chan struct{})
	var wg sync.WaitGroup
	for i := 0; i < 32; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				var v *visitor
				select {
				case v = <-r.free:
				case <-giveUp:
					r.unsent.Add(1)
					continue
				case <-ctx.Done():
					return
				}
				if time.Since(j.at) > 10*time.Millisecond {
					r.late.Add(1)
				}
				v.ask(ctx, j)
			}
		}()
	}
	// Questions are drawn at random: handed out in turn, a visitor would get the same
	// question again and again (visitors and questions cycle together), and the bot
	// rightly hands a customer who repeats themselves to a person.
	rng := rand.New(rand.NewPCG(uint64(n), 2))
	for i := 0; i < n; i++ {
		at := r.start.Add(time.Duration(i) * interval)
		if d := time.Until(at); d > 0 {
			select {
			case <-time.After(d):
			case <-ctx.Done():
			}
		}
		if ctx.Err() != nil {
			break
		}
		jobs <- job{at: at, text: r.opts.Questions[rng.IntN(len(r.opts.Questions))]}
	}
	close(jobs)
	t := time.AfterFunc(r.opts.Drain, func() { close(giveUp) })
	wg.Wait()
	t.Stop()
}

// drain waits until no visitor awaits an ack or a reply, or Drain has passed.
func (r *run) drain(ctx context.Context, visitors []*visitor) {
	deadline := time.Now().Add(r.opts.Drain)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		owed := 0
		for _, v := range visitors {
			owed += v.owed()
		}
		if owed == 0 {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (r *run) progress(ctx context.Context, scr *scraper) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(time.Second)
		defer t.Stop()
		var lastSent, lastReplied int64
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			s, err := scr.sample(ctx) // also keeps the peak RSS, with or without a progress line
			if r.opts.Progress == nil {
				continue
			}
			sent, replied := r.sent.Load(), r.replied.Load()
			line := fmt.Sprintf("%5.0fs  sent %6d/s  replies %6d/s  connected %d", time.Since(r.start).Seconds(),
				sent-lastSent, replied-lastReplied, r.connected.Load())
			if err == nil {
				line += fmt.Sprintf("  server rss %.0f MiB", float64(s.rss)/(1<<20))
			}
			fmt.Fprintln(r.opts.Progress, line)
			lastSent, lastReplied = sent, replied
		}
	}()
	return func() { cancel(); <-done }
}

// Report is what a run found.
type Report struct {
	Visitors    int
	Rate        float64
	Elapsed     time.Duration
	ConnectTime time.Duration

	Sent, Acked, Replied, HandedOff int64
	// HandedMsgs were sent while the bot handed their conversation to a person: no bot
	// reply is owed for them.
	HandedMsgs int64
	// Lost: sent and never acknowledged, acknowledged and never answered, or a gap in a
	// conversation's sequence numbers. Duplicated: an ack, or a message, received twice.
	LostUnacked, LostUnanswered, Gaps int64
	DupAcks, DupMessages              int64
	Late                              int64
	// Unsent: scheduled, but no visitor was free before the drain time ran out (every
	// visitor was still waiting for a reply).
	Unsent                            int64
	Connected, Reconnects, DialErrors int64
	Errors                            map[string]int

	P50, P95, P99, Max time.Duration

	Server ServerFigures
}

// ServerFigures come from the server's /metrics.
type ServerFigures struct {
	BaselineRSS, HeldRSS, PeakRSS, EndRSS int64
	// CPUSeconds the server used while messages were sent (or connections held).
	CPUSeconds float64
}

// Lost is every message the run counted as lost.
func (p *Report) Lost() int64 { return p.LostUnacked + p.LostUnanswered + p.Gaps }

// Duplicated is every message or ack received more than once.
func (p *Report) Duplicated() int64 { return p.DupAcks + p.DupMessages }

// OK is true when nothing was lost or duplicated and there were no errors.
func (p *Report) OK() bool {
	n := 0
	for _, c := range p.Errors {
		n += c
	}
	return p.Lost() == 0 && p.Duplicated() == 0 && n == 0 && p.DialErrors == 0 && p.Unsent == 0
}

func (r *run) report(visitors []*visitor, elapsed, connectTime time.Duration, base, held, end sample, peak int64) *Report {
	rep := &Report{Visitors: r.opts.Visitors, Rate: r.opts.Rate, Elapsed: elapsed, ConnectTime: connectTime,
		Sent: r.sent.Load(), Acked: r.acked.Load(), Replied: r.replied.Load(), HandedOff: r.handedOff.Load(), HandedMsgs: r.handedMsgs.Load(),
		Gaps: r.gaps.Load(), DupAcks: r.dupAcks.Load(), DupMessages: r.dupMessages.Load(), Late: r.late.Load(), Unsent: r.unsent.Load(),
		Connected: r.connected.Load(), Reconnects: r.reconnects.Load(), DialErrors: r.dialErrors.Load(),
		Errors: map[string]int{}}
	for _, v := range visitors {
		u, a := v.unsettled()
		rep.LostUnacked += u
		rep.LostUnanswered += a
	}
	r.mu.Lock()
	for k, c := range r.errs {
		rep.Errors[k] = c
	}
	lat := r.latencies
	r.mu.Unlock()
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	if n := len(lat); n > 0 {
		q := func(p float64) time.Duration { return lat[min(n-1, int(math.Ceil(p*float64(n)))-1)] }
		rep.P50, rep.P95, rep.P99, rep.Max = q(0.50), q(0.95), q(0.99), lat[n-1]
	}
	rep.Server = ServerFigures{BaselineRSS: base.rss, HeldRSS: held.rss, PeakRSS: max(peak, end.rss, held.rss),
		EndRSS: end.rss, CPUSeconds: end.cpu - held.cpu}
	return rep
}

// Print writes the report for people.
func (p *Report) Print(w io.Writer) {
	secs := p.Elapsed.Seconds()
	fmt.Fprintf(w, "visitors      %d connected in %s (%d reconnects, %d failed dials)\n",
		p.Connected, p.ConnectTime.Round(time.Millisecond), p.Reconnects, p.DialErrors)
	if p.Rate > 0 {
		fmt.Fprintf(w, "schedule      %.0f messages/s for %s (%d sent more than 10 ms late, %d never sent: no visitor free)\n",
			p.Rate, p.Elapsed.Round(time.Millisecond), p.Late, p.Unsent)
		fmt.Fprintf(w, "throughput    %.0f messages/s sent, %.0f bot replies/s\n", float64(p.Sent)/secs, float64(p.Replied)/secs)
		fmt.Fprintf(w, "bot replies   p50 %s  p95 %s  p99 %s  max %s   (scheduled send → reply received)\n",
			ms(p.P50), ms(p.P95), ms(p.P99), ms(p.Max))
		fmt.Fprintf(w, "accounting    sent %d  acked %d  replied %d  (conversations handed to a person %d, with %d messages awaiting the bot)\n",
			p.Sent, p.Acked, p.Replied, p.HandedOff, p.HandedMsgs)
		fmt.Fprintf(w, "lost          %d  (never acked %d, acked but never answered %d, sequence gaps %d)\n",
			p.Lost(), p.LostUnacked, p.LostUnanswered, p.Gaps)
		fmt.Fprintf(w, "duplicated    %d  (acks %d, messages %d)\n", p.Duplicated(), p.DupAcks, p.DupMessages)
	} else {
		fmt.Fprintf(w, "idle          held for %s\n", p.Elapsed.Round(time.Millisecond))
	}
	keys := make([]string, 0, len(p.Errors))
	for k := range p.Errors {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	if len(keys) == 0 {
		fmt.Fprintln(w, "errors        0")
	}
	for _, k := range keys {
		fmt.Fprintf(w, "errors        %d × %s\n", p.Errors[k], k)
	}
	s := p.Server
	perConn := "below the noise"
	if s.HeldRSS > s.BaselineRSS {
		perConn = fmt.Sprintf("%.1f KiB per connection", float64(s.HeldRSS-s.BaselineRSS)/1024/float64(max(1, p.Connected)))
	}
	fmt.Fprintf(w, "server rss    %.1f MiB before, %.1f MiB with every visitor connected (%s), peak %.1f MiB, %.1f MiB at the end\n",
		mib(s.BaselineRSS), mib(s.HeldRSS), perConn, mib(s.PeakRSS), mib(s.EndRSS))
	fmt.Fprintf(w, "server cpu    %.1f s in %.1f s (%.2f cores)\n", s.CPUSeconds, secs, s.CPUSeconds/secs)
	switch {
	case p.OK() && p.Rate == 0:
		fmt.Fprintln(w, "result        ok: every visitor connected and held")
	case p.OK():
		fmt.Fprintln(w, "result        ok: every message acknowledged once and answered once")
	default:
		fmt.Fprintln(w, "result        FAILED: messages lost or duplicated, or errors")
	}
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1fms", float64(d.Microseconds())/1000) }
func mib(b int64) float64       { return float64(b) / (1 << 20) }
