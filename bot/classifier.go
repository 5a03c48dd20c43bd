package bot

import (
	"math"
	"math/rand"
	"sort"
)

// classifier is a softmax (multinomial logistic) reranker over articles, trained when the
// index is built on the KB's own sample questions. Nearest-neighbour similarity finds the
// plausible articles; the classifier learns which words tell confusable articles apart
// ("card not arrived" vs "card not working"), which similarity alone cannot weigh.
//
// To keep training and scoring cheap on large knowledge bases it only ever compares an
// article with its neighbours: each training question is scored against its own
// nearest-neighbour candidates (sampled softmax), and a query against its top candidates.
type classifier struct {
	nclass int
	nfeat  int
	// featOf maps a vocabulary id to a classifier feature, or -1 (rare features are
	// dropped when the weight matrix would be too large).
	featOf []int32
	w      []float32 // nclass × nfeat
	b      []float32
}

// maxWeights bounds the classifier's weight matrix (floats): 48M = 192 MB at most.
const maxWeights = 48 << 20

type trainExample struct {
	x     sparse
	y     int
	cands []int // candidate classes, y included
}

func newClassifier(voc *vocab, df []int, nclass int) *classifier {
	c := &classifier{nclass: nclass, featOf: make([]int32, len(voc.idf))}
	budget := maxWeights / max(nclass, 1)
	ids := make([]int, len(df))
	for i := range ids {
		ids[i] = i
	}
	if len(ids) > budget {
		sort.SliceStable(ids, func(i, j int) bool { return df[ids[i]] > df[ids[j]] })
	}
	for i := range c.featOf {
		c.featOf[i] = -1
	}
	for n, id := range ids {
		if n >= budget {
			break
		}
		c.featOf[id] = int32(n)
		c.nfeat++
	}
	c.w = make([]float32, nclass*c.nfeat)
	c.b = make([]float32, nclass)
	return c
}

func (c *classifier) logit(x sparse, class int) float64 {
	row := c.w[class*c.nfeat : (class+1)*c.nfeat]
	s := float64(c.b[class])
	for j, id := range x.ids {
		if f := c.featOf[id]; f >= 0 {
			s += float64(row[f] * x.w[j])
		}
	}
	return s
}

// l2 shrinks the weights a question touches at each step: with a handful of sample
// questions per article an unregularised model separates them with huge margins and
// reports near-certainty on a one-word question.
const l2 = 1.0

// lrDecay slows the learning rate epoch by epoch.
const lrDecay = 0.3

// train runs SGD on the softmax loss over each example's candidates.
func (c *classifier) train(ex []trainExample, epochs int, lr float64, seed int64) {
	// Map each example to the classifier's own feature ids once: the inner loops then
	// touch the weight rows only.
	type mapped struct {
		f []int32
		w []float32
	}
	mx := make([]mapped, len(ex))
	for i, e := range ex {
		m := mapped{f: make([]int32, 0, len(e.x.ids)), w: make([]float32, 0, len(e.x.ids))}
		for j, id := range e.x.ids {
			if f := c.featOf[id]; f >= 0 {
				m.f = append(m.f, f)
				m.w = append(m.w, e.x.w[j])
			}
		}
		mx[i] = m
	}
	rng := rand.New(rand.NewSource(seed))
	var z []float64
	for ep := 0; ep < epochs; ep++ {
		eta := lr / (1 + lrDecay*float64(ep))
		decay := float32(1 - eta*l2/float64(len(ex)))
		for _, i := range rng.Perm(len(ex)) {
			e, m := &ex[i], &mx[i]
			z = z[:0]
			top := math.Inf(-1)
			for _, k := range e.cands {
				row := c.w[k*c.nfeat : (k+1)*c.nfeat]
				var s float32
				for j, f := range m.f {
					s += row[f] * m.w[j]
				}
				v := float64(s + c.b[k])
				z = append(z, v)
				top = math.Max(top, v)
			}
			var sum float64
			for j := range z {
				z[j] = math.Exp(z[j] - top)
				sum += z[j]
			}
			for j, k := range e.cands {
				g := z[j] / sum
				if k == e.y {
					g--
				}
				if math.Abs(g) < 1e-4 {
					continue
				}
				row := c.w[k*c.nfeat : (k+1)*c.nfeat]
				step := float32(eta * g)
				for jj, f := range m.f {
					row[f] = row[f]*decay - step*m.w[jj]
				}
				c.b[k] -= step * 0.1
			}
		}
	}
}

// probs returns the raw scores and the softmax over the candidate classes, in their order.
func (c *classifier) probs(x sparse, cands []int, logits, out []float64) ([]float64, []float64) {
	logits, out = logits[:0], out[:0]
	mx := math.Inf(-1)
	for _, k := range cands {
		s := c.logit(x, k)
		logits = append(logits, s)
		out = append(out, s)
		mx = math.Max(mx, s)
	}
	var sum float64
	for j := range out {
		out[j] = math.Exp(out[j] - mx)
		sum += out[j]
	}
	for j := range out {
		out[j] /= sum
	}
	return logits, out
}
