package bot

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/conciergehq/concierge/kb"
)

// SetLLM gives the bot a language model for grounded answers and detail reading. Either
// may be nil. Everything works without them.
func (b *Bot) SetLLM(c Composer, r DetailReader) {
	b.llmMu.Lock()
	b.comp, b.reader = c, r
	b.llmMu.Unlock()
}

// SetEmbeddings turns on semantic ranking: article embeddings (kept in cache between
// starts) fused with the keyword ranking by reciprocal-rank fusion. Takes effect at the
// next Reload.
func (b *Bot) SetEmbeddings(e Embedder, cache EmbeddingCache) {
	b.llmMu.Lock()
	b.sem = &semantic{emb: e, cache: cache, log: b.log}
	b.llmMu.Unlock()
}

func (b *Bot) composer() Composer {
	b.llmMu.RLock()
	defer b.llmMu.RUnlock()
	return b.comp
}

func (b *Bot) detailReader() DetailReader {
	b.llmMu.RLock()
	defer b.llmMu.RUnlock()
	return b.reader
}

func (b *Bot) semantic() *semantic {
	b.llmMu.RLock()
	defer b.llmMu.RUnlock()
	return b.sem
}

// composed asks the language model for an answer grounded in the chosen article and the
// runner-ups. It reports false (use the article itself) on a timeout, an error, or a
// refusal: the model found the articles do not answer the question.
func (tr *turn) composed(c Composer, a *kb.Article) (text, html string, ok bool) {
	sources := []Source{{ID: a.ID, Title: a.Title, Text: a.Body}}
	for _, cand := range tr.st.Candidates {
		if len(sources) >= 3 || cand.ArticleID == a.ID || cand.Score < tr.b.opts.ClarifyThreshold {
			continue
		}
		if o := tr.idx.article(cand.ArticleID); o != nil {
			sources = append(sources, Source{ID: o.ID, Title: o.Title, Text: o.Body})
		}
	}
	ctx, cancel := context.WithTimeout(tr.ctx, tr.b.opts.LLMTimeout)
	defer cancel()
	start := time.Now()
	out, err := c.Compose(ctx, ComposeRequest{Question: tr.query, Language: tr.lang, Sources: sources})
	switch {
	case err != nil:
		tr.b.log.Warn().Err(err).Dur("took", time.Since(start)).Msg("LLM answer failed; sending the article")
		return "", "", false
	case out.Refused || strings.TrimSpace(out.Text) == "":
		tr.b.log.Info().Str("article", a.ID).Msg("LLM found the articles do not answer the question; sending the article")
		return "", "", false
	}
	cited := out.Citations
	if len(cited) == 0 {
		cited = []string{a.ID}
	}
	var tb, hb strings.Builder
	tb.WriteString(strings.TrimSpace(out.Text))
	hb.WriteString(tr.b.render.HTML(out.Text)) // model output is untrusted: sanitised like any Markdown
	hb.WriteString(`<ul class="sources">`)
	for i, id := range cited {
		src := tr.idx.article(id)
		if src == nil {
			continue
		}
		url := tr.articleURL(src)
		fmt.Fprintf(&tb, "\n[%d] %s — %s", i+1, src.Title, url)
		fmt.Fprintf(&hb, `<li><a href="%s" target="_blank" rel="noopener">%s</a></li>`, htmlEscape(url), htmlEscape(src.Title))
	}
	hb.WriteString(`</ul>`)
	return tb.String(), hb.String(), true
}

// semantic holds article embeddings and fuses embedding similarity with the keyword
// ranking by reciprocal-rank fusion (RRF): each list contributes 1/(k+rank), so neither
// list's raw scores need calibrating against the other's.
type semantic struct {
	emb   Embedder
	cache EmbeddingCache
	log   zerolog.Logger

	mu   sync.RWMutex
	vecs map[string][]float32 // article id → unit vector
}

const rrfK = 60

// embedText is what stands for an article in embedding space.
func embedText(a kb.Article) string {
	var b strings.Builder
	b.WriteString(a.Title)
	for i, q := range a.Questions {
		if i == 20 {
			break
		}
		b.WriteString("\n")
		b.WriteString(q)
	}
	b.WriteString("\n")
	b.WriteString(leadText(a.Body, 600))
	return b.String()
}

func (s *semantic) load(ctx context.Context, arts []kb.Article) error {
	model := s.emb.Model()
	keys := make([]string, len(arts))
	texts := make([]string, len(arts))
	for i, a := range arts {
		texts[i] = embedText(a)
		h := sha256.Sum256([]byte(texts[i]))
		keys[i] = hex.EncodeToString(h[:16])
	}
	cached := map[string][]float32{}
	if s.cache != nil {
		var err error
		if cached, err = s.cache.Embeddings(ctx, model, keys); err != nil {
			return fmt.Errorf("bot: read embeddings: %w", err)
		}
	}
	var todo []int
	for i, k := range keys {
		if _, ok := cached[k]; !ok {
			todo = append(todo, i)
		}
	}
	fresh := map[string][]float32{}
	for start := 0; start < len(todo); start += 64 {
		end := min(start+64, len(todo))
		batch := make([]string, 0, end-start)
		for _, i := range todo[start:end] {
			batch = append(batch, texts[i])
		}
		vecs, err := s.emb.Embed(ctx, batch)
		if err != nil {
			return fmt.Errorf("bot: embed articles: %w", err)
		}
		if len(vecs) != len(batch) {
			return fmt.Errorf("bot: embed articles: %d vectors for %d texts", len(vecs), len(batch))
		}
		for j, i := range todo[start:end] {
			fresh[keys[i]] = vecs[j]
			cached[keys[i]] = vecs[j]
		}
	}
	if len(fresh) > 0 && s.cache != nil {
		if err := s.cache.SaveEmbeddings(ctx, model, fresh); err != nil {
			s.log.Warn().Err(err).Msg("article embeddings not cached")
		}
	}
	vecs := make(map[string][]float32, len(arts))
	for i, a := range arts {
		if v := unit(cached[keys[i]]); v != nil {
			vecs[a.ID] = v
		}
	}
	s.mu.Lock()
	s.vecs = vecs
	s.mu.Unlock()
	return nil
}

func unit(v []float32) []float32 {
	var n float64
	for _, x := range v {
		n += float64(x) * float64(x)
	}
	if n == 0 {
		return nil
	}
	inv := float32(1 / math.Sqrt(n))
	out := make([]float32, len(v))
	for i, x := range v {
		out[i] = x * inv
	}
	return out
}

// fuse reorders the keyword ranking by RRF with the embedding ranking over the same
// ranker's articles. On any failure (timeout, error) it returns the keyword ranking.
func (s *semantic) fuse(ctx context.Context, rk *ranker, q string, ms []match, timeout time.Duration) []match {
	s.mu.RLock()
	vecs := s.vecs
	s.mu.RUnlock()
	if len(vecs) == 0 {
		return ms
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	qv, err := s.emb.Embed(ctx, []string{q})
	if err != nil || len(qv) != 1 {
		s.log.Debug().Err(err).Msg("query embedding failed; keyword ranking only")
		return ms
	}
	u := unit(qv[0])
	type sim struct {
		art int
		cos float64
	}
	var sims []sim
	for i, a := range rk.articles {
		v := vecs[a.ID]
		if v == nil || len(v) != len(u) {
			continue
		}
		var d float64
		for j := range v {
			d += float64(v[j] * u[j])
		}
		sims = append(sims, sim{i, d})
	}
	sort.Slice(sims, func(i, j int) bool { return sims[i].cos > sims[j].cos })
	rrf := map[int]float64{}
	for rank, m := range ms {
		rrf[m.art] += 1 / float64(rrfK+rank+1)
	}
	cos := map[int]float64{}
	for _, sm := range sims {
		cos[sm.art] = sm.cos
	}
	present := map[int]bool{}
	for _, m := range ms {
		present[m.art] = true
	}
	out := append([]match(nil), ms...)
	for rank, sm := range sims {
		if rank >= len(ms) {
			break
		}
		rrf[sm.art] += 1 / float64(rrfK+rank+1)
		if !present[sm.art] {
			out = append(out, match{art: sm.art})
			present[sm.art] = true
		}
	}
	// Two lists that swap two articles tie; the embedding, which sees paraphrase, decides.
	sort.SliceStable(out, func(i, j int) bool {
		a, b := rrf[out[i].art], rrf[out[j].art]
		if math.Abs(a-b) > 1e-12 {
			return a > b
		}
		return cos[out[i].art] > cos[out[j].art]
	})
	return out
}
