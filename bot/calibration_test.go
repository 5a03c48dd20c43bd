package bot

import (
	"sort"

	"github.com/conciergehq/concierge/kb"
)

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
