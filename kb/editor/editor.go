// Package editor is the knowledge base's web face: the editors' UI at /kb with its JSON
// API under /api/kb/, and the public help pages at /help that customers (and the bot's
// links) open.
package editor

import (
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/conciergehq/concierge"
	"github.com/conciergehq/concierge/internal/httpx"
	"github.com/conciergehq/concierge/kb"
)

//go:embed ui
var uiFiles embed.FS

//go:embed templates/*.html
var templateFiles embed.FS

// Editor serves the editor UI, its API and the help pages.
type Editor struct {
	kb      *kb.Base
	auth    httpx.Auth
	log     zerolog.Logger
	assets  *httpx.Assets
	pages   *template.Template
	votes   *httpx.Limiter
	baseURL string
	trust   bool
}

// Options configure the editor.
type Options struct {
	// TrustProxy takes the client address from X-Forwarded-For (vote rate limiting).
	TrustProxy bool
}

// New builds the editor over the knowledge base; auth guards the editor and its API.
func New(base *kb.Base, auth httpx.Auth, log zerolog.Logger, opts Options) (*Editor, error) {
	sub, err := fs.Sub(uiFiles, "ui")
	if err != nil {
		return nil, err
	}
	assets, err := httpx.NewAssets(sub, "/kb/assets")
	if err != nil {
		return nil, err
	}
	e := &Editor{kb: base, auth: auth, log: log.With().Str("component", "kb-editor").Logger(), assets: assets,
		votes: httpx.NewLimiter(30, 10), trust: opts.TrustProxy}
	e.pages, err = template.New("").Funcs(template.FuncMap{
		"asset": assets.URL,
		"html":  func(s string) template.HTML { return template.HTML(s) }, // only for kb.RenderHTML output
		"date":  func(t time.Time) string { return t.Format("2006-01-02") },
	}).ParseFS(templateFiles, "templates/*.html")
	if err != nil {
		return nil, fmt.Errorf("editor: templates: %w", err)
	}
	return e, nil
}

// Routes mounts everything on mux. The whole API reads top to bottom here.
func (e *Editor) Routes(mux *http.ServeMux) {
	ed := func(h http.HandlerFunc) http.Handler { return e.auth.Require(httpx.RoleEditor, h) }
	// write wraps a state-changing JSON endpoint: it must be JSON (a cross-site form
	// cannot send that without a CORS preflight, which we never grant).
	write := func(h http.HandlerFunc) http.Handler { return ed(requireJSON(h)) }

	mux.Handle(e.assets.Pattern(), e.assets)
	mux.Handle("GET /kb", ed(e.page))
	mux.Handle("GET /kb/{$}", ed(e.page))

	mux.Handle("GET /api/kb/me", ed(e.me))
	mux.Handle("GET /api/kb/articles", ed(e.list))
	mux.Handle("POST /api/kb/articles", write(e.create))
	mux.Handle("GET /api/kb/articles/{id}", ed(e.get))
	mux.Handle("PUT /api/kb/articles/{id}", write(e.update))
	mux.Handle("DELETE /api/kb/articles/{id}", ed(e.remove))
	mux.Handle("POST /api/kb/articles/{id}/publish", write(e.status(kb.StatusPublished)))
	mux.Handle("POST /api/kb/articles/{id}/unpublish", write(e.status(kb.StatusDraft)))
	mux.Handle("GET /api/kb/articles/{id}/versions", ed(e.versions))
	mux.Handle("GET /api/kb/articles/{id}/versions/{n}", ed(e.version))
	mux.Handle("POST /api/kb/articles/{id}/versions/{n}/restore", write(e.restore))
	mux.Handle("GET /api/kb/articles/{id}/diff", ed(e.diff))
	mux.Handle("GET /api/kb/articles/{id}/export", ed(e.exportOne))
	mux.Handle("POST /api/kb/import", write(e.importFiles))
	mux.Handle("POST /api/kb/preview", write(e.preview))
	mux.Handle("GET /api/kb/search", ed(e.search))
	mux.Handle("GET /api/kb/gaps", ed(e.gaps))

	mux.HandleFunc("GET /help", e.helpIndex)
	mux.HandleFunc("GET /help/{$}", e.helpIndex)
	mux.HandleFunc("GET /help/{id}", e.helpArticle)
	mux.HandleFunc("POST /help/{id}/feedback", e.helpFeedback)
}

func requireJSON(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
			httpx.Error(w, r, http.StatusUnsupportedMediaType,
				concierge.Invalidf("content type %q: send application/json", ct))
			return
		}
		h(w, r)
	}
}

// author is who the request acts for, as recorded in versions.
func author(r *http.Request) string {
	u, ok := httpx.UserFrom(r.Context())
	switch {
	case !ok:
		return "unknown"
	case u.Name != "" && u.Email != "":
		return u.Name + " <" + u.Email + ">"
	case u.Name != "":
		return u.Name
	}
	return u.Email
}

func (e *Editor) page(w http.ResponseWriter, r *http.Request) {
	if r.URL.Query().Has("token") {
		// The guard has let the request in (and set its cookie): take the token out of
		// the address bar and the browser history.
		http.Redirect(w, r, "/kb", http.StatusSeeOther)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Security-Policy", "default-src 'self'; img-src 'self' https: data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'")
	if err := e.pages.ExecuteTemplate(w, "editor.html", map[string]any{"Base": e.assets.Base()}); err != nil {
		e.log.Error().Err(err).Msg("render editor page")
	}
}

func (e *Editor) me(w http.ResponseWriter, r *http.Request) {
	u, _ := httpx.UserFrom(r.Context())
	httpx.JSON(w, http.StatusOK, u)
}

// summary is an article in a list: no body, but its statistics.
type summary struct {
	ID        string    `json:"id"`
	Title     string    `json:"title"`
	Lang      string    `json:"lang"`
	Status    kb.Status `json:"status"`
	Tags      []string  `json:"tags,omitempty"`
	Team      string    `json:"team,omitempty"`
	Escalate  bool      `json:"escalate,omitempty"`
	Version   int       `json:"version"`
	Author    string    `json:"author,omitempty"`
	UpdatedAt time.Time `json:"updated_at"`
	Questions int       `json:"questions"`
	Stats     kb.Stats  `json:"stats"`
	Score     float64   `json:"score,omitempty"`
	Snippet   string    `json:"snippet,omitempty"`
	Deleted   bool      `json:"deleted,omitempty"`
}

func summarize(a *kb.Article) summary {
	return summary{ID: a.ID, Title: a.Title, Lang: a.Lang, Status: a.Status, Tags: a.Tags, Team: a.Team,
		Escalate: a.Escalate, Version: a.Version, Author: a.Author, UpdatedAt: a.UpdatedAt,
		Questions: len(a.Questions), Stats: a.Stats, Deleted: a.Deleted()}
}

type listResponse struct {
	Articles []summary `json:"articles"`
	Total    int       `json:"total"`
}

// list: GET /api/kb/articles?q=&lang=&tag=&team=&status=&deleted=1&limit=&offset=
func (e *Editor) list(w http.ResponseWriter, r *http.Request) {
	v := r.URL.Query()
	f := kb.Filter{Lang: v.Get("lang"), Tag: v.Get("tag"), Team: v.Get("team"), Status: kb.Status(v.Get("status")),
		Deleted: v.Get("deleted") == "1"}
	f.Limit, _ = strconv.Atoi(v.Get("limit"))
	f.Offset, _ = strconv.Atoi(v.Get("offset"))
	if q := strings.TrimSpace(v.Get("q")); q != "" && !f.Deleted {
		// With a query the list is the editor's search (drafts included), then filtered.
		hits, err := e.kb.Search(r.Context(), kb.Query{Text: q, Lang: f.Lang, Tag: f.Tag, Drafts: true, Limit: 100})
		if err != nil {
			httpx.Fail(w, r, err)
			return
		}
		out := listResponse{Articles: []summary{}}
		for _, h := range hits {
			a, err := e.kb.Get(r.Context(), h.ID)
			if err != nil || (f.Status != "" && a.Status != f.Status) || (f.Team != "" && a.Team != f.Team) {
				continue
			}
			s := summarize(&a)
			s.Score, s.Snippet = h.Score, h.Snippet
			out.Articles = append(out.Articles, s)
		}
		out.Total = len(out.Articles)
		httpx.JSON(w, http.StatusOK, out)
		return
	}
	arts, total, err := e.kb.List(r.Context(), f)
	if err != nil {
		httpx.Fail(w, r, err)
		return
	}
	out := listResponse{Articles: make([]summary, 0, len(arts)), Total: total}
	for i := range arts {
		out.Articles = append(out.Articles, summarize(&arts[i]))
	}
	httpx.JSON(w, http.StatusOK, out)
}

// articleInput is what the editor sends: the file fields, and on update the version
// the edit started from (a newer stored version makes the save fail with 409).
type articleInput struct {
	ID        string      `json:"id"`
	Title     string      `json:"title"`
	Body      string      `json:"body"`
	Lang      string      `json:"lang"`
	Tags      []string    `json:"tags"`
	Team      string      `json:"team"`
	Questions []string    `json:"questions"`
	Details   []kb.Detail `json:"details"`
	Escalate  bool        `json:"escalate"`
	Status    kb.Status   `json:"status"`
	Version   int         `json:"version"`
}

func (in *articleInput) article() kb.Article {
	return kb.Article{ID: in.ID, Title: in.Title, Body: in.Body, Lang: in.Lang, Tags: in.Tags, Team: in.Team,
		Questions: in.Questions, Details: in.Details, Escalate: in.Escalate, Status: in.Status}
}

// maxArticleJSON bounds a request: a 1 MiB body, escaped, plus the rest.
const maxArticleJSON = 3 << 20

// fail answers an error; a refused field is named so the UI can point at it.
func fail(w http.ResponseWriter, r *http.Request, err error) {
	var fe *kb.FieldError
	if errors.As(err, &fe) {
		httpx.JSON(w, http.StatusBadRequest, map[string]any{"error": fe.Msg, "field": fe.Field,
			"request_id": httpx.RequestID(r.Context())})
		return
	}
	httpx.Fail(w, r, err)
}

func (e *Editor) create(w http.ResponseWriter, r *http.Request) {
	var in articleInput
	if err := httpx.DecodeJSON(w, r, &in, maxArticleJSON); err != nil {
		httpx.Fail(w, r, err)
		return
	}
	a, err := e.kb.Save(r.Context(), in.article(), author(r), 0)
	if err != nil {
		fail(w, r, err)
		return
	}
	httpx.JSON(w, http.StatusCreated, a)
}

func (e *Editor) get(w http.ResponseWriter, r *http.Request) {
	a, err := e.kb.Get(r.Context(), r.PathValue("id"))
	if err != nil {
		httpx.Fail(w, r, err)
		return
	}
	httpx.JSON(w, http.StatusOK, a)
}

func (e *Editor) update(w http.ResponseWriter, r *http.Request) {
	var in articleInput
	if err := httpx.DecodeJSON(w, r, &in, maxArticleJSON); err != nil {
		httpx.Fail(w, r, err)
		return
	}
	id := r.PathValue("id")
	if in.ID == "" {
		in.ID = id
	}
	if in.ID != id {
		httpx.Fail(w, r, concierge.Invalidf("the body's id %q differs from the URL's %q (ids cannot be renamed)", in.ID, id))
		return
	}
	base := in.Version
	if base <= 0 {
		base = kb.AnyVersion
	}
	a, err := e.kb.Save(r.Context(), in.article(), author(r), base)
	if err != nil {
		fail(w, r, err)
		return
	}
	httpx.JSON(w, http.StatusOK, a)
}

func (e *Editor) remove(w http.ResponseWriter, r *http.Request) {
	if err := e.kb.Delete(r.Context(), r.PathValue("id"), author(r)); err != nil {
		httpx.Fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (e *Editor) status(st kb.Status) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		a, err := e.kb.SetStatus(r.Context(), r.PathValue("id"), st, author(r))
		if err != nil {
			fail(w, r, err)
			return
		}
		httpx.JSON(w, http.StatusOK, a)
	}
}

func (e *Editor) versions(w http.ResponseWriter, r *http.Request) {
	vs, err := e.kb.Versions(r.Context(), r.PathValue("id"))
	if err != nil {
		httpx.Fail(w, r, err)
		return
	}
	httpx.JSON(w, http.StatusOK, map[string]any{"versions": vs})
}

func versionParam(r *http.Request, name string) (int, error) {
	n, err := strconv.Atoi(r.PathValue(name))
	if r.PathValue(name) == "" {
		n, err = strconv.Atoi(r.URL.Query().Get(name))
	}
	if err != nil || n <= 0 {
		return 0, concierge.Invalidf("version %q: want a positive number", r.PathValue(name)+r.URL.Query().Get(name))
	}
	return n, nil
}

func (e *Editor) version(w http.ResponseWriter, r *http.Request) {
	n, err := versionParam(r, "n")
	if err != nil {
		httpx.Fail(w, r, err)
		return
	}
	v, err := e.kb.Version(r.Context(), r.PathValue("id"), n)
	if err != nil {
		httpx.Fail(w, r, err)
		return
	}
	httpx.JSON(w, http.StatusOK, v)
}

func (e *Editor) restore(w http.ResponseWriter, r *http.Request) {
	n, err := versionParam(r, "n")
	if err != nil {
		httpx.Fail(w, r, err)
		return
	}
	a, err := e.kb.Restore(r.Context(), r.PathValue("id"), n, author(r))
	if err != nil {
		fail(w, r, err)
		return
	}
	httpx.JSON(w, http.StatusOK, a)
}

// diff: GET /api/kb/articles/{id}/diff?from=N&to=M (to defaults to the current version)
func (e *Editor) diff(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	from, err := versionParam(r, "from")
	if err != nil {
		httpx.Fail(w, r, err)
		return
	}
	fv, err := e.kb.Version(r.Context(), id, from)
	if err != nil {
		httpx.Fail(w, r, err)
		return
	}
	var to kb.Article
	if r.URL.Query().Get("to") == "" {
		vs, err := e.kb.Versions(r.Context(), id)
		if err != nil {
			httpx.Fail(w, r, err)
			return
		}
		cur, err := e.kb.Version(r.Context(), id, vs[0].Version)
		if err != nil {
			httpx.Fail(w, r, err)
			return
		}
		to = cur.Article
	} else {
		n, err := versionParam(r, "to")
		if err != nil {
			httpx.Fail(w, r, err)
			return
		}
		tv, err := e.kb.Version(r.Context(), id, n)
		if err != nil {
			httpx.Fail(w, r, err)
			return
		}
		to = tv.Article
	}
	httpx.JSON(w, http.StatusOK, map[string]any{"from": from, "to": to.Version, "lines": kb.Diff(&fv.Article, &to)})
}

func (e *Editor) exportOne(w http.ResponseWriter, r *http.Request) {
	a, err := e.kb.Get(r.Context(), r.PathValue("id"))
	if err != nil {
		httpx.Fail(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "text/markdown; charset=utf-8")
	w.Header().Set("Content-Disposition", fmt.Sprintf("attachment; filename=%q", a.ID+".md"))
	w.Write(kb.Marshal(&a))
}

// importFiles: POST /api/kb/import {"files":[{"name":"a.md","content":"---\n…"}]}
func (e *Editor) importFiles(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Files []struct {
			Name    string `json:"name"`
			Content string `json:"content"`
		} `json:"files"`
	}
	if err := httpx.DecodeJSON(w, r, &in, 64<<20); err != nil {
		httpx.Fail(w, r, err)
		return
	}
	files := make([]kb.File, len(in.Files))
	for i, f := range in.Files {
		files[i] = kb.File{Name: f.Name, Data: []byte(f.Content)}
	}
	rep, err := e.kb.Import(r.Context(), files, author(r))
	if err != nil {
		var msgs []string
		for _, pe := range kb.ImportErrors(err) {
			msgs = append(msgs, pe.Error())
		}
		if errors.Is(err, concierge.ErrInvalid) {
			httpx.JSON(w, http.StatusBadRequest, map[string]any{"error": "nothing imported", "errors": msgs})
			return
		}
		httpx.Fail(w, r, err)
		return
	}
	httpx.JSON(w, http.StatusOK, rep)
}

func (e *Editor) preview(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Markdown string `json:"markdown"`
	}
	if err := httpx.DecodeJSON(w, r, &in, maxArticleJSON); err != nil {
		httpx.Fail(w, r, err)
		return
	}
	if len(in.Markdown) > kb.MaxBody {
		httpx.Fail(w, r, concierge.Invalidf("body is %d bytes, more than the %d byte limit", len(in.Markdown), kb.MaxBody))
		return
	}
	httpx.JSON(w, http.StatusOK, map[string]string{"html": kb.RenderHTML(in.Markdown), "text": kb.RenderText(in.Markdown)})
}

// search: GET /api/kb/search?q=&lang=&tag=&limit=&drafts=1 — what the bot would pick
// (drafts excluded unless asked for).
func (e *Editor) search(w http.ResponseWriter, r *http.Request) {
	v := r.URL.Query()
	limit, _ := strconv.Atoi(v.Get("limit"))
	hits, err := e.kb.Search(r.Context(), kb.Query{Text: v.Get("q"), Lang: v.Get("lang"), Tag: v.Get("tag"),
		Limit: limit, Drafts: v.Get("drafts") == "1"})
	if err != nil {
		httpx.Fail(w, r, err)
		return
	}
	if hits == nil {
		hits = []kb.Hit{}
	}
	httpx.JSON(w, http.StatusOK, map[string]any{"hits": hits})
}

// gaps: GET /api/kb/gaps?days=30&limit=100
func (e *Editor) gaps(w http.ResponseWriter, r *http.Request) {
	days, err := strconv.Atoi(r.URL.Query().Get("days"))
	if err != nil || days <= 0 {
		days = 30
	}
	limit, _ := strconv.Atoi(r.URL.Query().Get("limit"))
	if limit <= 0 {
		limit = 100
	}
	groups, err := e.kb.Gaps(r.Context(), time.Now().AddDate(0, 0, -days), limit)
	if err != nil {
		httpx.Fail(w, r, err)
		return
	}
	if groups == nil {
		groups = []kb.GapGroup{}
	}
	httpx.JSON(w, http.StatusOK, map[string]any{"days": days, "groups": groups})
}
