package bot

import (
	"math"
	"sort"
)

// vocab maps feature keys to dense ids and holds their inverse document frequencies.
type vocab struct {
	ids map[string]int32
	idf []float32
	df  []int
	// unseenIDF is the weight of a query feature no document has: as rare as can be.
	unseenIDF float32
}

// sparse is an L2-normalised TF-IDF vector over vocab ids. norm2Unknown is the squared
// weight of query features outside the vocabulary: they count in the query's length
// (a question full of words the KB never uses is far from everything), not in any dot.
type sparse struct {
	ids []int32
	w   []float32
	// known is the share of the text's squared weight the vocabulary knows: a question
	// full of words no article uses is far from the whole KB.
	known float32
}

func (s sparse) Len() int           { return len(s.ids) }
func (s sparse) Less(i, j int) bool { return s.ids[i] < s.ids[j] }
func (s sparse) Swap(i, j int) {
	s.ids[i], s.ids[j] = s.ids[j], s.ids[i]
	s.w[i], s.w[j] = s.w[j], s.w[i]
}

func buildVocab(docs [][]feature) *vocab {
	df := map[string]int{}
	for _, d := range docs {
		for _, f := range d {
			df[f.key]++
		}
	}
	v := &vocab{ids: make(map[string]int32, len(df)), idf: make([]float32, 0, len(df))}
	n := float64(len(docs))
	keys := make([]string, 0, len(df))
	for k := range df {
		keys = append(keys, k)
	}
	sort.Strings(keys) // deterministic ids
	for _, k := range keys {
		v.ids[k] = int32(len(v.idf))
		v.idf = append(v.idf, float32(math.Log((n+1)/(float64(df[k])+1))+1))
		v.df = append(v.df, df[k])
	}
	v.unseenIDF = float32(math.Log(n+1) + 1)
	return v
}

// vector weighs features by sublinear tf × idf and normalises. Unknown features (query
// side) lengthen the vector without adding a dimension.
func (v *vocab) vector(fs []feature) sparse {
	var s sparse
	var norm, known float64
	for _, f := range fs {
		tf := 1 + math.Log(f.w)
		if f.w < 1 {
			tf = f.w
		}
		id, ok := v.ids[f.key]
		if !ok {
			w := tf * float64(v.unseenIDF)
			norm += w * w
			continue
		}
		w := tf * float64(v.idf[id])
		norm += w * w
		known += w * w
		s.ids = append(s.ids, id)
		s.w = append(s.w, float32(w))
	}
	if norm == 0 {
		return s
	}
	sort.Sort(s) // ascending ids: merge-style dot products, deterministic sums
	s.known = float32(known / norm)
	inv := float32(1 / math.Sqrt(norm))
	for i := range s.w {
		s.w[i] *= inv
	}
	return s
}

// add returns a+b·k (used to sum question vectors into an article centroid).
func addInto(acc map[int32]float64, s sparse, k float64) {
	for i, id := range s.ids {
		acc[id] += float64(s.w[i]) * k
	}
}

func fromMap(acc map[int32]float64) sparse {
	var s sparse
	var norm float64
	for _, w := range acc {
		norm += w * w
	}
	if norm == 0 {
		return s
	}
	ids := make([]int32, 0, len(acc))
	for id := range acc {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	inv := 1 / math.Sqrt(norm)
	for _, id := range ids {
		s.ids = append(s.ids, id)
		s.w = append(s.w, float32(acc[id]*inv))
	}
	return s
}

// postings is an inverted index over a set of sparse vectors: for each vocab id, the
// items that have it and their weight. Scoring a query touches only the items that share
// a feature with it.
type postings struct {
	lists [][]posting
	n     int
}

type posting struct {
	item int32
	w    float32
}

func newPostings(nvocab int, items []sparse) *postings {
	p := &postings{lists: make([][]posting, nvocab), n: len(items)}
	for i, s := range items {
		for j, id := range s.ids {
			p.lists[id] = append(p.lists[id], posting{int32(i), s.w[j]})
		}
	}
	return p
}

// dot adds q·item to scores[item] for every item sharing a feature with q.
func (p *postings) dot(q sparse, scores []float32) {
	for i, id := range q.ids {
		qw := q.w[i]
		for _, e := range p.lists[id] {
			scores[e.item] += qw * e.w
		}
	}
}

// dotSparse is the dot product of two vectors (ids ascending).
func dotSparse(a, b sparse) float32 {
	var s float32
	i, j := 0, 0
	for i < len(a.ids) && j < len(b.ids) {
		switch {
		case a.ids[i] == b.ids[j]:
			s += a.w[i] * b.w[j]
			i++
			j++
		case a.ids[i] < b.ids[j]:
			i++
		default:
			j++
		}
	}
	return s
}
