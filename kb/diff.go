package kb

import "strings"

// DiffLine is one line of a diff: Op is "=" (both), "-" (only in the old text) or "+"
// (only in the new one).
type DiffLine struct {
	Op   string `json:"op"`
	Text string `json:"text"`
}

// Diff compares two versions of an article line by line, in the file format (front
// matter and body), so a change to any field shows.
func Diff(from, to *Article) []DiffLine {
	return diffLines(string(Marshal(from)), string(Marshal(to)))
}

// diffLines is a longest-common-subsequence line diff. Articles are small; past a few
// million cells it gives up on alignment and shows a replacement.
func diffLines(a, b string) []DiffLine {
	x := strings.Split(strings.TrimSuffix(a, "\n"), "\n")
	y := strings.Split(strings.TrimSuffix(b, "\n"), "\n")
	// Trim the common head and tail first: edits are usually local.
	head := 0
	for head < len(x) && head < len(y) && x[head] == y[head] {
		head++
	}
	tail := 0
	for tail < len(x)-head && tail < len(y)-head && x[len(x)-1-tail] == y[len(y)-1-tail] {
		tail++
	}
	var out []DiffLine
	for _, l := range x[:head] {
		out = append(out, DiffLine{"=", l})
	}
	mx, my := x[head:len(x)-tail], y[head:len(y)-tail]
	if len(mx)*len(my) > 4_000_000 {
		for _, l := range mx {
			out = append(out, DiffLine{"-", l})
		}
		for _, l := range my {
			out = append(out, DiffLine{"+", l})
		}
	} else {
		// lcs[i][j] = length of the LCS of mx[i:] and my[j:]
		lcs := make([][]int32, len(mx)+1)
		for i := range lcs {
			lcs[i] = make([]int32, len(my)+1)
		}
		for i := len(mx) - 1; i >= 0; i-- {
			for j := len(my) - 1; j >= 0; j-- {
				if mx[i] == my[j] {
					lcs[i][j] = lcs[i+1][j+1] + 1
				} else {
					lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
				}
			}
		}
		i, j := 0, 0
		for i < len(mx) || j < len(my) {
			switch {
			case i < len(mx) && j < len(my) && mx[i] == my[j]:
				out = append(out, DiffLine{"=", mx[i]})
				i++
				j++
			case j < len(my) && (i == len(mx) || lcs[i][j+1] >= lcs[i+1][j]):
				out = append(out, DiffLine{"+", my[j]})
				j++
			default:
				out = append(out, DiffLine{"-", mx[i]})
				i++
			}
		}
	}
	for _, l := range x[len(x)-tail:] {
		out = append(out, DiffLine{"=", l})
	}
	return out
}
