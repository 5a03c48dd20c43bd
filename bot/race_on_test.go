//go:build race

package bot

// raceDetector: the race detector slows CPU-bound code about twentyfold.
const raceDetector = true
