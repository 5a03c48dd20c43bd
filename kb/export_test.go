package kb

import (
	"context"
	"fmt"
	"os"

	"github.com/blevesearch/bleve/v2/index/scorch"
	"time"
)

// Settle waits until the index has merged the segments an import left behind, so a
// benchmark measures a server's steady state rather than the minutes after a bulk load.
func (b *Base) Settle() {
	ix := b.ix.Load()
	if ix == nil {
		return
	}
	if os.Getenv("FORCEMERGE") != "" {
		adv, _ := ix.idx.Advanced()
		if sc, ok := adv.(*scorch.Scorch); ok {
			t0 := time.Now()
			err := sc.ForceMerge(context.Background(), nil)
			b.log.Info().Err(err).Dur("took", time.Since(t0)).Msg("force merge")
		}
	}
	last, stable := "", 0
	for stable < 10 {
		st, _ := ix.idx.StatsMap()["index"].(map[string]any)
		cur := fmt.Sprint(st["num_root_memorysegments"], st["num_root_filesegments"], st["TotFileMergePlanTasksDone"])
		if cur == last && fmt.Sprint(st["num_root_memorysegments"]) == "0" {
			stable++
		} else {
			stable = 0
		}
		last = cur
		time.Sleep(100 * time.Millisecond)
	}
}

// SetPruning changes the large-index query pruning (benchmarks compare settings).
func SetPruning(candidates, common float64) (restore func()) {
	c, m := candidateShare, commonShare
	candidateShare, commonShare = candidates, common
	return func() { candidateShare, commonShare = c, m }
}
