package kb_test

import (
	"fmt"
	"testing"

	"github.com/conciergehq/concierge/kb"
)

// BenchmarkPruning10k compares the large-index query pruning settings (candidate share,
// common-term share) for speed and for how often a query finds the article it was
// drawn from (%top1); 1.01 keeps every term.
func BenchmarkPruning10k(b *testing.B) {
	for _, p := range [][2]float64{{0.02, 1.01}, {0.02, 0.25}, {0.02, 0.10}, {0.005, 0.25}} {
		b.Run(fmt.Sprintf("cand=%.3f,common=%.2f", p[0], p[1]), func(b *testing.B) {
			defer kb.SetPruning(p[0], p[1])()
			benchSearch(b, 10000)
		})
	}
}
