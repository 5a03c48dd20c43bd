//go:build race

package kb

// The race detector slows bleve down about tenfold; the banking77 test then runs a
// stratified share of the questions so the default test run stays fast.
const raceEnabled = true
