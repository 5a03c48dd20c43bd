package kb

import (
	"context"
	"slices"
	"sort"

	"github.com/blevesearch/bleve/v2/mapping"
	"github.com/blevesearch/bleve/v2/search"
	"github.com/blevesearch/bleve/v2/search/query"
	"github.com/blevesearch/bleve/v2/search/searcher"
	bindex "github.com/blevesearch/bleve_index_api"
)

// pruneAbove is the index size from which a match query is driven by its selective
// terms only (see matchQuery). Below it every matching document is scored: cheap, and
// exactly what the banking77 measurement used.
const pruneAbove = 2000

// candidateShare is the share of documents a search scores at most (unless its rarest
// term alone is more frequent), of the documents that have the searched field.
var candidateShare = 0.02

// commonShare: in a large index, a term in more than this share of the documents that
// have its field (the articles of its language family) is left out of the query (a
// stop word found by counting, in any language): its low idf adds little to any score,
// and visiting its postings was most of a search's cost. Measured on the synthetic
// benchmark KB (3,000 queries, self-retrieval top-1, 10k | 100k articles):
//
//	share of the family  0.25: 61.9% | 45.8%, p99 0.9 | 5.3 ms
//	                     0.35: 63.0% | 46.5%, p99 1.2 | 6.2 ms
//	                     0.50: 63.3% | 47.0%, p99 1.1 | 10.0 ms
//	share of the index   0.25: 62.5% | 46.3%, p99 1.6 | 12.8 ms (the earlier rule)
var commonShare = 0.35

// matchQuery scores like bleve's MatchQuery (an OR of the analysed terms with its
// coordination factor). In a large index it leaves out terms most documents contain and
// visits only documents that contain one of the most selective terms. Support questions
// keep their function words ("how do I", "my", "not"); without this, every search
// scored nearly the whole index. Below pruneAbove documents the full query runs, which
// is exactly what the banking77 measurement used.
type matchQuery struct {
	text, field, analyzer string
	// bases are the languages whose articles have field: the shares above are of
	// their articles. A zh query's field is in the zh articles only; counted against
	// the whole index, no term was ever common and a zh search cost twice an English
	// one (most of the 1% slowest searches at 10k). nil counts every article (xx holds
	// any language). pruneAbove still counts the whole index: a full query over the
	// 1,000 zh articles of a 10k KB was slower than the pruned one.
	bases []string
}

func (q *matchQuery) Searcher(ctx context.Context, i bindex.IndexReader, m mapping.IndexMapping,
	options search.SearcherOptions) (search.Searcher, error) {
	n, err := i.DocCount()
	if err != nil {
		return nil, err
	}
	an := m.AnalyzerNamed(q.analyzer)
	if n < pruneAbove || an == nil {
		full := query.NewMatchQuery(q.text)
		full.SetField(q.field)
		full.Analyzer = q.analyzer
		return full.Searcher(ctx, i, m, options)
	}
	// One term searcher per distinct term: its Count is the term's document frequency,
	// so the pruning below costs no lookup of its own (a lookup opens the term's
	// postings in every segment, and lookups were most of a search's cost). The
	// searchers of the terms left out are closed.
	type termDF struct {
		term    []byte
		df      uint64
		scorers []search.Searcher // one per occurrence in the query (MatchQuery scores each)
	}
	var terms []*termDF
	byTerm := map[string]*termDF{}
	closeAll := func() {
		for _, t := range terms {
			for _, s := range t.scorers {
				s.Close()
			}
		}
	}
	for _, tok := range an.Analyze([]byte(q.text)) {
		t := byTerm[string(tok.Term)]
		if t == nil {
			t = &termDF{term: tok.Term}
			byTerm[string(tok.Term)] = t
			terms = append(terms, t)
		}
		s, err := searcher.NewTermSearcherBytes(ctx, i, tok.Term, q.field, 1, options)
		if err != nil {
			closeAll()
			return nil, err
		}
		t.df = s.Count()
		t.scorers = append(t.scorers, s)
	}
	present := terms[:0:0]
	for _, t := range terms {
		if t.df > 0 {
			present = append(present, t)
		} else {
			for _, s := range t.scorers {
				s.Close()
			}
		}
	}
	terms = present
	if len(terms) == 0 {
		return searcher.NewMatchNoneSearcher(i)
	}
	sort.SliceStable(terms, func(a, b int) bool { return terms[a].df < terms[b].df })
	if len(q.bases) > 0 {
		n = 0
		for _, b := range q.bases {
			tfr, err := i.TermFieldReader(ctx, []byte(b), fBase, false, false, false)
			if err != nil {
				closeAll()
				return nil, err
			}
			n += tfr.Count()
			tfr.Close()
		}
	}
	common := uint64(float64(n) * commonShare)
	kept := terms[:0:0]
	for _, t := range terms {
		if t.df <= common {
			kept = append(kept, t)
		}
	}
	if len(kept) == 0 {
		kept = terms[:min(len(terms), 2)] // only common words: the two rarest decide
	}
	var scored []search.Searcher
	for _, t := range kept {
		scored = append(scored, t.scorers...)
	}
	for _, t := range terms {
		if !slices.Contains(kept, t) {
			for _, s := range t.scorers {
				s.Close()
			}
		}
	}
	all, err := searcher.NewDisjunctionSearcher(ctx, i, scored, 1, options)
	if err != nil {
		return nil, err
	}
	// Candidates: the rarest terms, as many as fit in the budget (at least one).
	budget := max(uint64(float64(n)*candidateShare), 200)
	quiet := search.SearcherOptions{Score: "none"}
	if kept[0].df > budget && len(kept) >= 2 {
		// Even the rarest term is frequent: candidates must contain two query terms
		// (one alone would rank low anyway, through the coordination factor).
		var ds []search.Searcher
		for _, t := range kept {
			s, err := searcher.NewTermSearcherBytes(ctx, i, t.term, q.field, 1, quiet)
			if err != nil {
				return nil, err
			}
			ds = append(ds, s)
		}
		driver, err := searcher.NewDisjunctionSearcher(ctx, i, ds, 2, quiet)
		if err != nil {
			return nil, err
		}
		return searcher.NewBooleanSearcher(ctx, i, driver, all, nil, options)
	}
	var drivers []search.Searcher
	var sum uint64
	for k, t := range kept {
		if k > 0 && sum+t.df > budget {
			break
		}
		sum += t.df
		s, err := searcher.NewTermSearcherBytes(ctx, i, t.term, q.field, 1, quiet)
		if err != nil {
			return nil, err
		}
		drivers = append(drivers, s)
	}
	if len(drivers) == len(kept) {
		for _, d := range drivers {
			d.Close()
		}
		return all, nil
	}
	driver, err := searcher.NewDisjunctionSearcher(ctx, i, drivers, 1, quiet)
	if err != nil {
		return nil, err
	}
	return searcher.NewBooleanSearcher(ctx, i, driver, all, nil, options)
}
