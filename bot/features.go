package bot

// featureSet turns tokens into the sparse features the ranker compares: word stems, pairs
// of neighbouring words (word order: "card declined" vs "declined card" share stems but
// "top up" ≠ "up top"), and character n-grams of each word, which let typos and
// inflections the stemmer misses ("recieve", "transfered") still meet their word.
type featureOpts struct {
	words, pairs, chars bool
	minN, maxN          int
	pairWeight          float64
	charWeight          float64
}

var defaultFeatureOpts = featureOpts{words: true, pairs: true, chars: true, minN: 3, maxN: 5, pairWeight: 1, charWeight: 0.5}

// feature is one term with a raw weight (its kind's weight times its count).
type feature struct {
	key string
	w   float64
}

func (o featureOpts) extract(toks []token) []feature {
	counts := map[string]float64{}
	for i, t := range toks {
		if o.words {
			counts["w\x00"+t.stem]++
		}
		if o.pairs && i+1 < len(toks) {
			n := toks[i+1]
			sep := " "
			if t.cjk && n.cjk {
				sep = ""
			}
			counts["p\x00"+t.stem+sep+n.stem] += o.pairWeight
		}
		if o.chars && !t.cjk {
			r := []rune("^" + t.raw + "$")
			if len(r) <= o.minN+1 {
				continue // short words are covered by their word feature
			}
			for n := o.minN; n <= o.maxN; n++ {
				for j := 0; j+n <= len(r); j++ {
					counts["c\x00"+string(r[j:j+n])] += o.charWeight
				}
			}
		}
	}
	out := make([]feature, 0, len(counts))
	for k, w := range counts {
		out = append(out, feature{k, w})
	}
	return out
}
