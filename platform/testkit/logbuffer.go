package testkit

import (
	"bytes"
	"sync"
)

// LogBuffer collects the log output of a service under test.
//
// A service logs from many goroutines (handlers, workers, shutdown) while the test reads
// what was logged, so a plain bytes.Buffer would race. The zero value is ready to use.
type LogBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// Write appends p; it never fails.
func (b *LogBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String is everything written so far.
func (b *LogBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Reset drops everything written so far, so a long run (a benchmark's many calls) does
// not keep what it will never read.
func (b *LogBuffer) Reset() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf.Reset()
}
