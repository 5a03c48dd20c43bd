package kb

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sort"
	"strings"
	"time"

	banalysis "github.com/blevesearch/bleve/v2/analysis"
)

// GapGroup is a set of similar customer questions the bot could not answer: a topic the
// KB is missing.
type GapGroup struct {
	// Key identifies the group while its first question stays the same.
	Key string `json:"key"`
	// Title is a suggested article title: the group's most frequent question.
	Title     string     `json:"title"`
	Questions []GapCount `json:"questions"`
	// Count is how many times customers asked (duplicates included).
	Count     int       `json:"count"`
	First     time.Time `json:"first"`
	Last      time.Time `json:"last"`
	Languages []string  `json:"languages"`
	// Terms are the words the questions share.
	Terms []string `json:"terms"`
	// Candidate is the article the bot most often considered (and found too weak).
	Candidate string `json:"candidate,omitempty"`
}

// GapCount is one distinct question and how often it was asked.
type GapCount struct {
	Text  string `json:"text"`
	Count int    `json:"count"`
}

// Gaps groups the questions the bot could not answer since the given time by the terms
// they share, largest groups first.
func (b *Base) Gaps(ctx context.Context, since time.Time, limit int) ([]GapGroup, error) {
	qs, err := b.store.GapQuestions(ctx, since, 10000)
	if err != nil {
		return nil, fmt.Errorf("kb: gaps: %w", err)
	}
	groups := clusterGaps(qs, b.gapTerms)
	if limit > 0 && len(groups) > limit {
		groups = groups[:limit]
	}
	return groups, nil
}

// gapTerms are the content words of a question: stemmed, without stop words (which
// matter for ranking intent but would glue unrelated questions together here).
func (b *Base) gapTerms(text, lang string) []string {
	name := "en"
	switch fam := family(lang); {
	case hasCJK(text) || fam == familyCJK:
		name = "cjk"
	case fam != familyEN:
		name = analyzerOf(fam)
	}
	an := b.clusterAnalyzer(name)
	if an == nil {
		return strings.Fields(strings.ToLower(text))
	}
	seen := map[string]bool{}
	var out []string
	for _, tok := range an.Analyze([]byte(text)) {
		t := string(tok.Term)
		if !seen[t] {
			seen[t] = true
			out = append(out, t)
		}
	}
	return out
}

func (b *Base) clusterAnalyzer(name string) banalysis.Analyzer {
	b.anMu.Lock()
	defer b.anMu.Unlock()
	if b.analyzers == nil {
		b.analyzers = map[string]banalysis.Analyzer{}
	}
	if a, ok := b.analyzers[name]; ok {
		return a
	}
	m, err := newMapping(b.an)
	var a banalysis.Analyzer
	if err == nil {
		a = m.AnalyzerNamed(name)
	}
	b.analyzers[name] = a
	return a
}

type gapCluster struct {
	g       GapGroup
	terms   map[string]int // term → how many questions carry it
	texts   map[string]int // normalised text → index in g.Questions
	cands   map[string]int
	langs   map[string]bool
	members int
}

// clusterGaps groups questions greedily: a question joins the group whose first
// question shares most of its terms (at least half of the smaller term set), found
// through an inverted index of terms, else it starts a group.
func clusterGaps(qs []GapQuestion, terms func(text, lang string) []string) []GapGroup {
	// Most frequent questions first, so they found the groups.
	type distinct struct {
		text, lang string
		items      []GapQuestion
	}
	byText := map[string]*distinct{}
	var order []*distinct
	for _, q := range qs {
		key := strings.ToLower(strings.Join(strings.Fields(q.Query), " "))
		if key == "" {
			continue
		}
		d := byText[key]
		if d == nil {
			d = &distinct{text: strings.TrimSpace(q.Query), lang: q.Language}
			byText[key] = d
			order = append(order, d)
		}
		d.items = append(d.items, q)
	}
	sort.SliceStable(order, func(i, j int) bool { return len(order[i].items) > len(order[j].items) })

	var clusters []*gapCluster
	index := map[string][]int{} // term → clusters whose seed has it
	seeds := [][]string{}
	for _, d := range order {
		ts := terms(d.text, d.lang)
		best, bestSim := -1, 0.0
		cand := map[int]int{}
		for _, t := range ts {
			for _, c := range index[t] {
				cand[c]++
			}
		}
		for c, shared := range cand {
			small := min(len(ts), len(seeds[c]))
			if small == 0 {
				continue
			}
			sim := float64(shared) / float64(small)
			if sim >= 0.5 && (sim > bestSim || (sim == bestSim && c < best)) {
				best, bestSim = c, sim
			}
		}
		if best < 0 {
			best = len(clusters)
			h := sha256.Sum256([]byte(strings.ToLower(d.text)))
			clusters = append(clusters, &gapCluster{g: GapGroup{Key: hex.EncodeToString(h[:6]), Title: d.text},
				terms: map[string]int{}, texts: map[string]int{}, cands: map[string]int{}, langs: map[string]bool{}})
			seeds = append(seeds, ts)
			for _, t := range ts {
				index[t] = append(index[t], best)
			}
		}
		c := clusters[best]
		c.g.Questions = append(c.g.Questions, GapCount{Text: d.text, Count: len(d.items)})
		c.members++
		for _, t := range ts {
			c.terms[t]++
		}
		for _, q := range d.items {
			c.g.Count++
			if c.g.First.IsZero() || q.At.Before(c.g.First) {
				c.g.First = q.At
			}
			if q.At.After(c.g.Last) {
				c.g.Last = q.At
			}
			if q.Article != "" {
				c.cands[q.Article]++
			}
			if q.Language != "" {
				c.langs[q.Language] = true
			}
		}
	}
	out := make([]GapGroup, 0, len(clusters))
	for _, c := range clusters {
		for l := range c.langs {
			c.g.Languages = append(c.g.Languages, l)
		}
		sort.Strings(c.g.Languages)
		for t, n := range c.terms {
			if n*2 >= c.members && c.members > 1 || c.members == 1 {
				c.g.Terms = append(c.g.Terms, t)
			}
		}
		sort.Strings(c.g.Terms)
		bestN := 0
		for a, n := range c.cands {
			if n > bestN || (n == bestN && a < c.g.Candidate) {
				c.g.Candidate, bestN = a, n
			}
		}
		out = append(out, c.g)
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Count != out[j].Count {
			return out[i].Count > out[j].Count
		}
		return out[i].Last.After(out[j].Last)
	})
	return out
}
