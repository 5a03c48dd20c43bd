package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/conciergehq/concierge"
	"github.com/conciergehq/concierge/bot"
	"github.com/conciergehq/concierge/channels"
)

const botUsage = `Usage:
  concierge bot test [--data DIR] --questions FILE.jsonl [--out FILE.jsonl] [--min-accuracy P]

Runs each question as a new conversation against the published knowledge base in the
data directory (import it first with "concierge kb import") and reports what the bot
decided. Input lines: {"text": "...", "expect": "<article id>" | null, "lang": "en"}.
"expect": null means the bot should escalate (the KB has no answer).
`

func runBot(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "test" {
		fmt.Fprint(stderr, botUsage)
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "help") {
			return flag.ErrHelp
		}
		return usagef("want a subcommand: test")
	}
	fs := flag.NewFlagSet("bot test", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, botUsage); fs.PrintDefaults() }
	var g globals
	g.register(fs)
	questions := fs.String("questions", "", "JSON-lines file of questions (required; - reads standard input)")
	out := fs.String("out", "", "write one JSON line per question here (default: standard output)")
	minAcc := fs.String("min-accuracy", "", "fail (exit 1) when top-1 accuracy over in-scope questions is below this (0.9 or 90%)")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("unexpected arguments %q", fs.Args())
	}
	if *questions == "" {
		return usagef("--questions is required")
	}
	var threshold float64 = -1
	if *minAcc != "" {
		v, err := parseAccuracy(*minAcc)
		if err != nil {
			return usagef("--min-accuracy: %v", err)
		}
		threshold = v
	}
	var in io.Reader = os.Stdin
	if *questions != "-" {
		f, err := os.Open(*questions)
		if err != nil {
			return err
		}
		defer f.Close()
		in = f
	}
	lines, err := readQuestions(in, *questions)
	if err != nil {
		return err
	}
	e, err := g.open(ctx, stderr)
	if err != nil {
		return err
	}
	defer e.close()
	b, closeKB, err := openBotForTest(ctx, e)
	if err != nil {
		return err
	}
	defer closeKB()
	results := stdout
	if *out != "" && *out != "-" {
		f, err := os.Create(*out)
		if err != nil {
			return err
		}
		defer f.Close()
		results = f
	}
	sum, err := testBot(ctx, b, lines, *questions, results)
	if err != nil {
		return err
	}
	sum.print(stdout)
	if threshold >= 0 && sum.accuracy() < threshold {
		fmt.Fprintf(stderr, "concierge bot test: top-1 accuracy %.2f%% is below --min-accuracy %.2f%%\n", 100*sum.accuracy(), 100*threshold)
		return errFailed
	}
	return nil
}

func parseAccuracy(s string) (float64, error) {
	pct := strings.HasSuffix(s, "%")
	v, err := strconv.ParseFloat(strings.TrimSuffix(s, "%"), 64)
	if err != nil || v < 0 {
		return 0, fmt.Errorf("%q is not a share (0.9) or a percentage (90%%)", s)
	}
	if pct || v > 1 {
		v /= 100
	}
	if v > 1 {
		return 0, fmt.Errorf("%q is above 100%%", s)
	}
	return v, nil
}

// question is one input line.
type question struct {
	Text   string  `json:"text"`
	Expect *string `json:"expect"`
	Lang   string  `json:"lang,omitempty"`
	line   int
}

// readQuestions reads and checks every line before anything runs, so a typo on line 900
// does not surface after minutes of work.
func readQuestions(r io.Reader, name string) ([]question, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	var out []question
	n := 0
	for sc.Scan() {
		n++
		raw := strings.TrimSpace(sc.Text())
		if raw == "" {
			continue
		}
		var fields map[string]json.RawMessage
		if err := json.Unmarshal([]byte(raw), &fields); err != nil {
			return nil, fmt.Errorf("%s line %d: not a JSON object: %v", name, n, err)
		}
		for k := range fields {
			if k != "text" && k != "expect" && k != "lang" {
				return nil, fmt.Errorf("%s line %d: unknown field %q (want text, expect, lang)", name, n, k)
			}
		}
		var q question
		if err := json.Unmarshal([]byte(raw), &q); err != nil {
			return nil, fmt.Errorf("%s line %d: %v (want {\"text\": string, \"expect\": article id or null})", name, n, err)
		}
		if _, ok := fields["expect"]; !ok {
			return nil, fmt.Errorf("%s line %d: \"expect\" is missing (an article id, or null when the bot should escalate)", name, n)
		}
		if strings.TrimSpace(q.Text) == "" {
			return nil, fmt.Errorf("%s line %d: \"text\" is empty", name, n)
		}
		if q.Expect != nil && strings.TrimSpace(*q.Expect) == "" {
			return nil, fmt.Errorf("%s line %d: \"expect\" is an empty string (use null for out-of-scope questions)", name, n)
		}
		q.line = n
		out = append(out, q)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s line %d: %w", name, n+1, err)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: no questions", name)
	}
	return out, nil
}

// result is one output line.
type result struct {
	Text      string  `json:"text"`
	Action    string  `json:"action"`
	ArticleID string  `json:"article_id"`
	Score     float64 `json:"score"`
	Expect    *string `json:"expect"`
	OK        bool    `json:"ok"`
}

type testSummary struct {
	total, inScope, inScopeOK, inScopeTop, outScope, outScopeOK, escalated int
	actions                                                                map[string]int
	durations                                                              []time.Duration
	elapsed                                                                time.Duration
}

func (s *testSummary) accuracy() float64 {
	if s.inScope == 0 {
		return 1
	}
	return float64(s.inScopeOK) / float64(s.inScope)
}

// testBot runs each question as its own conversation. It refuses expectations naming
// articles that are not published (a typo would otherwise count as the bot's mistake).
func testBot(ctx context.Context, b *bot.Bot, qs []question, name string, w io.Writer) (*testSummary, error) {
	for _, q := range qs {
		if q.Expect != nil && !b.Knows(*q.Expect) {
			return nil, fmt.Errorf("%s line %d: \"expect\": no published article %q", name, q.line, *q.Expect)
		}
	}
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	s := &testSummary{actions: map[string]int{}}
	start := time.Now()
	for i, q := range qs {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		msg := concierge.Message{ID: int64(i + 1), ConversationID: int64(i + 1), Seq: 1, Sender: concierge.SenderUser, Text: q.Text}
		turn := channels.Turn{
			Conversation: concierge.Conversation{ID: int64(i + 1), Channel: "test", Status: concierge.StatusBot, Language: q.Lang},
			Contact:      concierge.Contact{ID: int64(i + 1), Channel: "test", Attributes: map[string]string{"language": q.Lang}},
			Message:      msg, History: []concierge.Message{msg},
		}
		t0 := time.Now()
		reply, err := b.Respond(ctx, turn)
		s.durations = append(s.durations, time.Since(t0))
		if err != nil {
			return nil, fmt.Errorf("%s line %d: %w", name, q.line, err)
		}
		d := reply.Decision
		r := result{Text: q.Text, Action: d.Action, ArticleID: d.ArticleID, Score: d.Score, Expect: q.Expect}
		s.total++
		s.actions[d.Action]++
		if d.Action == "escalate" {
			s.escalated++
		}
		if q.Expect != nil {
			s.inScope++
			if d.ArticleID == *q.Expect {
				s.inScopeTop++
			}
			r.OK = (d.Action == "answer" || d.Action == "ask") && d.ArticleID == *q.Expect
			if r.OK {
				s.inScopeOK++
			}
		} else {
			s.outScope++
			r.OK = d.Action == "escalate"
			if r.OK {
				s.outScopeOK++
			}
		}
		if err := enc.Encode(r); err != nil {
			return nil, err
		}
	}
	s.elapsed = time.Since(start)
	return s, nil
}

func (s *testSummary) print(w io.Writer) {
	pct := func(a, b int) string {
		if b == 0 {
			return "n/a"
		}
		return fmt.Sprintf("%.2f%% (%d/%d)", 100*float64(a)/float64(b), a, b)
	}
	fmt.Fprintf(w, "questions: %d (%d in scope, %d out of scope)\n", s.total, s.inScope, s.outScope)
	fmt.Fprintf(w, "top-1 accuracy (in scope, answered or asked for the expected article): %s\n", pct(s.inScopeOK, s.inScope))
	fmt.Fprintf(w, "top-1 ranking (in scope, expected article ranked first whatever the action): %s\n", pct(s.inScopeTop, s.inScope))
	fmt.Fprintf(w, "escalated: %s\n", pct(s.escalated, s.total))
	fmt.Fprintf(w, "out-of-scope recall (escalated): %s\n", pct(s.outScopeOK, s.outScope))
	names := make([]string, 0, len(s.actions))
	for a := range s.actions {
		names = append(names, a)
	}
	sort.Strings(names)
	var parts []string
	for _, a := range names {
		parts = append(parts, fmt.Sprintf("%s %d", a, s.actions[a]))
	}
	fmt.Fprintf(w, "actions: %s\n", strings.Join(parts, ", "))
	d := append([]time.Duration(nil), s.durations...)
	sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
	q := func(p float64) time.Duration { return d[min(len(d)-1, int(p*float64(len(d))))] }
	rate := float64(s.total) / max(s.elapsed.Seconds(), 1e-9)
	fmt.Fprintf(w, "decisions per second: %.0f (p50 %s, p99 %s)\n", rate, q(0.5).Round(time.Microsecond), q(0.99).Round(time.Microsecond))
	passed := s.inScopeOK + s.outScopeOK
	fmt.Fprintf(w, "%d passed, %d failed\n", passed, s.total-passed)
}

// errNoArticles: the data directory has no published article to test against.
var errNoArticles = errors.New("the knowledge base has no published article; import one first with: concierge kb import DIR --data DIR")
