package bot

import (
	"cmp"
	"math"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/conciergehq/concierge/kb"
)

// ranker scores a question against every published article, in memory, in two stages.
//
// First, similarity: each article is represented by each of its sample questions (and
// its title) as separate documents — a customer's question usually paraphrases one known
// phrasing — and by a centroid of them, which captures the article's vocabulary as a
// whole; both are TF-IDF cosines over words, word pairs and character n-grams (see
// featureOpts). Second, the best candidates are reranked by a classifier trained on the
// sample questions (see classifier).
type ranker struct {
	opts     featureOpts
	voc      *vocab
	articles []kb.Article
	docArt   []int32 // document → article index
	docs     *postings
	cents    *postings
	clf      *classifier
	// typical is, per article, the mean best cosine between one of its sample questions
	// and the others: how closely a real paraphrase of this article usually matches.
	typical []float32
	scratch sync.Pool
}

// Ranking parameters. They are not tuned per knowledge base: candidates bounds the work
// per question, the rest shape the classifier's training.
const (
	candidates  = 20
	trainEpochs = 10
	trainRate   = 2.0
	// rerankMix weighs the classifier's probability against first-stage similarity.
	rerankMix = 0.5
)

// rankDocs lists the texts that stand for an article: its title, its sample questions
// and, when it has few of those, the start of its body (the answer's own words).
func rankDocs(a kb.Article) []string {
	docs := make([]string, 0, len(a.Questions)+2)
	if a.Title != "" {
		docs = append(docs, a.Title)
	}
	for _, q := range a.Questions {
		if strings.TrimSpace(q) != "" {
			docs = append(docs, q)
		}
	}
	if len(a.Questions) < 5 {
		if lead := leadText(a.Body, 400); lead != "" {
			docs = append(docs, lead)
		}
	}
	if len(a.Tags) > 0 {
		docs = append(docs, strings.Join(a.Tags, " "))
	}
	return docs
}

// leadText is the start of a Markdown body as plain words, cut after about max bytes.
func leadText(md string, max int) string {
	var b strings.Builder
	for _, line := range strings.Split(md, "\n") {
		line = strings.TrimSpace(strings.TrimLeft(strings.TrimSpace(line), "#>*-0123456789. "))
		if line == "" || strings.HasPrefix(line, "```") {
			continue
		}
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(line)
		if b.Len() >= max {
			break
		}
	}
	return b.String()
}

func newRanker(articles []kb.Article, opts featureOpts) *ranker {
	r := &ranker{opts: opts, articles: articles}
	var feats [][]feature
	for i, a := range articles {
		for _, d := range rankDocs(a) {
			fs := opts.extract(tokenize(d))
			if len(fs) == 0 {
				continue
			}
			feats = append(feats, fs)
			r.docArt = append(r.docArt, int32(i))
		}
	}
	r.voc = buildVocab(feats)
	vecs := make([]sparse, len(feats))
	cent := make([]map[int32]float64, len(articles))
	for i, fs := range feats {
		vecs[i] = r.voc.vector(fs)
		a := r.docArt[i]
		if cent[a] == nil {
			cent[a] = map[int32]float64{}
		}
		addInto(cent[a], vecs[i], 1)
	}
	cv := make([]sparse, len(articles))
	for i, c := range cent {
		cv[i] = fromMap(c)
	}
	r.docs = newPostings(len(r.voc.idf), vecs)
	r.cents = newPostings(len(r.voc.idf), cv)
	r.scratch.New = func() any {
		return &rankScratch{doc: make([]float32, len(vecs)), cent: make([]float32, len(articles)),
			best: make([][3]float32, len(articles))}
	}
	if len(articles) > 1 {
		r.clf = newClassifier(r.voc, r.voc.df, len(articles))
		// Each sample question's neighbours (itself hidden) are its training candidates,
		// and its closeness to its own article's other phrasings feeds typical. The
		// questions are independent: spread them over the cores.
		ex := make([]trainExample, len(vecs))
		self := make([]float32, len(vecs)) // best cosine to the own article's other phrasings, -1: none
		var wg sync.WaitGroup
		workers := runtime.GOMAXPROCS(0)
		for w := 0; w < workers; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := w; i < len(vecs); i += workers {
					ms := r.similar(vecs[i], candidates, func(doc, art int) bool { return doc == i })
					own := int(r.docArt[i])
					cands := []int{own}
					self[i] = -1
					for _, m := range ms {
						if m.art != own {
							cands = append(cands, m.art)
						} else {
							self[i] = m.top[0]
						}
					}
					ex[i] = trainExample{x: vecs[i], y: own, cands: cands}
				}
			}()
		}
		wg.Wait()
		sum := make([]float64, len(articles))
		cnt := make([]int, len(articles))
		for i, v := range self {
			if v >= 0 {
				sum[r.docArt[i]] += float64(v)
				cnt[r.docArt[i]]++
			}
		}
		r.clf.train(ex, trainEpochs, trainRate, 1)
		r.typical = make([]float32, len(articles))
		for a := range articles {
			r.typical[a] = 0.5
			if cnt[a] > 0 {
				r.typical[a] = float32(sum[a] / float64(cnt[a]))
			}
		}
	}
	return r
}

type rankScratch struct {
	doc  []float32
	cent []float32
	best [][3]float32 // the three best document cosines per article
	prob []float64
	cand []int
}

// match is one article's similarity to a question.
type match struct {
	art int
	// top are the best three cosines between the question and the article's documents.
	top [3]float32
	// cent is the cosine to the article's centroid.
	cent float32
	// sim combines them (the first stage's ranking key).
	sim float32
	// prob is the classifier's probability among the candidates.
	prob float64
	// score is the final ranking key.
	score float64
}

// rank returns the articles most likely meant by text, best first, at most limit. skip,
// when set, hides documents or whole articles (self-calibration holds them out).
func (r *ranker) rank(text string, limit int, skip func(doc, art int) bool) []match {
	q := r.voc.vector(r.opts.extract(tokenize(text)))
	if len(q.ids) == 0 {
		return nil
	}
	ms := r.similar(q, candidates, skip)
	if r.clf != nil && len(ms) > 0 {
		s := r.scratch.Get().(*rankScratch)
		s.cand = s.cand[:0]
		for _, m := range ms {
			s.cand = append(s.cand, m.art)
		}
		s.prob = r.clf.probs(q, s.cand, s.prob)
		for i := range ms {
			ms[i].prob = s.prob[i]
		}
		r.scratch.Put(s)
	}
	for i := range ms {
		ms[i].score = rerankScore(ms[i])
	}
	sort.SliceStable(ms, func(i, j int) bool { return ms[i].score > ms[j].score })
	if len(ms) > limit {
		ms = ms[:limit]
	}
	return ms
}

func rerankScore(m match) float64 {
	return rerankMix*m.prob + (1-rerankMix)*float64(m.sim)
}

// similar is the first stage: articles by combined cosine similarity.
func (r *ranker) similar(q sparse, limit int, skip func(doc, art int) bool) []match {
	s := r.scratch.Get().(*rankScratch)
	defer r.scratch.Put(s)
	clear(s.doc)
	clear(s.cent)
	clear(s.best)
	r.docs.dot(q, s.doc)
	r.cents.dot(q, s.cent)
	for d, v := range s.doc {
		if v == 0 {
			continue
		}
		a := r.docArt[d]
		if skip != nil && skip(d, int(a)) {
			continue
		}
		b := &s.best[a]
		switch {
		case v > b[0]:
			b[0], b[1], b[2] = v, b[0], b[1]
		case v > b[1]:
			b[1], b[2] = v, b[1]
		case v > b[2]:
			b[2] = v
		}
	}
	out := make([]match, 0, 64)
	for a := range r.articles {
		b := s.best[a]
		if b[0] == 0 && s.cent[a] == 0 {
			continue
		}
		if skip != nil && skip(-1, a) {
			continue
		}
		m := match{art: a, top: b, cent: s.cent[a]}
		m.sim = combine(m)
		out = append(out, m)
	}
	slices.SortFunc(out, func(a, b match) int {
		if a.sim != b.sim {
			return cmp.Compare(b.sim, a.sim)
		}
		return a.art - b.art
	})
	if len(out) > limit {
		out = out[:limit]
	}
	return out
}

// combineWeights mix the best three document cosines and the centroid cosine: several
// close phrasings and a matching vocabulary beat one lucky near-duplicate.
var combineWeights = [4]float32{0.3, 0.2, 0.1, 0.4}

func combine(m match) float32 {
	w := combineWeights
	return w[0]*m.top[0] + w[1]*m.top[1] + w[2]*m.top[2] + w[3]*m.cent
}

// confFeatures describes the shape of a ranking: the classifier's share for the best
// article, the final margin over the runner-up, the best phrasing's cosine (absolute,
// and relative to how closely the article's own phrasings match each other), the
// centroid cosine, whether the similarity stage agrees with the classifier, and the
// similarity margin (two articles the words alone cannot tell apart are a doubt).
func confFeatures(r *ranker, ms []match) []float64 {
	m1, m2 := ms[0], ms[1]
	if m1.art < 0 {
		return make([]float64, 7)
	}
	typ := 0.5
	if r.typical != nil && r.typical[m1.art] > 0 {
		typ = float64(r.typical[m1.art])
	}
	if m2.art < 0 {
		m2 = match{}
	}
	agree := 0.0
	best := 0
	for i := range ms {
		if ms[i].sim > ms[best].sim {
			best = i
		}
	}
	if best == 0 {
		agree = 1
	}
	return []float64{m1.prob, m1.score - m2.score, float64(m1.top[0]), math.Min(float64(m1.top[0])/typ, 1.2), float64(m1.cent), agree,
		float64(m1.sim - m2.sim)}
}

// confidenceWeights map confFeatures to the probability that the best article is the
// right answer (logistic). They describe score shapes only — the classifier's share,
// the winning margin, how close the nearest phrasing is in absolute terms and relative
// to how closely the article's own phrasings match each other, vocabulary overlap and
// agreement of the two stages — not any article or word, so they carry over to other
// knowledge bases. They were fitted on banking77 with ten articles held out (questions
// whose article is missing must score low) and checked on other held-out sets.
var confidenceWeights = [8]float64{2.204, 4.307, 0.303, 1.450, -1.225, 0.201, 2.461, -3.078}

// confidence is the calibrated probability that ms[0] answers the question.
func (r *ranker) confidence(ms []match) float64 {
	if len(ms) == 0 {
		return 0
	}
	if len(ms) == 1 {
		ms = append(ms, match{art: -1})
	}
	z := confidenceWeights[7]
	for i, v := range confFeatures(r, ms) {
		z += confidenceWeights[i] * v
	}
	return 1 / (1 + math.Exp(-z))
}
