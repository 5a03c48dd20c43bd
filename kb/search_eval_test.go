package kb

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"testing"
)

// banking77 is the triage evaluation set shared by the team (../shared/eval/banking77).
const banking77 = "../../shared/eval/banking77"

type devQuestion struct {
	Text   string `json:"text"`
	Expect string `json:"expect"`
}

func loadBanking77(t testing.TB) ([]Article, []devQuestion) {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(banking77, "kb", "*.md"))
	if err != nil || len(files) == 0 {
		t.Skipf("banking77 evaluation set not found at %s (it lives in the shared folder beside the repository)", banking77)
	}
	var arts []Article
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		a, err := Parse(filepath.Base(f), b)
		if err != nil {
			t.Fatalf("banking77 file must import unchanged: %v", err)
		}
		arts = append(arts, a)
	}
	fh, err := os.Open(filepath.Join(banking77, "dev.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	var dev []devQuestion
	sc := bufio.NewScanner(fh)
	for sc.Scan() {
		var q devQuestion
		if err := json.Unmarshal(sc.Bytes(), &q); err != nil {
			t.Fatal(err)
		}
		dev = append(dev, q)
	}
	return arts, dev
}

type evalResult struct{ top1, top3 float64 }

func evaluate(t testing.TB, arts []Article, dev []devQuestion, an analysis, w weights) evalResult {
	t.Helper()
	ix, _, err := openIndex("", an, w)
	if err != nil {
		t.Fatal(err)
	}
	defer ix.close()
	if err := ix.apply(arts, 1); err != nil {
		t.Fatal(err)
	}
	var r evalResult
	for _, q := range dev {
		hits, err := ix.search(Query{Text: q.Text, Lang: "en", Limit: 3}, []string{familyEN})
		if err != nil {
			t.Fatal(err)
		}
		for i, h := range hits {
			if h.ID == q.Expect {
				if i == 0 {
					r.top1++
				}
				r.top3++
				break
			}
		}
	}
	r.top1 /= float64(len(dev))
	r.top3 /= float64(len(dev))
	return r
}

// TestBanking77Retrieval measures how often search ranks the expected article first on
// the banking77 dev questions, with the analysis and weights the product ships.
func TestBanking77Retrieval(t *testing.T) {
	arts, dev := loadBanking77(t)
	// The full set scores 87.1%. Under the race detector (ten times slower) every other
	// question is asked; half the set moves the figure by a point or so either way.
	floor := 0.86
	if raceEnabled || testing.Short() {
		var some []devQuestion
		for i := 0; i < len(dev); i += 2 {
			some = append(some, dev[i])
		}
		dev, floor = some, 0.84
	}
	r := evaluate(t, arts, dev, defaultAnalysis, defaultWeights)
	t.Logf("banking77 dev (%d questions, %d articles): top-1 %.1f%%, top-3 %.1f%%", len(dev), len(arts), 100*r.top1, 100*r.top3)
	if r.top1 < floor {
		t.Errorf("top-1 accuracy %.1f%% fell below %.0f%% (plain bleve gets about 82%%)", 100*r.top1, 100*floor)
	}
}

// TestBanking77Tuning compares analysis and weight variants (slow: set KB_TUNE=1).
func TestBanking77Tuning(t *testing.T) {
	if os.Getenv("KB_TUNE") == "" {
		t.Skip("set KB_TUNE=1 to compare search variants on banking77")
	}
	arts, dev := loadBanking77(t)
	type variant struct {
		name string
		an   analysis
		w    weights
	}
	vs := []variant{}
	add := func(name string, an analysis, w weights) { vs = append(vs, variant{name, an, w}) }
	add("shipped", defaultAnalysis, defaultWeights)
	for _, sc := range []string{"bm25", "tf-idf"} {
		for _, stem := range []string{"stemmer_porter", "stemmer_en_snowball"} {
			for _, sh := range []bool{false, true} {
				for _, bw := range []float64{0, 0.1, 0.3, 1} {
					an := analysis{Stemmer: stem, Shingles: sh, Scoring: sc}
					add(fmt.Sprintf("%s %s shingles=%v body=%.1f", sc, stem, sh, bw), an, weights{Body: bw})
				}
			}
		}
	}
	var out []string
	for _, v := range vs {
		r := evaluate(t, arts, dev, v.an, v.w)
		out = append(out, fmt.Sprintf("%6.2f%% %6.2f%%  %s", 100*r.top1, 100*r.top3, v.name))
	}
	sort.Strings(out)
	for _, l := range out {
		t.Log(l)
	}
}
