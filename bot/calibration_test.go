package bot

import (
	"fmt"
	"math"
	"os"
	"sort"
	"testing"

	"github.com/conciergehq/concierge/kb"
)

// TestCalibrationFit refits confidenceWeights: it ranks banking77's dev questions with
// four different sets of 10 articles left out, labels each ranking right (the expected
// article first) or wrong (wrong article, or its article is missing), fits a logistic
// regression on confFeatures over two sets and prints the weights and the in-scope
// accuracy / out-of-scope recall of all four at several thresholds. It is a tool, run
// on demand: CONCIERGE_FIT=1 go test ./bot -run CalibrationFit -v
func TestCalibrationFit(t *testing.T) {
	if os.Getenv("CONCIERGE_FIT") == "" {
		t.Skip("a calibration tool, not a check: set CONCIERGE_FIT=1 to refit the confidence weights")
	}
	all, alldev := banking77(t)
	type row struct {
		x   []float64
		y   float64
		oos bool
		ok  bool
		off int
	}
	var rows []row
	for _, off := range []int{3, 0, 5, 1} {
		arts, dev := oosSplit(all, alldev, off)
		r := newRanker(arts, defaultFeatureOpts)
		for _, l := range dev {
			ms := r.rank(l.Text, 5, nil)
			for len(ms) < 2 {
				ms = append(ms, match{art: -1})
			}
			rw := row{oos: l.Expect == nil, off: off}
			rw.ok = !rw.oos && ms[0].art >= 0 && arts[ms[0].art].ID == *l.Expect
			if rw.ok {
				rw.y = 1
			}
			rw.x = confFeatures(r, ms)
			rows = append(rows, rw)
		}
	}
	// fit on off 3,0 ; test on 5,1
	nf := len(rows[0].x)
	w := make([]float64, nf+1)
	for it := 0; it < 3000; it++ {
		g := make([]float64, nf+1)
		n := 0
		for _, rw := range rows {
			if rw.off == 5 || rw.off == 1 {
				continue
			}
			n++
			z := w[nf]
			for j, v := range rw.x {
				z += w[j] * v
			}
			p := 1 / (1 + math.Exp(-z))
			for j, v := range rw.x {
				g[j] += (p - rw.y) * v
			}
			g[nf] += p - rw.y
		}
		for j := range w {
			w[j] -= 1.0 * g[j] / float64(n)
		}
	}
	fmt.Printf("weights %.3f\n", w)
	for _, off := range []int{3, 0, 5, 1} {
		var confs []float64
		var sub []row
		for _, rw := range rows {
			if rw.off != off {
				continue
			}
			z := w[nf]
			for j, v := range rw.x {
				z += w[j] * v
			}
			confs = append(confs, 1/(1+math.Exp(-z)))
			sub = append(sub, rw)
		}
		var nin, noos int
		for _, rw := range sub {
			if rw.oos {
				noos++
			} else {
				nin++
			}
		}
		ths := append([]float64{}, confs...)
		sort.Float64s(ths)
		best := 0.0
		for _, th := range append(ths, 0.3, 0.4, 0.5, 0.6, 0.7) {
			var acc, rec int
			for i, rw := range sub {
				ans := confs[i] >= th
				if rw.oos && !ans {
					rec++
				}
				if !rw.oos && ans && rw.ok {
					acc++
				}
			}
			ra, rr := float64(acc)/float64(nin), float64(rec)/float64(noos)
			if rr >= 0.85 && ra > best {
				best = ra
			}
			if th == 0.3 || th == 0.4 || th == 0.5 || th == 0.6 || th == 0.7 {
				fmt.Printf("off=%d th=%.1f in-scope %.3f oos-recall %.3f\n", off, th, ra, rr)
			}
		}
		fmt.Printf("off=%d best in-scope at recall>=.85: %.3f\n", off, best)
	}
}

// oosSplit leaves out 10 articles — every 7th in alphabetical order from index offset —
// and marks their questions as out of scope (as bot/testdata/banking77-oos.sh does).
func oosSplit(arts []kb.Article, dev []evalLine, offset int) ([]kb.Article, []evalLine) {
	ids := make([]string, len(arts))
	for i, a := range arts {
		ids[i] = a.ID
	}
	sort.Strings(ids)
	out := map[string]bool{}
	for i := offset; i < len(ids) && len(out) < 10; i += 7 {
		out[ids[i]] = true
	}
	var keep []kb.Article
	for _, a := range arts {
		if !out[a.ID] {
			keep = append(keep, a)
		}
	}
	var d []evalLine
	for _, l := range dev {
		if out[*l.Expect] {
			d = append(d, evalLine{Text: l.Text})
		} else {
			d = append(d, l)
		}
	}
	return keep, d
}
