// Package panel is the agent panel at /agent: a JSON API over the handoff service, a
// WebSocket that streams queue, message, typing, delivery and presence events to each
// agent (filtered to what they may see), and the embedded web UI.
package panel

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"strconv"
	"strings"

	"github.com/rs/zerolog"

	"github.com/conciergehq/concierge"
	"github.com/conciergehq/concierge/handoff"
	"github.com/conciergehq/concierge/internal/auth"
	"github.com/conciergehq/concierge/internal/bus"
	"github.com/conciergehq/concierge/internal/httpx"
	"github.com/conciergehq/concierge/internal/metrics"
	"github.com/conciergehq/concierge/kb"
)

//go:embed ui
var uiFiles embed.FS

// ArticleSearcher finds KB articles for "insert KB article". The KB provides it; the
// panel works without one (the button then says the KB is not connected).
type ArticleSearcher interface {
	Search(ctx context.Context, q kb.Query) ([]kb.Hit, error)
	Article(ctx context.Context, id string) (kb.Article, error)
}

// Bus is where the panel listens for events (internal/bus).
type Bus interface {
	Subscribe(topic string, size int) *bus.Subscription
}

// Options tune the panel.
type Options struct {
	// Search is the KB search; nil (or one whose Available() is false) disables "insert
	// KB article".
	Search  ArticleSearcher
	Metrics *metrics.Metrics
	// SendQueue is how many events may wait for one slow panel before it is dropped
	// (default 256); the panel then reconnects and reloads its state.
	SendQueue int
}

// Panel serves /agent.
type Panel struct {
	svc    *handoff.Service
	auth   *auth.Service
	assets *httpx.Assets
	search ArticleSearcher
	hub    *hub
	log    zerolog.Logger
}

// New returns the panel. Run its hub with Run.
func New(svc *handoff.Service, a *auth.Service, b Bus, opts Options, log zerolog.Logger) (*Panel, error) {
	sub, err := fs.Sub(uiFiles, "ui")
	if err != nil {
		return nil, fmt.Errorf("panel: %w", err)
	}
	assets, err := httpx.NewAssets(sub, "/agent/assets")
	if err != nil {
		return nil, fmt.Errorf("panel: %w", err)
	}
	if opts.SendQueue <= 0 {
		opts.SendQueue = 256
	}
	log = log.With().Str("component", "panel").Logger()
	p := &Panel{svc: svc, auth: a, assets: assets, search: opts.Search, log: log}
	p.hub = newHub(svc, a, b, opts.SendQueue, opts.Metrics, log)
	return p, nil
}

// Run fans events out to connected panels until ctx ends.
func (p *Panel) Run(ctx context.Context) error { return p.hub.run(ctx) }

// Routes mounts the panel. Every route needs a signed-in agent (admins included).
func (p *Panel) Routes(mux *http.ServeMux) {
	g := func(pattern string, h http.HandlerFunc) {
		mux.Handle(pattern, p.auth.Require(httpx.RoleAgent, h))
	}
	mux.Handle(p.assets.Pattern(), p.assets)
	g("GET /agent", p.page)
	g("GET /agent/ws", p.hub.serve)
	g("GET /agent/api/bootstrap", p.bootstrap)
	g("GET /agent/api/queue", p.queue)
	g("GET /agent/api/closed", p.closed)
	g("GET /agent/api/stats", p.stats)
	g("GET /agent/api/agents", p.agents)
	g("PUT /agent/api/presence", p.presence)
	g("GET /agent/api/conversations/{id}", p.view)
	g("POST /agent/api/conversations/{id}/claim", p.claim)
	g("POST /agent/api/conversations/{id}/messages", p.reply)
	g("POST /agent/api/conversations/{id}/read", p.read)
	g("POST /agent/api/conversations/{id}/typing", p.typing)
	g("POST /agent/api/conversations/{id}/transfer", p.transfer)
	g("POST /agent/api/conversations/{id}/close", p.close)
	g("GET /agent/api/canned", p.canned)
	g("POST /agent/api/canned", p.saveCanned)
	g("PUT /agent/api/canned/{id}", p.saveCanned)
	g("DELETE /agent/api/canned/{id}", p.deleteCanned)
	g("GET /agent/api/kb/search", p.kbSearch)
	g("GET /agent/api/kb/articles/{id}", p.kbArticle)
}

var pageTmpl = template.Must(template.New("panel").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Concierge — Agent panel</title>
<link rel="stylesheet" href="{{.CSS}}">
<script type="module" src="{{.JS}}"></script>
</head><body>
<div id="app" data-assets="{{.Base}}"><p class="boot">Loading…</p></div>
</body></html>`))

func (p *Panel) page(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data: blob:; media-src 'self' blob:; "+
		"connect-src 'self' ws://"+r.Host+" wss://"+r.Host+"; script-src 'self'; style-src 'self'; object-src 'none'; "+
		"frame-ancestors 'none'; base-uri 'none'; form-action 'self'")
	h.Set("X-Frame-Options", "DENY")
	_ = pageTmpl.Execute(w, map[string]string{"CSS": p.assets.URL("panel.css"), "JS": p.assets.URL("app.js"), "Base": p.assets.Base()})
}

func account(r *http.Request) auth.Account {
	a, _ := auth.AccountFrom(r.Context())
	return a
}

func convID(w http.ResponseWriter, r *http.Request) (int64, bool) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		httpx.Error(w, r, http.StatusBadRequest, concierge.Invalidf("conversation id %q is not a number", r.PathValue("id")))
		return 0, false
	}
	return id, true
}

func answer(w http.ResponseWriter, r *http.Request, v any, err error) {
	if err != nil {
		httpx.Fail(w, r, err)
		return
	}
	httpx.JSON(w, http.StatusOK, v)
}

const maxBody = 64 << 10

type bootstrap struct {
	Me       auth.Account          `json:"me"`
	Presence handoff.Presence      `json:"presence"`
	Teams    []handoff.Team        `json:"teams"`
	KB       bool                  `json:"kb"`
	Agents   []handoff.AgentState  `json:"agents"`
	Canned   []handoff.Canned      `json:"canned"`
	Tiers    map[string]slaSeconds `json:"sla"`
}

type slaSeconds struct {
	FirstResponse int64 `json:"first_response_s"`
	Resolution    int64 `json:"resolution_s"`
}

func (p *Panel) bootstrap(w http.ResponseWriter, r *http.Request) {
	a := account(r)
	agents, err := p.svc.Agents(r.Context())
	if err != nil {
		httpx.Fail(w, r, err)
		return
	}
	canned, err := p.svc.CannedResponses(r.Context(), a)
	if err != nil {
		httpx.Fail(w, r, err)
		return
	}
	httpx.JSON(w, http.StatusOK, bootstrap{Me: a, Presence: p.svc.Presence(a.ID), Teams: p.svc.Teams(), KB: p.kbOn(),
		Agents: agents, Canned: canned})
}

// visibleTeams is nil (all) for admins, else the agent's teams.
func visibleTeams(a auth.Account) []string {
	if a.Admin() {
		return nil
	}
	return append([]string{}, a.Teams...)
}

type queueResponse struct {
	Queued []handoff.QueueItem `json:"queued"`
	// Totals counts each team's whole queue; Queued holds at most limit per team (the
	// head of the queue is what agents act on, and 200 panels re-reading 2,000 items
	// after every change would cost more than it shows).
	Totals   map[string]int      `json:"totals"`
	Mine     []handoff.QueueItem `json:"mine"`
	Assigned []handoff.QueueItem `json:"assigned"`
}

func (p *Panel) queue(w http.ResponseWriter, r *http.Request) {
	a := account(r)
	limit := 100
	if v, err := strconv.Atoi(r.URL.Query().Get("limit")); err == nil && v > 0 && v <= 5000 {
		limit = v
	}
	all, err := p.svc.Queue(r.Context(), visibleTeams(a))
	if err != nil {
		httpx.Fail(w, r, err)
		return
	}
	totals := map[string]int{}
	q := make([]handoff.QueueItem, 0, min(len(all), limit))
	for _, it := range all {
		team := it.Conversation.Team
		if totals[team]++; totals[team] <= limit {
			q = append(q, it)
		}
	}
	mine, err := p.svc.Mine(r.Context(), a)
	if err != nil {
		httpx.Fail(w, r, err)
		return
	}
	assigned, err := p.svc.Assigned(r.Context(), a)
	answer(w, r, queueResponse{Queued: q, Totals: totals, Mine: mine, Assigned: assigned}, err)
}

func (p *Panel) closed(w http.ResponseWriter, r *http.Request) {
	items, err := p.svc.Closed(r.Context(), account(r), 50)
	answer(w, r, items, err)
}

func (p *Panel) stats(w http.ResponseWriter, r *http.Request) {
	st, err := p.svc.Stats(r.Context(), account(r), 30)
	answer(w, r, st, err)
}

func (p *Panel) agents(w http.ResponseWriter, r *http.Request) {
	list, err := p.svc.Agents(r.Context())
	answer(w, r, list, err)
}

func (p *Panel) presence(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Presence handoff.Presence `json:"presence"`
	}
	if err := httpx.DecodeJSON(w, r, &in, maxBody); err != nil {
		httpx.Fail(w, r, err)
		return
	}
	err := p.svc.SetPresence(r.Context(), account(r), in.Presence)
	answer(w, r, map[string]any{"presence": p.svc.Presence(account(r).ID)}, err)
}

func (p *Panel) view(w http.ResponseWriter, r *http.Request) {
	id, ok := convID(w, r)
	if !ok {
		return
	}
	v, err := p.svc.View(r.Context(), account(r), id)
	answer(w, r, v, err)
}

func (p *Panel) claim(w http.ResponseWriter, r *http.Request) {
	id, ok := convID(w, r)
	if !ok {
		return
	}
	c, err := p.svc.Claim(r.Context(), account(r), id)
	answer(w, r, c, err)
}

func (p *Panel) reply(w http.ResponseWriter, r *http.Request) {
	id, ok := convID(w, r)
	if !ok {
		return
	}
	var in struct {
		Text     string `json:"text"`
		Internal bool   `json:"internal"`
	}
	if err := httpx.DecodeJSON(w, r, &in, maxBody); err != nil {
		httpx.Fail(w, r, err)
		return
	}
	m, err := p.svc.Reply(r.Context(), account(r), id, in.Text, in.Internal)
	answer(w, r, m, err)
}

func (p *Panel) read(w http.ResponseWriter, r *http.Request) {
	id, ok := convID(w, r)
	if !ok {
		return
	}
	answer(w, r, map[string]bool{"ok": true}, p.svc.MarkRead(r.Context(), account(r), id))
}

func (p *Panel) typing(w http.ResponseWriter, r *http.Request) {
	id, ok := convID(w, r)
	if !ok {
		return
	}
	var in struct {
		On bool `json:"on"`
	}
	if err := httpx.DecodeJSON(w, r, &in, maxBody); err != nil {
		httpx.Fail(w, r, err)
		return
	}
	answer(w, r, map[string]bool{"ok": true}, p.svc.Typing(r.Context(), account(r), id, in.On))
}

func (p *Panel) transfer(w http.ResponseWriter, r *http.Request) {
	id, ok := convID(w, r)
	if !ok {
		return
	}
	var in struct {
		AgentID int64  `json:"agent_id"`
		Team    string `json:"team"`
		Note    string `json:"note"`
	}
	if err := httpx.DecodeJSON(w, r, &in, maxBody); err != nil {
		httpx.Fail(w, r, err)
		return
	}
	c, err := p.svc.Transfer(r.Context(), account(r), id, in.AgentID, in.Team, in.Note)
	answer(w, r, c, err)
}

func (p *Panel) close(w http.ResponseWriter, r *http.Request) {
	id, ok := convID(w, r)
	if !ok {
		return
	}
	var in struct {
		Resolution handoff.Resolution `json:"resolution"`
		Tags       []string           `json:"tags"`
	}
	if err := httpx.DecodeJSON(w, r, &in, maxBody); err != nil {
		httpx.Fail(w, r, err)
		return
	}
	c, err := p.svc.Close(r.Context(), account(r), id, in.Resolution, in.Tags)
	answer(w, r, c, err)
}

func (p *Panel) canned(w http.ResponseWriter, r *http.Request) {
	list, err := p.svc.CannedResponses(r.Context(), account(r))
	answer(w, r, list, err)
}

func (p *Panel) saveCanned(w http.ResponseWriter, r *http.Request) {
	var c handoff.Canned
	if err := httpx.DecodeJSON(w, r, &c, maxBody); err != nil {
		httpx.Fail(w, r, err)
		return
	}
	c.ID = 0
	if r.PathValue("id") != "" {
		id, ok := convID(w, r)
		if !ok {
			return
		}
		c.ID = id
	}
	saved, err := p.svc.SaveCanned(r.Context(), account(r), c)
	answer(w, r, saved, err)
}

func (p *Panel) deleteCanned(w http.ResponseWriter, r *http.Request) {
	id, ok := convID(w, r)
	if !ok {
		return
	}
	answer(w, r, map[string]bool{"ok": true}, p.svc.DeleteCanned(r.Context(), account(r), id))
}

var errNoKB = errors.New("the knowledge base is not connected to the panel")

// kbOn reports whether a searcher is there (one may say it is not wired yet).
func (p *Panel) kbOn() bool {
	if p.search == nil {
		return false
	}
	if a, ok := p.search.(interface{ Available() bool }); ok {
		return a.Available()
	}
	return true
}

func (p *Panel) kbSearch(w http.ResponseWriter, r *http.Request) {
	if !p.kbOn() {
		// Not a server fault, so say why (httpx.Error hides 5xx messages).
		httpx.JSON(w, http.StatusNotImplemented, httpx.ErrorBody{Error: errNoKB.Error(), RequestID: httpx.RequestID(r.Context())})
		return
	}
	q := strings.TrimSpace(r.URL.Query().Get("q"))
	if q == "" || len(q) > 500 {
		httpx.Error(w, r, http.StatusBadRequest, concierge.Invalidf("q must be 1-500 bytes"))
		return
	}
	hits, err := p.search.Search(r.Context(), kb.Query{Text: q, Lang: r.URL.Query().Get("lang"), Limit: 10})
	if hits == nil {
		hits = []kb.Hit{}
	}
	answer(w, r, hits, err)
}

func (p *Panel) kbArticle(w http.ResponseWriter, r *http.Request) {
	if !p.kbOn() {
		// Not a server fault, so say why (httpx.Error hides 5xx messages).
		httpx.JSON(w, http.StatusNotImplemented, httpx.ErrorBody{Error: errNoKB.Error(), RequestID: httpx.RequestID(r.Context())})
		return
	}
	a, err := p.search.Article(r.Context(), r.PathValue("id"))
	if err == nil && a.Status != kb.StatusPublished {
		err = fmt.Errorf("article %s is a draft: %w", a.ID, concierge.ErrNotFound)
	}
	answer(w, r, a, err)
}
