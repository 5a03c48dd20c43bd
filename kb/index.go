package kb

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"math"
	"os"
	"sort"
	"strconv"
	"strings"

	"github.com/blevesearch/bleve/v2"
	banalysis "github.com/blevesearch/bleve/v2/analysis"
	"github.com/blevesearch/bleve/v2/index/scorch"
	"github.com/blevesearch/bleve/v2/mapping"
	"github.com/blevesearch/bleve/v2/registry"
	"github.com/blevesearch/bleve/v2/search"
	"github.com/blevesearch/bleve/v2/search/highlight"
	htmlhighlighter "github.com/blevesearch/bleve/v2/search/highlight/highlighter/html"
	"github.com/blevesearch/bleve/v2/search/query"
	bindex "github.com/blevesearch/bleve_index_api"
)

// ErrIndexLocked means another process (a running server) holds the index.
var ErrIndexLocked = errors.New("kb: the search index is in use by another process (is `concierge serve` running?)")

// Internal keys kept in the index next to the documents.
const (
	internalSeq     = "kb.seq"     // the KB change counter the index reflects
	internalMapping = "kb.mapping" // a hash of the mapping: a new analysis rebuilds the index
)

// weights say how much the body counts next to the phrasings (title, sample questions,
// tags). They are scored by separate searches and added up here: in one bleve query
// the fields would be clauses of a disjunction, whose coordination factor halves the
// score of every article that matches in one field only — measured on banking77, a body
// boost of 0.01 then cost 3 points of top-1 accuracy.
type weights struct {
	Body float64
}

var defaultWeights = weights{Body: 0.1}

// searchIndex is the Bleve index. It is derived from the database and can be thrown away.
type searchIndex struct {
	idx bleve.Index
	w   weights
	// analyzers by family, and the highlighter of body snippets: built once, used by
	// every search.
	analyzers   map[string]banalysis.Analyzer
	highlighter highlight.Highlighter
}

// openIndex opens the on-disk index at path, or creates it. An index that cannot be
// opened (missing, corrupt, built by another analysis) is rebuilt empty and fresh is set:
// the caller then reindexes from the database. path "" keeps the index in memory.
func openIndex(path string, an analysis, w weights) (ix *searchIndex, fresh bool, err error) {
	m, err := newMapping(an)
	if err != nil {
		return nil, false, fmt.Errorf("kb: index mapping: %w", err)
	}
	sig, err := mappingHash(m, w)
	if err != nil {
		return nil, false, err
	}
	ans := map[string]banalysis.Analyzer{}
	for _, fam := range families {
		if a := m.AnalyzerNamed(analyzerOf(fam)); a != nil {
			ans[fam] = a
		}
	}
	hl, err := registry.NewCache().HighlighterNamed(htmlhighlighter.Name)
	if err != nil {
		return nil, false, fmt.Errorf("kb: index highlighter: %w", err)
	}
	create := func() (*searchIndex, error) {
		var idx bleve.Index
		var err error
		idx, err = bleve.NewUsing(path, m, scorch.Name, scorch.Name, indexConfig(nil))
		if err != nil {
			return nil, fmt.Errorf("kb: create index %s: %w", path, err)
		}
		if err := idx.SetInternal([]byte(internalMapping), []byte(sig)); err != nil {
			idx.Close()
			return nil, fmt.Errorf("kb: create index %s: %w", path, err)
		}
		return &searchIndex{idx: idx, w: w, analyzers: ans, highlighter: hl}, nil
	}
	if path == "" {
		ix, err := create()
		return ix, true, err
	}
	if _, statErr := os.Stat(path); statErr == nil {
		idx, err := bleve.OpenUsing(path, indexConfig(map[string]any{"bolt_timeout": "2s"}))
		if err == nil {
			got, gerr := idx.GetInternal([]byte(internalMapping))
			if gerr == nil && string(got) == sig {
				return &searchIndex{idx: idx, w: w, analyzers: ans, highlighter: hl}, false, nil
			}
			idx.Close()
		} else if isLockTimeout(err) {
			return nil, false, ErrIndexLocked
		}
		// Unreadable, or built with another mapping: the database has everything.
		if err := os.RemoveAll(path); err != nil {
			return nil, false, fmt.Errorf("kb: remove unusable index %s: %w", path, err)
		}
	}
	ix, err = create()
	return ix, true, err
}

// indexConfig is the scorch configuration. Batches are "unsafe": a batch is searchable
// as soon as it is in memory and reaches the disk in the background, instead of waiting
// for an fsync. The database is the durable copy: after a crash the index reopens at the
// change counter it had persisted (stored in the same batches as the documents) and
// catches up from there.
func indexConfig(extra map[string]any) map[string]any {
	c := map[string]any{"unsafe_batch": true}
	for k, v := range extra {
		c[k] = v
	}
	return c
}

func isLockTimeout(err error) bool {
	return err != nil && strings.Contains(err.Error(), "timeout")
}

func mappingHash(m *mapping.IndexMappingImpl, w weights) (string, error) {
	b, err := json.Marshal(struct {
		M *mapping.IndexMappingImpl
		V int
	}{m, 2})
	if err != nil {
		return "", fmt.Errorf("kb: index mapping: %w", err)
	}
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:8]), nil
}

func (ix *searchIndex) close() error { return ix.idx.Close() }

// seq is the change counter the index reflects.
func (ix *searchIndex) seq() (int64, error) {
	b, err := ix.idx.GetInternal([]byte(internalSeq))
	if err != nil || len(b) == 0 {
		return 0, err
	}
	return strconv.ParseInt(string(b), 10, 64)
}

// apply indexes changed articles (removing deleted ones) in one batch and records seq
// with them, so the index knows how far it has caught up with the database.
func (ix *searchIndex) apply(changed []Article, seq int64) error {
	b := ix.idx.NewBatch()
	for i := range changed {
		a := &changed[i]
		if a.Deleted() {
			b.Delete(a.ID)
			continue
		}
		if err := b.Index(a.ID, ix.doc(a)); err != nil {
			return fmt.Errorf("kb: index %s: %w", a.ID, err)
		}
	}
	b.SetInternal([]byte(internalSeq), []byte(strconv.FormatInt(seq, 10)))
	if err := ix.idx.Batch(b); err != nil {
		return fmt.Errorf("kb: index batch: %w", err)
	}
	return nil
}

// doc is the index document of one article. The title, the sample questions and the
// tags all go into one "phrasings" field (they are all ways to name the topic); the
// body has its own field.
func (ix *searchIndex) doc(a *Article) map[string]any {
	fam := family(a.Lang)
	phr := make([]string, 0, len(a.Questions)+2)
	phr = append(phr, a.Title)
	phr = append(phr, a.Questions...)
	if len(a.Tags) > 0 {
		phr = append(phr, strings.Join(a.Tags, " ; "))
	}
	return map[string]any{
		fArticle: a.ID, fLang: strings.ToLower(a.Lang), fBase: baseLang(a.Lang),
		fStatus: string(a.Status), fTag: lowerAll(a.Tags), fName: a.Title, fTeam: a.Team,
		fEscalate: strconv.FormatBool(a.Escalate), fNQ: strconv.Itoa(len(a.Questions)),
		fQuestions + "_" + fam: phr,
		fBody + "_" + fam:      RenderText(a.Body),
	}
}

func lowerAll(s []string) []string {
	out := make([]string, len(s))
	for i, v := range s {
		out[i] = strings.ToLower(v)
	}
	return out
}

// searchFamilies are the analysis families a query is run against.
func searchFamilies(q Query, present func(string) bool) []string {
	if q.Lang != "" {
		return []string{family(q.Lang)}
	}
	if hasCJK(q.Text) {
		return []string{familyCJK}
	}
	var out []string
	for _, f := range families {
		if present(f) {
			out = append(out, f)
		}
	}
	if len(out) == 0 {
		out = []string{familyEN}
	}
	return out
}

// search finds the articles for q (rank) and builds their hits.
func (ix *searchIndex) search(q Query, fams []string) ([]Hit, error) {
	order, scores, fields, err := ix.rank(q, fams)
	if err != nil || len(order) == 0 {
		return nil, err
	}
	return ix.hits(q.Text, order, scores, fields)
}

// rank runs q as two searches, one over the phrasings and one over the body, and adds
// their scores per article (phrasings + Body × body). It returns the best q.Limit
// article ids, best first, their scores, and fields[id] = "body" for those found by
// the body only.
func (ix *searchIndex) rank(q Query, fams []string) (order []string, scores map[string]float64, fields map[string]string, err error) {
	limit := q.Limit
	if limit <= 0 {
		limit = 10
	}
	size := limit*2 + 10 // an article can rank low in one search and high in the sum
	// Filters cost a search about a fifth of its time (they are built and advanced
	// over nearly every document), so only the ones that can exclude something are
	// added. Customers see published articles: drafts are excluded (must not) rather
	// than published ones required, as there are few drafts and an article is one or
	// the other (Validate). A language is filtered only where several share a family's
	// fields; otherwise the family's fields hold that language alone.
	var filters, not []query.Query
	if !q.Drafts {
		not = append(not, termQuery(fStatus, string(StatusDraft)))
	}
	if q.Lang != "" && sharedFamily(family(q.Lang)) {
		filters = append(filters, termQuery(fBase, baseLang(q.Lang)))
	}
	if q.Tag != "" {
		filters = append(filters, termQuery(fTag, strings.ToLower(q.Tag)))
	}
	build := func(field string) query.Query {
		var text []query.Query
		for _, fam := range fams {
			text = append(text, &matchQuery{text: q.Text, field: field + "_" + fam, analyzer: analyzerOf(fam), bases: familyBases(fam)})
		}
		bq := query.NewBooleanQuery(nil, text, not)
		bq.SetMinShould(1)
		if len(filters) > 0 {
			bq.AddFilter(query.NewConjunctionQuery(filters))
		}
		return bq
	}
	// A document has the fields of one family only, so with F families every score
	// is scaled by the disjunction's coordination factor 1/F; undo it.
	coord := float64(len(fams))
	run := func(q query.Query, size int) (search.DocumentMatchCollection, error) {
		res, err := ix.idx.Search(bleve.NewSearchRequestOptions(q, size, 0, false))
		if err != nil {
			return nil, fmt.Errorf("kb: search: %w", err)
		}
		return res.Hits, nil
	}
	// Rank by the phrasings, then add the body's share. Only ids and scores here; what
	// a hit shows is fetched for the final few (hits).
	phr, err := run(build(fQuestions), size)
	if err != nil {
		return nil, nil, nil, err
	}
	scores = map[string]float64{}
	fields = map[string]string{}
	for _, d := range phr {
		scores[d.ID] = d.Score * coord
		order = append(order, d.ID)
	}
	if ix.w.Body > 0 {
		// The body counts a tenth: it decides between close articles, so fewer of its
		// hits are needed.
		body, err := run(build(fBody), limit+5)
		if err != nil {
			return nil, nil, nil, err
		}
		for _, d := range body {
			if _, ok := scores[d.ID]; !ok {
				order = append(order, d.ID)
				fields[d.ID] = "body"
			}
			scores[d.ID] += ix.w.Body * d.Score * coord
		}
	}
	sort.SliceStable(order, func(i, j int) bool { return scores[order[i]] > scores[order[j]] })
	if len(order) > limit {
		order = order[:limit]
	}
	return order, scores, fields, nil
}

// hits builds the hits for ids (best first) from their stored fields. The matched words
// are found by analysing the stored text again with the field's analyzer, which yields
// exactly the term vectors the index holds for it. For the few hits shown, that is
// cheaper than what this replaced: a third bleve search with locations and
// highlighting, which had to look up and advance every query term's postings in both
// fields, and highlighted every hit's body even when a phrasing gave the snippet. It
// was half the time of a search at 10,000 articles. The body is analysed only for hits
// whose snippet comes from it.
func (ix *searchIndex) hits(text string, ids []string, scores map[string]float64, fields map[string]string) ([]Hit, error) {
	adv, err := ix.idx.Advanced()
	if err != nil {
		return nil, fmt.Errorf("kb: search: %w", err)
	}
	r, err := adv.Reader()
	if err != nil {
		return nil, fmt.Errorf("kb: search: %w", err)
	}
	defer r.Close()
	queryTerms := map[string]map[string]bool{} // per family: the analysed query
	out := make([]Hit, 0, len(ids))
	for _, id := range ids {
		doc, err := r.Document(id)
		if err != nil {
			return nil, fmt.Errorf("kb: search: load %s: %w", id, err)
		}
		if doc == nil {
			continue // deleted between the two steps
		}
		h, st := hitOf(id, doc)
		h.Score = round(scores[id])
		an := ix.analyzers[st.fam]
		if an == nil {
			out = append(out, h) // not a text family this index knows; nothing to mark
			continue
		}
		qt := queryTerms[st.fam]
		if qt == nil {
			qt = map[string]bool{}
			for _, tok := range an.Analyze([]byte(text)) {
				qt[string(tok.Term)] = true
			}
			queryTerms[st.fam] = qt
		}
		h.Question, h.Snippet, h.Field = bestPhrasing(st.phrasings, st.nq, matches(an, qt, st.phrasings))
		if st.hasBody && (h.Snippet == "" || fields[id] == "body") {
			body := fBody + "_" + st.fam
			dm := &search.DocumentMatch{Locations: search.FieldTermLocationMap{
				body: matches(an, qt, []string{st.body}),
			}}
			if frags := ix.highlighter.BestFragmentsInField(dm, doc, body, 1); len(frags) > 0 {
				h.Snippet = sanitizeSnippet(frags[0])
			}
		}
		if fields[id] == "body" {
			h.Field = "body"
		}
		out = append(out, h)
	}
	return out, nil
}

// storedText is what a hit's document holds besides the Hit's own fields.
type storedText struct {
	fam       string   // the analysis family of its text fields
	phrasings []string // title, sample questions, tags
	nq        string   // how many sample questions
	body      string
	hasBody   bool
}

func hitOf(id string, doc bindex.Document) (Hit, storedText) {
	h := Hit{ID: id}
	var st storedText
	doc.VisitFields(func(f bindex.Field) {
		v := string(f.Value())
		switch name := f.Name(); name {
		case fName:
			h.Title = v
		case fLang:
			h.Lang = v
		case fStatus:
			h.Status = Status(v)
		case fTeam:
			h.Team = v
		case fEscalate:
			h.Escalate = v == "true"
		case fNQ:
			st.nq = v
		default:
			if fam, ok := strings.CutPrefix(name, fQuestions+"_"); ok {
				st.fam = fam
				i := len(st.phrasings)
				if ap := f.ArrayPositions(); len(ap) > 0 {
					i = int(ap[0])
				}
				for len(st.phrasings) <= i {
					st.phrasings = append(st.phrasings, "")
				}
				st.phrasings[i] = v
			} else if fam, ok := strings.CutPrefix(name, fBody+"_"); ok {
				st.fam = fam
				st.body, st.hasBody = v, true
			}
		}
	})
	return h, st
}

// matches are the locations of the query's terms in texts (the values of one array
// field), as the index's term vectors record them.
func matches(an banalysis.Analyzer, query map[string]bool, texts []string) search.TermLocationMap {
	tlm := search.TermLocationMap{}
	for i, t := range texts {
		for _, tok := range an.Analyze([]byte(t)) {
			term := string(tok.Term)
			if !query[term] {
				continue
			}
			l := &search.Location{Pos: uint64(tok.Position), Start: uint64(tok.Start), End: uint64(tok.End)}
			if len(texts) > 1 {
				l.ArrayPositions = search.ArrayPositions{uint64(i)}
			}
			tlm[term] = append(tlm[term], l)
		}
	}
	return tlm
}

// bestPhrasing finds, from the query terms' locations in the phrasings (title, sample
// questions, tags: entry 0 is the title, the tags come after the nq questions), the
// phrasing that matched the most query terms, and returns it with the matches marked.
func bestPhrasing(phr []string, nq string, terms search.TermLocationMap) (question, snippet, field string) {
	if len(phr) == 0 {
		return "", "", ""
	}
	type span struct{ start, end uint64 }
	score := make([]float64, len(phr))
	spans := make([][]span, len(phr))
	for term, locs := range terms {
		// Word pairs count double: they match the wording, not only the words.
		w := 1.0
		if strings.Contains(term, " ") {
			w = 2
		}
		seen := map[int]bool{}
		for _, l := range locs {
			i := 0
			if len(l.ArrayPositions) > 0 {
				i = int(l.ArrayPositions[0])
			}
			if i >= len(phr) {
				continue
			}
			if !seen[i] {
				score[i] += w
				seen[i] = true
			}
			spans[i] = append(spans[i], span{l.Start, l.End})
		}
	}
	best := -1
	for i := range phr {
		// Prefer the shorter phrasing on a tie: more of it matched.
		if score[i] > 0 && (best < 0 || score[i] > score[best] ||
			(score[i] == score[best] && len(phr[i]) < len(phr[best]))) {
			best = i
		}
	}
	if best < 0 {
		return "", "", ""
	}
	text := phr[best]
	sp := spans[best]
	sort.Slice(sp, func(i, j int) bool { return sp[i].start < sp[j].start })
	// Word pairs overlap their words: merge the spans before marking.
	var merged []span
	for _, x := range sp {
		if x.end > uint64(len(text)) || x.start >= x.end {
			continue
		}
		if n := len(merged); n > 0 && x.start <= merged[n-1].end {
			merged[n-1].end = max(merged[n-1].end, x.end)
			continue
		}
		merged = append(merged, x)
	}
	var b strings.Builder
	pos := uint64(0)
	for _, x := range merged {
		b.WriteString(html.EscapeString(text[pos:x.start]))
		b.WriteString("<mark>" + html.EscapeString(text[x.start:x.end]) + "</mark>")
		pos = x.end
	}
	b.WriteString(html.EscapeString(text[pos:]))
	switch {
	case best == 0:
		field = "title"
	case strconv.Itoa(best-1) == nq:
		field = "tags"
	default:
		field = "question"
		question = text
	}
	return question, sanitizeSnippet(b.String()), field
}

func termQuery(field, v string) query.Query {
	t := query.NewTermQuery(v)
	t.SetField(field)
	return t
}

func round(f float64) float64 { return math.Round(f*10000) / 10000 }
