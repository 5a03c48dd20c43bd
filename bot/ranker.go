package bot

import (
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
	// words lists, per article, the word features (vocab ids, ascending) its documents
	// use; isWord marks the vocab ids that are words (not pairs or character n-grams).
	words  [][]int32
	isWord []bool
	// cal turns the shape of a ranking into a confidence; fitted on this KB at build
	// time (see calibrate.go).
	cal     *calibration
	scratch sync.Pool
}

// Ranking parameters. They are not tuned per knowledge base: candidates bounds the work
// per question, the rest shape the classifier's training.
const (
	candidates  = 20
	trainEpochs = 5
	trainRate   = 2.0
	// docCandidatesUpTo: see trainingSet.
	docCandidatesUpTo = 300
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

// newRanker builds the ranker for a set of articles and fits its confidence on them.
func newRanker(articles []kb.Article, opts featureOpts) *ranker {
	// Calibrate first: each fold's index is garbage before the next one, or the real
	// one, is built (a classifier over 1,000 articles weighs up to 192 MB).
	cal := selfCalibrate(articles, opts)
	r := buildRanker(articles, opts)
	r.cal = cal
	return r
}

// buildRanker builds the index and trains the classifier, without a confidence model.
func buildRanker(articles []kb.Article, opts featureOpts) *ranker {
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
	r.isWord = make([]bool, len(r.voc.idf))
	for k, id := range r.voc.ids {
		r.isWord[id] = strings.HasPrefix(k, "w\x00")
	}
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
	r.words = make([][]int32, len(articles))
	for i, c := range cent {
		cv[i] = fromMap(c)
		for _, id := range cv[i].ids {
			if r.isWord[id] {
				r.words[i] = append(r.words[i], id)
			}
		}
	}
	r.docs = newPostings(len(r.voc.idf), vecs)
	r.cents = newPostings(len(r.voc.idf), cv)
	r.scratch.New = func() any {
		return &rankScratch{doc: make([]float32, len(vecs)), cent: make([]float32, len(articles)),
			best: make([][3]float32, len(articles))}
	}
	r.typical = typicalCloseness(r.docArt, vecs, len(articles))
	if len(articles) > 1 {
		r.clf = newClassifier(r.voc, r.voc.df, len(articles))
		r.clf.train(r.trainingSet(vecs), trainEpochs, trainRate, 1)
	}
	return r
}

// trainingSet pairs each document with its article and the articles it is most easily
// confused with, as the classes its softmax compares: the articles of its nearest
// other documents (a phrasing of another article that reads alike is the negative
// that teaches most: +0.6 point of banking77 top-1 over the nearest centroids) or, on
// a KB of more than docCandidatesUpTo articles, where that search dominates the
// build, the nearest centroids. The documents are independent: spread them over the
// cores.
func (r *ranker) trainingSet(vecs []sparse) []trainExample {
	ex := make([]trainExample, len(vecs))
	n := len(r.articles)
	var wg sync.WaitGroup
	workers := runtime.GOMAXPROCS(0)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			scores := make([]float32, n)
			near := make([]int, 0, candidates+1)
			for i := w; i < len(vecs); i += workers {
				own := int(r.docArt[i])
				cands := make([]int, 0, min(n, candidates+1))
				cands = append(cands, own)
				if n <= docCandidatesUpTo {
					for _, m := range r.similar(vecs[i], candidates, func(doc, art int) bool { return doc == i }) {
						if m.art != own {
							cands = append(cands, m.art)
						}
					}
				} else {
					clear(scores)
					r.cents.dot(vecs[i], scores)
					// the candidates closest articles other than its own, best first
					near = near[:0]
					for a, v := range scores {
						if a == own || (len(near) == candidates && v <= scores[near[len(near)-1]]) {
							continue
						}
						if len(near) < candidates {
							near = append(near, a)
						}
						j := len(near) - 1
						for j > 0 && scores[near[j-1]] < v {
							near[j] = near[j-1]
							j--
						}
						near[j] = a
					}
					cands = append(cands, near...)
				}
				ex[i] = trainExample{x: vecs[i], y: own, cands: cands}
			}
		}()
	}
	wg.Wait()
	return ex
}

// typicalCloseness is, per article, the mean best cosine between one of its documents
// and the article's others (at most maxTypical of them, evenly spread): how closely a
// real paraphrase of this article usually matches. 0.5 when the article has one.
func typicalCloseness(docArt []int32, vecs []sparse, n int) []float32 {
	const maxTypical = 40
	byArt := make([][]int, n)
	for d, a := range docArt {
		byArt[a] = append(byArt[a], d)
	}
	out := make([]float32, n)
	for a, docs := range byArt {
		out[a] = 0.5
		if len(docs) < 2 {
			continue
		}
		if len(docs) > maxTypical {
			step := float64(len(docs)) / maxTypical
			picked := make([]int, 0, maxTypical)
			for i := 0; i < maxTypical; i++ {
				picked = append(picked, docs[int(float64(i)*step)])
			}
			docs = picked
		}
		var sum float64
		for i, d := range docs {
			best := float32(0)
			for j, e := range docs {
				if i != j {
					best = max(best, dotSparse(vecs[d], vecs[e]))
				}
			}
			sum += float64(best)
		}
		out[a] = float32(sum / float64(len(docs)))
	}
	return out
}

type rankScratch struct {
	doc   []float32
	cent  []float32
	best  [][3]float32 // the three best document cosines per article
	prob  []float64
	logit []float64
	cand  []int
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
	// logit is the classifier's raw score for the article (its share is prob).
	logit float64
	// cover is the share of the question's words (by idf) the article's documents use;
	// unknown the share no article uses (the same for every match of a question).
	cover, unknown float32
}

// rank returns the articles most likely meant by text, best first, at most limit. skip,
// when set, hides documents or whole articles (self-calibration holds them out).
func (r *ranker) rank(text string, limit int, skip func(doc, art int) bool) []match {
	toks := tokenize(text)
	q := r.voc.vector(r.opts.extract(toks))
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
		s.logit, s.prob = r.clf.probs(q, s.cand, s.logit, s.prob)
		for i := range ms {
			ms[i].prob, ms[i].logit = s.prob[i], s.logit[i]
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
	r.coverage(toks, ms)
	return ms
}

// coverage sets each match's cover and unknown: which of the question's distinct words
// (weighted by idf) the article's documents use, and which no article does. A question
// about something else usually brings words the best article never uses.
func (r *ranker) coverage(toks []token, ms []match) {
	var ids []int32
	var idf []float64
	var unknown, total float64
	for i, t := range toks {
		dup := false
		for _, u := range toks[:i] {
			if u.stem == t.stem {
				dup = true
				break
			}
		}
		if dup {
			continue
		}
		id, ok := r.voc.ids["w\x00"+t.stem]
		if !ok {
			unknown += float64(r.voc.unseenIDF)
			total += float64(r.voc.unseenIDF)
			continue
		}
		ids = append(ids, id)
		idf = append(idf, float64(r.voc.idf[id]))
		total += float64(r.voc.idf[id])
	}
	for i := range ms {
		if total == 0 {
			ms[i].cover = 1
			continue
		}
		ms[i].unknown = float32(unknown / total)
		var c float64
		words := r.words[ms[i].art]
		for j, id := range ids {
			if _, found := slices.BinarySearch(words, id); found {
				c += idf[j]
			}
		}
		ms[i].cover = float32(c / total)
	}
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
	// The best limit articles, best first (ties: the earlier article), kept by insertion:
	// sorting every article that shares a word with the question costs more than the
	// rest of a decision on a large KB.
	out := make([]match, 0, limit)
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
		if len(out) == limit && m.sim <= out[limit-1].sim {
			continue
		}
		if len(out) < limit {
			out = append(out, m)
		}
		i := len(out) - 1
		for i > 0 && out[i-1].sim < m.sim {
			out[i] = out[i-1]
			i--
		}
		out[i] = m
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
