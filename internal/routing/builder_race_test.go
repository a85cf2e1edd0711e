//go:build race

package routing

// raceEnabled lets the slower tests shrink under the race detector.
const raceEnabled = true
