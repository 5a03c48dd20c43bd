package bot

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/conciergehq/concierge/kb"
)

// The banking77 evaluation set lives beside the repository (../shared/eval from the
// repository root) on developers' machines and in CI.
func banking77(t testing.TB) (articles []kb.Article, dev []evalLine) {
	t.Helper()
	dir := os.Getenv("CONCIERGE_BANKING77")
	if dir == "" {
		dir = filepath.Join("..", "..", "shared", "eval", "banking77")
	}
	files, _ := filepath.Glob(filepath.Join(dir, "kb", "*.md"))
	if len(files) == 0 {
		t.Skipf("banking77 evaluation set not found in %s (set CONCIERGE_BANKING77)", dir)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		articles = append(articles, parseTestArticle(t, b))
	}
	f, err := os.Open(filepath.Join(dir, "dev.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var l evalLine
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatal(err)
		}
		dev = append(dev, l)
	}
	return articles, dev
}

type evalLine struct {
	Text   string  `json:"text"`
	Expect *string `json:"expect"`
}

func parseTestArticle(t testing.TB, b []byte) kb.Article {
	parts := bytes.SplitN(b, []byte("---"), 3)
	if len(parts) != 3 {
		t.Fatalf("no front matter")
	}
	var a kb.Article
	if err := yaml.Unmarshal(parts[1], &a); err != nil {
		t.Fatal(err)
	}
	a.Body = string(parts[2])
	a.Status = kb.StatusPublished
	return a
}

func TestExperimentBanking77(t *testing.T) {
	if os.Getenv("EXPERIMENT") == "" {
		t.Skip("set EXPERIMENT=1")
	}
	arts, dev := banking77(t)
	r := newRanker(arts, defaultFeatureOpts)
	top1 := 0
	for _, l := range dev {
		ms := r.rank(l.Text, 5, nil)
		if len(ms) > 0 && arts[ms[0].art].ID == *l.Expect {
			top1++
		}
	}
	fmt.Printf("top1 %.2f%%\n", 100*float64(top1)/float64(len(dev)))
	_ = sort.Ints
}
