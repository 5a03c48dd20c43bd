package bot

import (
	"fmt"
	"os"
	"testing"
)

func TestExperimentAmbiguity(t *testing.T) {
	if os.Getenv("EXPERIMENT") == "" {
		t.Skip("set EXPERIMENT=1")
	}
	arts, dev := banking77(t)
	r := newRanker(arts, defaultFeatureOpts)
	for _, ratio := range []float32{0.85, 0.9, 0.95, 0.98} {
		var flagged, flaggedCorrect, answered, correct int
		for _, l := range dev {
			ms := r.rank(l.Text, 5, nil)
			if r.confidence(ms) < 0.5 {
				continue
			}
			answered++
			ok := arts[ms[0].art].ID == *l.Expect
			if ok {
				correct++
			}
			if len(ms) > 1 && ms[1].sim >= ratio*ms[0].sim {
				flagged++
				if ok {
					flaggedCorrect++
				}
			}
		}
		fmt.Printf("ratio %.2f answered %d correct %d flagged %d (correct among flagged %d)\n", ratio, answered, correct, flagged, flaggedCorrect)
	}
}
