package editor

import (
	"errors"
	"html/template"
	"net/http"
	"net/url"
	"sort"
	"strings"

	"github.com/conciergehq/concierge"
	"github.com/conciergehq/concierge/internal/httpx"
	"github.com/conciergehq/concierge/kb"
)

// The help pages are public: customers read published articles there, and the bot links
// to /help/{id}. They are rendered on the server (no script), so they work in any
// in-app browser (WeChat, Telegram).

const helpCSP = "default-src 'none'; img-src 'self' https: data:; style-src 'self'; form-action 'self'; frame-ancestors 'self'; base-uri 'none'"

func (e *Editor) helpHeaders(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Security-Policy", helpCSP)
}

// helpLang picks the page language from ?lang= or the browser's Accept-Language.
func helpLang(r *http.Request) string {
	if l := r.URL.Query().Get("lang"); l != "" {
		return l
	}
	al := strings.ToLower(r.Header.Get("Accept-Language"))
	if strings.HasPrefix(al, "zh") {
		return "zh"
	}
	return "en"
}

var helpText = map[string]map[string]string{
	"en": {"title": "Help center", "search": "Search", "placeholder": "Describe your problem…", "results": "Results for",
		"none": "Nothing matches. Try other words, or ask us in the chat.", "all": "All articles", "helpful": "Did this help?",
		"yes": "Yes", "no": "No", "thanks": "Thanks for your feedback!", "back": "← Help center", "updated": "Updated"},
	"zh": {"title": "帮助中心", "search": "搜索", "placeholder": "描述您的问题…", "results": "搜索结果：",
		"none": "没有找到相关文章。换个说法试试，或在对话中联系我们。", "all": "全部文章", "helpful": "这篇文章有帮助吗？",
		"yes": "有帮助", "no": "没有帮助", "thanks": "感谢您的反馈！", "back": "← 帮助中心", "updated": "更新于"},
}

func texts(lang string) map[string]string {
	if strings.HasPrefix(lang, "zh") {
		return helpText["zh"]
	}
	return helpText["en"]
}

func (e *Editor) helpIndex(w http.ResponseWriter, r *http.Request) {
	lang := helpLang(r)
	q := strings.TrimSpace(r.URL.Query().Get("q"))
	data := map[string]any{"T": texts(lang), "Lang": lang, "Query": q, "Base": e.assets.Base()}
	if q != "" {
		if len(q) > 500 {
			q = q[:500]
		}
		hits, err := e.kb.Search(r.Context(), kb.Query{Text: q, Limit: 20})
		if err != nil {
			httpx.Fail(w, r, err)
			return
		}
		type result struct {
			ID, Title string
			Snippet   template.HTML
		}
		var rs []result
		for _, h := range hits {
			rs = append(rs, result{ID: h.ID, Title: h.Title, Snippet: template.HTML(h.Snippet)}) // sanitised: <mark> only
		}
		data["Results"] = rs
	} else {
		arts, _, err := e.kb.List(r.Context(), kb.Filter{Status: kb.StatusPublished, Limit: 500})
		if err != nil {
			httpx.Fail(w, r, err)
			return
		}
		// The reader's language first, then the others.
		var mine, other []kb.Article
		for _, a := range arts {
			if strings.HasPrefix(strings.ToLower(a.Lang), lang) {
				mine = append(mine, a)
			} else {
				other = append(other, a)
			}
		}
		byTitle := func(x []kb.Article) {
			sort.SliceStable(x, func(i, j int) bool { return x[i].Title < x[j].Title })
		}
		byTitle(mine)
		byTitle(other)
		data["Articles"] = append(mine, other...)
	}
	e.helpHeaders(w)
	if err := e.pages.ExecuteTemplate(w, "help_index.html", data); err != nil {
		e.log.Error().Err(err).Msg("render help index")
	}
}

func (e *Editor) helpArticle(w http.ResponseWriter, r *http.Request) {
	a, err := e.kb.Published(r.Context(), r.PathValue("id"))
	if errors.Is(err, concierge.ErrNotFound) {
		e.helpHeaders(w)
		w.WriteHeader(http.StatusNotFound)
		e.pages.ExecuteTemplate(w, "help_missing.html", map[string]any{"T": texts(helpLang(r)), "Base": e.assets.Base()})
		return
	}
	if err != nil {
		httpx.Fail(w, r, err)
		return
	}
	voted := r.URL.Query().Get("voted") == "1"
	if !voted { // the page after a vote is the same reader
		if err := e.kb.View(r.Context(), a.ID); err != nil {
			e.log.Warn().Err(err).Str("article", a.ID).Msg("counting a view failed")
		}
	}
	e.helpHeaders(w)
	err = e.pages.ExecuteTemplate(w, "help_article.html", map[string]any{
		"T": texts(a.Lang), "A": a, "HTML": template.HTML(kb.RenderHTML(a.Body)), "Base": e.assets.Base(),
		"Voted": voted,
	})
	if err != nil {
		e.log.Error().Err(err).Msg("render help article")
	}
}

// helpFeedback counts a "Did this help?" vote from the help page (a plain form post),
// rate-limited per address so a script cannot stuff the counts.
func (e *Editor) helpFeedback(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	r.Body = http.MaxBytesReader(w, r.Body, 1024)
	if err := r.ParseForm(); err != nil {
		httpx.Fail(w, r, concierge.Invalidf("bad form"))
		return
	}
	var helpful bool
	switch r.PostForm.Get("helpful") {
	case "yes":
		helpful = true
	case "no":
	default:
		httpx.Fail(w, r, concierge.Invalidf("helpful: want yes or no"))
		return
	}
	if _, err := e.kb.Published(r.Context(), id); err != nil {
		httpx.Fail(w, r, err)
		return
	}
	if e.votes.Allow(httpx.ClientIP(r, e.trust)) {
		if err := e.kb.Feedback(r.Context(), id, helpful); err != nil {
			httpx.Fail(w, r, err)
			return
		}
	}
	http.Redirect(w, r, "/help/"+url.PathEscape(id)+"?voted=1", http.StatusSeeOther)
}
