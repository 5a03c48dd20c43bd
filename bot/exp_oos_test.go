package bot

import (
	"fmt"
	"math"
	"os"
	"sort"
	"testing"

	"github.com/conciergehq/concierge/kb"
)

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

func TestExperimentOOS(t *testing.T) {
	if os.Getenv("EXPERIMENT") == "" {
		t.Skip("set EXPERIMENT=1")
	}
	all, alldev := banking77(t)
	formulas := map[string]func(m1, m2 match) float64{
		"prob":      func(m1, m2 match) float64 { return m1.prob },
		"top0":      func(m1, m2 match) float64 { return float64(m1.top[0]) },
		"cent":      func(m1, m2 match) float64 { return float64(m1.cent) },
		"score":     func(m1, m2 match) float64 { return m1.score },
		"prob*top0": func(m1, m2 match) float64 { return m1.prob * float64(m1.top[0]) },
		"sqrtp*top": func(m1, m2 match) float64 { return math.Sqrt(m1.prob) * float64(m1.top[0]) },
		"p*cent":    func(m1, m2 match) float64 { return m1.prob * float64(m1.cent) },
		"margin":    func(m1, m2 match) float64 { return m1.score - m2.score },
		"sim":       func(m1, m2 match) float64 { return float64(m1.sim) },
		"p*sim":     func(m1, m2 match) float64 { return m1.prob * float64(m1.sim) },
	}
	for _, off := range []int{3, 0, 5} {
		arts, dev := oosSplit(all, alldev, off)
		r := newRanker(arts, defaultFeatureOpts)
		formulas["top/typ"] = func(m1, m2 match) float64 { return float64(m1.top[0] / r.typical[m1.art]) }
		formulas["p*top/typ"] = func(m1, m2 match) float64 { return m1.prob * float64(m1.top[0]/r.typical[m1.art]) }
		formulas["marg*top/typ"] = func(m1, m2 match) float64 { return (m1.score - m2.score) * float64(m1.top[0]/r.typical[m1.art]) }
		formulas["marg*top"] = func(m1, m2 match) float64 { return (m1.score - m2.score) * float64(m1.top[0]) }
		formulas["pmarg"] = func(m1, m2 match) float64 { return (m1.prob - m2.prob) }
		formulas["pmarg*top"] = func(m1, m2 match) float64 { return (m1.prob - m2.prob) * float64(m1.top[0]) }
		formulas["simmarg"] = func(m1, m2 match) float64 { return float64(m1.sim - m2.sim) }
		type row struct {
			conf    map[string]float64
			oos, ok bool
		}
		var rows []row
		for _, l := range dev {
			ms := r.rank(l.Text, 5, nil)
			for len(ms) < 2 {
				ms = append(ms, match{art: -1})
			}
			rw := row{conf: map[string]float64{}, oos: l.Expect == nil}
			rw.ok = !rw.oos && ms[0].art >= 0 && arts[ms[0].art].ID == *l.Expect
			for n, f := range formulas {
				rw.conf[n] = f(ms[0], ms[1])
			}
			rows = append(rows, rw)
		}
		names := make([]string, 0)
		for n := range formulas {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			// sweep thresholds
			var ths []float64
			for _, rw := range rows {
				ths = append(ths, rw.conf[n])
			}
			sort.Float64s(ths)
			bestAcc, bestTh, bestRec := 0.0, 0.0, 0.0
			var nin, noos int
			for _, rw := range rows {
				if rw.oos {
					noos++
				} else {
					nin++
				}
			}
			for _, th := range ths {
				var acc, rec int
				for _, rw := range rows {
					ans := rw.conf[n] >= th
					if rw.oos && !ans {
						rec++
					}
					if !rw.oos && ans && rw.ok {
						acc++
					}
				}
				ra, rr := float64(acc)/float64(nin), float64(rec)/float64(noos)
				if rr >= 0.85 && ra > bestAcc {
					bestAcc, bestTh, bestRec = ra, th, rr
				}
			}
			fmt.Printf("off=%d %-10s in-scope %.3f at oos-recall %.3f th=%.4f\n", off, n, bestAcc, bestRec, bestTh)
		}
	}
}
