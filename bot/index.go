package bot

import (
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/conciergehq/concierge/kb"
)

// index is one immutable snapshot of the published knowledge base (its render cache
// aside), ready to rank: one ranker per language so a Chinese question is answered from
// Chinese articles when there are some. It is rebuilt in the background when articles
// change and swapped in atomically; turns in flight keep the snapshot they started with.
type index struct {
	rankers  map[string]*ranker
	articles map[string]*kb.Article
	// mainLang has the most articles; questions in a language without articles use it.
	mainLang string
	built    time.Time
	size     int
	// rendered caches each article's body rendered for the channels (article ID →
	// renderedArticle): Markdown parsing and HTML sanitising were 4 % of the server's
	// CPU under load, for output that only changes with the article, and a changed KB
	// gets a new index.
	rendered sync.Map
}

// renderedArticle is an article rendered as the bot sends it, and what it was made from.
type renderedArticle struct {
	title, body string
	text, html  string
}

// render returns the article's plain-text body and its HTML with the title in bold.
func (x *index) render(a *kb.Article, r Renderer) (text, html string) {
	if v, ok := x.rendered.Load(a.ID); ok {
		if c := v.(*renderedArticle); c.title == a.Title && c.body == a.Body {
			return c.text, c.html
		}
	}
	c := &renderedArticle{title: a.Title, body: a.Body,
		text: strings.TrimSpace(r.Text(a.Body)), html: r.HTML("**" + escapeMarkdown(a.Title) + "**\n\n" + a.Body)}
	x.rendered.Store(a.ID, c)
	return c.text, c.html
}

func buildIndex(articles []kb.Article, now time.Time) *index {
	byLang := map[string][]kb.Article{}
	idx := &index{rankers: map[string]*ranker{}, articles: map[string]*kb.Article{}, built: now}
	for _, a := range articles {
		if a.Status != "" && a.Status != kb.StatusPublished {
			continue
		}
		l := baseLang(a.Lang)
		if l == "" {
			l = "en"
		}
		byLang[l] = append(byLang[l], a)
		idx.size++
	}
	langs := make([]string, 0, len(byLang))
	for l := range byLang {
		langs = append(langs, l)
	}
	sort.Strings(langs)
	for _, l := range langs {
		arts := byLang[l]
		sort.Slice(arts, func(i, j int) bool { return arts[i].ID < arts[j].ID })
		r := newRanker(arts, defaultFeatureOpts)
		idx.rankers[l] = r
		for i := range r.articles {
			idx.articles[r.articles[i].ID] = &r.articles[i]
		}
		if idx.mainLang == "" || len(arts) > len(byLang[idx.mainLang]) {
			idx.mainLang = l
		}
	}
	return idx
}

// ranker returns the ranker for a language, falling back to the main language.
func (x *index) ranker(lang string) (*ranker, string) {
	if r, ok := x.rankers[baseLang(lang)]; ok {
		return r, baseLang(lang)
	}
	return x.rankers[x.mainLang], x.mainLang
}

func (x *index) article(id string) *kb.Article {
	if x == nil {
		return nil
	}
	return x.articles[id]
}
