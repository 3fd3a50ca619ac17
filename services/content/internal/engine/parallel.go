package engine

import (
	"runtime"
	"sync"
)

// parallelMinWords keeps small scans on one goroutine: below ~130k rows the cost of
// starting goroutines and merging their accumulators is more than the scan.
const parallelMinWords = 1 << 11

// scanParts is how many goroutines share a scan of nwords row words.
func scanParts(nwords int) int {
	p := runtime.GOMAXPROCS(0)
	if p < 2 || nwords < parallelMinWords {
		return 1
	}
	if most := nwords / (parallelMinWords / 2); p > most {
		p = most
	}
	return p
}

// splitWords runs fn on consecutive word ranges, one per part, and waits for them all.
func splitWords(nwords, parts int, fn func(part, lo, hi int)) {
	if parts <= 1 {
		fn(0, 0, nwords)
		return
	}
	per := (nwords + parts - 1) / parts
	var wg sync.WaitGroup
	for p := 0; p < parts; p++ {
		lo, hi := p*per, min((p+1)*per, nwords)
		wg.Add(1)
		go func() {
			defer wg.Done()
			fn(p, lo, max(lo, hi))
		}()
	}
	wg.Wait()
}
