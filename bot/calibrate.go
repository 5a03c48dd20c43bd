package bot

import (
	"math"
	"math/rand"
	"runtime"
	"sync"

	"github.com/conciergehq/concierge/kb"
)

// The confidence is the probability that the best article answers the question. No
// score of a ranking means that by itself: a cosine of 0.6 is a near-certain match in a
// KB whose articles each have a hundred sample questions and a coin toss in one with
// three, and how alike the articles are moves it again. So each KB gets its own
// calibration, fitted when its index is built, on questions it makes from itself:
//
//   - in scope: a sample question, hidden from the index, whose article is still there
//     (the ranking is right or wrong, and the features say how it looked);
//   - out of scope: a sample question of an article left out of the index entirely —
//     what a question the KB cannot answer looks like to this KB (the hardest kind: one
//     about a neighbouring topic; real out-of-scope questions are usually further away).
//
// The KB is cut into folds; each fold's index (built the same way as the real one, on
// the rest of the KB) ranks the fold's questions. A logistic model over the shape of
// each ranking (calFeatures) is fitted on those, starting from and pulled towards
// priorCalibration, so a KB with a handful of articles still gets sensible answers.

// calFolds cuts the KB into this many groups of articles and of sample questions.
const calFolds = 5

// calOOSShare is the weight of the out-of-scope questions in the fit: the prior share of
// questions the KB cannot answer. At 0.5 confidence the bot then answers when being
// right is likelier than the question being about something else or ranked wrong.
const calOOSShare = 0.25

// calTarget is the number of questions of each kind wanted for the fit; folds beyond
// what it takes are not built (a large KB gets there with two).
const calTarget = 1500

// calPrior is the strength of the pull towards priorCalibration (a Gaussian prior on
// the weights; each made-up question weighs about 1): a KB that yields a few dozen
// questions leans on the prior, one that yields thousands on itself. A variable only
// so that TestCalibrationPrior can fit without it.
var calPrior = 10.0

// nConf is the length of calFeatures.
const nConf = 14

// calFeatures describes the shape of a ranking, not its content (no article, no word):
// the classifier's share for the best article and its raw score, the margin over the
// runner-up (final and first-stage), the best phrasing's cosine (absolute, and relative
// to how closely the article's own phrasings match each other), the centroid cosine,
// whether the two stages agree, the spread of the classifier over the candidates, how
// much of the question's vocabulary the article (or the KB) knows, how close the
// runner-up comes (classifier share and similarity), and whether the question has a
// word the best article uses and the runner-up does not.
func (r *ranker) calFeatures(ms []match) [nConf]float64 {
	var f [nConf]float64
	if len(ms) == 0 || ms[0].art < 0 {
		return f
	}
	m1, m2 := ms[0], match{}
	if len(ms) > 1 && ms[1].art >= 0 {
		m2 = ms[1]
	}
	typ := 0.5
	if r.typical != nil && r.typical[m1.art] > 0 {
		typ = float64(r.typical[m1.art])
	}
	agree := 1.0
	var ent float64
	for _, m := range ms {
		if m.sim > m1.sim {
			agree = 0
		}
		if m.prob > 0 {
			ent -= m.prob * math.Log(m.prob)
		}
	}
	f = [nConf]float64{m1.prob, m1.score - m2.score, float64(m1.top[0]), math.Min(float64(m1.top[0])/typ, 1.2),
		float64(m1.cent), agree, float64(m1.sim - m2.sim), ent, float64(m1.cover), float64(m1.unknown),
		math.Max(-10, math.Min(m1.logit, 10)) / 10, ratio(m2.prob, m1.prob), ratio(float64(m2.sim), float64(m1.sim)),
		float64(m1.cover - m2.cover)}
	return f
}

// ratio is a/b in [0, 1]: how close the runner-up comes (1: a tie).
func ratio(a, b float64) float64 {
	if b <= 0 {
		return 0
	}
	return math.Max(0, math.Min(a/b, 1))
}

// logistic is a linear model over calFeatures (w) with an intercept (b).
type logistic struct {
	w [nConf]float64
	b float64
}

func (l logistic) prob(f [nConf]float64) float64 {
	z := l.b
	for i, v := range f {
		z += l.w[i] * v
	}
	return 1 / (1 + math.Exp(-z))
}

// calibration maps a ranking's shape to probabilities.
type calibration struct {
	// top: the best article answers the question.
	top logistic
	// pair: the right article is one of the best two (a "did you mean" can find it).
	pair logistic
	// questions is how many made-up questions the fit saw (0: the prior as it is).
	questions int
}

// priorCalibration is the starting point and pull of every fit (see calPrior).
var priorCalibration = calibration{
	top: logistic{w: [nConf]float64{1.00, 3.40, -1.39, 0.12, 4.57, 0.13, 1.62, -0.09, 0.65, 0.41, -1.59, -0.42, 0.04, 1.99},
		b: -1.90},
	pair: logistic{w: [nConf]float64{4.28, -3.38, -1.19, 0.79, 5.52, 0.06, 4.06, -1.00, 0.57, -0.00, -3.46, -0.46, 0.11, 0.61},
		b: -0.91},
}

// confidence is the calibrated probability that ms[0] answers the question. The model
// also rates the runner-up as if it were first; two articles cannot both be likely
// beyond certainty, so a near tie ("install the app" with a Mac and a Windows article)
// shares the probability instead of granting each most of it.
func (r *ranker) confidence(ms []match) float64 {
	if len(ms) == 0 {
		return 0
	}
	cal := r.calibration()
	p := cal.top.prob(r.calFeatures(ms))
	if len(ms) > 1 && ms[1].art >= 0 {
		swapped := []match{ms[1], ms[0]}
		if q := cal.top.prob(r.calFeatures(swapped)); p+q > 1 {
			p /= p + q
		}
	}
	return p
}

// The decisions a ranking can lead to.
const (
	actAnswer = iota
	actClarify
	actEscalate
)

// decide turns a ranking and its confidence into a decision at the given thresholds:
// answer when the best article is likely enough (and not tied with the runner-up);
// offer the best two ("did you mean") when, with clarifying allowed, they are likely
// enough together and each is plausible on its own (clarifyAt), or they tie;
// otherwise escalate. A doubtful question with one weak guess is no reason to offer
// choices: it goes to a person.
func (r *ranker) decide(ms []match, conf, answerAt, clarifyAt float64, mayClarify bool) int {
	if len(ms) == 0 {
		return actEscalate
	}
	pair := 0.0
	if mayClarify && len(ms) > 1 && closeTo(ms[1], ms[0]) {
		pair = r.pairConfidence(ms)
	}
	canClarify := pair >= answerAt
	tied := canClarify && r.tied(ms)
	switch {
	case conf >= answerAt && !tied:
		return actAnswer
	case tied || (canClarify && conf >= clarifyAt && pair-conf >= clarifyAt):
		return actClarify
	}
	return actEscalate
}

// closeTo: m scores at least half as well as the best, worth offering beside it.
func closeTo(m, best match) bool {
	return m.score >= 0.5*best.score
}

// tied reports that the best two articles match the question alike and no word of it
// tells them apart ("install the app" with a Mac and a Windows article): asking which
// beats guessing, however the classifier leans.
func (r *ranker) tied(ms []match) bool {
	if len(ms) < 2 || ms[1].art < 0 || ms[0].sim <= 0 {
		return false
	}
	return ms[1].sim >= tieSim*ms[0].sim && ms[0].cover <= ms[1].cover
}

// tieSim: a runner-up within 5 % of the best's similarity.
const tieSim = 0.95

// pairConfidence is the probability that ms[0] or ms[1] answers the question.
func (r *ranker) pairConfidence(ms []match) float64 {
	if len(ms) < 2 {
		return r.confidence(ms)
	}
	return r.calibration().pair.prob(r.calFeatures(ms))
}

func (r *ranker) calibration() *calibration {
	if r.cal != nil {
		return r.cal
	}
	return &priorCalibration
}

// calRow is one made-up question: the shape of its ranking, whether the best article
// was right, whether one of the best two was, and whether its article was left out.
type calRow struct {
	f          [nConf]float64
	top, pair  bool
	outOfScope bool
}

// selfCalibrate fits the confidence of a KB on questions made from it (see above).
func selfCalibrate(articles []kb.Article, opts featureOpts) *calibration {
	return fitCalibration(calibrationRows(articles, opts))
}

// calibrationRows makes questions from the KB and ranks them with fold indexes.
func calibrationRows(articles []kb.Article, opts featureOpts) []calRow {
	nq := 0
	for _, a := range articles {
		nq += len(a.Questions)
	}
	if len(articles) < 3 || nq < 6 {
		return nil
	}
	k := min(calFolds, len(articles))
	rng := rand.New(rand.NewSource(int64(len(articles))*7919 + int64(nq)))
	group := make([]int, len(articles))
	for i, p := range rng.Perm(len(articles)) {
		group[p] = i % k
	}
	qfold := make([][]int, len(articles))
	for i, a := range articles {
		qfold[i] = make([]int, len(a.Questions))
		off := rng.Intn(k)
		for j, p := range rng.Perm(len(a.Questions)) {
			qfold[i][p] = (j + off) % k
		}
	}
	// Each fold yields about nq/k out-of-scope and nq(k-1)/k² in-scope questions.
	perFold := max(1, nq*(k-1)/(k*k))
	folds := min(k, max(2, (calTarget+perFold-1)/perFold))
	// Within a fold, keep at most this many questions of each kind.
	limit := max(calTarget/folds, 1)

	rows := make([][]calRow, folds)
	var wg sync.WaitGroup
	// Folds build in parallel, except on large KBs, whose classifiers are large.
	par := runtime.GOMAXPROCS(0)
	if len(articles) > 200 {
		par = 1
	}
	sem := make(chan struct{}, par)
	for f := 0; f < folds; f++ {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			rows[f] = calibrationFold(articles, opts, group, qfold, f, limit, int64(f))
		}()
	}
	wg.Wait()
	var all []calRow
	for _, rs := range rows {
		all = append(all, rs...)
	}
	return all
}

// calibrationFold builds the index without fold f's articles and questions and ranks
// those questions against it.
func calibrationFold(articles []kb.Article, opts featureOpts, group []int, qfold [][]int, f, limit int, seed int64) []calRow {
	type q struct {
		text string
		art  string // "" when its article is left out
	}
	var keep []kb.Article
	var in, out []q
	for i, a := range articles {
		if group[i] == f {
			for _, t := range a.Questions {
				out = append(out, q{text: t})
			}
			continue
		}
		b := a
		b.Questions = nil
		for j, t := range a.Questions {
			if qfold[i][j] == f {
				in = append(in, q{text: t, art: a.ID})
			} else {
				b.Questions = append(b.Questions, t)
			}
		}
		keep = append(keep, b)
	}
	if len(keep) < 2 {
		return nil
	}
	rng := rand.New(rand.NewSource(seed))
	sample := func(qs []q) []q {
		if len(qs) <= limit {
			return qs
		}
		rng.Shuffle(len(qs), func(i, j int) { qs[i], qs[j] = qs[j], qs[i] })
		return qs[:limit]
	}
	r := buildRanker(keep, opts)
	var rows []calRow
	for _, x := range append(sample(in), sample(out)...) {
		ms := r.rank(x.text, 5, nil)
		row := calRow{f: r.calFeatures(ms), outOfScope: x.art == ""}
		if x.art != "" {
			for i, m := range ms {
				if i < 2 && r.articles[m.art].ID == x.art {
					row.top = row.top || i == 0
					row.pair = true
				}
			}
		}
		rows = append(rows, row)
	}
	return rows
}

// fitCalibration fits both models, each row weighted so that out-of-scope questions
// make calOOSShare of the total.
func fitCalibration(rows []calRow) *calibration {
	var nin, nout float64
	for _, r := range rows {
		if r.outOfScope {
			nout++
		} else {
			nin++
		}
	}
	if nin == 0 || nout == 0 {
		return nil
	}
	n := nin + nout
	xs := make([][nConf]float64, len(rows))
	wt := make([]float64, len(rows))
	top := make([]bool, len(rows))
	pair := make([]bool, len(rows))
	for i, r := range rows {
		xs[i], top[i], pair[i] = r.f, r.top, r.pair
		if r.outOfScope {
			wt[i] = calOOSShare * n / nout
		} else {
			wt[i] = (1 - calOOSShare) * n / nin
		}
	}
	return &calibration{
		top:       fitLogistic(xs, top, wt, priorCalibration.top, calPrior),
		pair:      fitLogistic(xs, pair, wt, priorCalibration.pair, calPrior),
		questions: len(rows),
	}
}

// fitLogistic maximises the weighted log-likelihood of y given x with a Gaussian prior
// centred on prior (strength lambda), by Newton's method.
func fitLogistic(x [][nConf]float64, y []bool, wt []float64, prior logistic, lambda float64) logistic {
	const d = nConf + 1
	w := make([]float64, d)
	w0 := make([]float64, d)
	copy(w0, prior.w[:])
	w0[nConf] = prior.b
	copy(w, w0)
	loss := func(w []float64) float64 {
		var l float64
		for j := range w {
			l += lambda / 2 * (w[j] - w0[j]) * (w[j] - w0[j])
		}
		for i, xi := range x {
			z := w[nConf]
			for j, v := range xi {
				z += w[j] * v
			}
			// log(1+e^-z) for y, log(1+e^z) otherwise, without overflow
			if !y[i] {
				z = -z
			}
			l += wt[i] * (math.Max(-z, 0) + math.Log1p(math.Exp(-math.Abs(z))))
		}
		return l
	}
	var h [d][d + 1]float64
	for it := 0; it < 25; it++ {
		for i := range h {
			clear(h[i][:])
		}
		for j := 0; j < d; j++ {
			h[j][j] = lambda
			h[j][d] = lambda * (w[j] - w0[j])
		}
		for i, xi := range x {
			z := w[nConf]
			for j, v := range xi {
				z += w[j] * v
			}
			p := 1 / (1 + math.Exp(-z))
			t := 0.0
			if y[i] {
				t = 1
			}
			g := wt[i] * (p - t)
			c := wt[i] * max(p*(1-p), 1e-6)
			for a := 0; a < d; a++ {
				va := 1.0
				if a < nConf {
					va = xi[a]
				}
				h[a][d] += g * va
				for b := a; b < d; b++ {
					vb := 1.0
					if b < nConf {
						vb = xi[b]
					}
					h[a][b] += c * va * vb
				}
			}
		}
		for a := 0; a < d; a++ {
			for b := 0; b < a; b++ {
				h[a][b] = h[b][a]
			}
		}
		step, ok := solve(h)
		if !ok {
			break
		}
		// Newton's step can overshoot on separable data: halve it until the objective
		// goes down.
		before := loss(w)
		next := make([]float64, d)
		for t := 0; t < 30; t++ {
			for j := range w {
				next[j] = w[j] - step[j]
			}
			if loss(next) <= before {
				break
			}
			for j := range step {
				step[j] /= 2
			}
		}
		var moved float64
		for j := range w {
			moved = math.Max(moved, math.Abs(next[j]-w[j]))
		}
		copy(w, next)
		if moved < 1e-6 {
			break
		}
	}
	var l logistic
	copy(l.w[:], w[:nConf])
	l.b = w[nConf]
	return l
}

// solve solves the augmented linear system m by Gaussian elimination with partial
// pivoting; false when it is singular.
func solve(m [nConf + 1][nConf + 2]float64) ([]float64, bool) {
	const d = nConf + 1
	for c := 0; c < d; c++ {
		p := c
		for r := c + 1; r < d; r++ {
			if math.Abs(m[r][c]) > math.Abs(m[p][c]) {
				p = r
			}
		}
		if math.Abs(m[p][c]) < 1e-12 {
			return nil, false
		}
		m[c], m[p] = m[p], m[c]
		for r := c + 1; r < d; r++ {
			k := m[r][c] / m[c][c]
			for j := c; j <= d; j++ {
				m[r][j] -= k * m[c][j]
			}
		}
	}
	x := make([]float64, d)
	for r := d - 1; r >= 0; r-- {
		s := m[r][d]
		for j := r + 1; j < d; j++ {
			s -= m[r][j] * x[j]
		}
		x[r] = s / m[r][r]
	}
	return x, true
}
