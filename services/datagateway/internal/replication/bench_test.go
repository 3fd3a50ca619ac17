package replication_test

import (
	"context"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/oriel-dev/oriel/services/datagateway/internal/store"
)

const (
	// lagRate is the change rate the issue sets the lag target at.
	lagRate = 2000
	// lagBatch rows per source transaction: 200 transactions a second.
	lagBatch = 10
	lagDrive = 4 * time.Second
	// lagTargetP99 is the target.
	lagTargetP99 = time.Second
	snapshotRows = 200_000
)

// BenchmarkCDCLag drives lagRate inserts a second into the source and measures, for
// each, the time from just before its source transaction was sent to when a poll of the
// target first sees it.
func BenchmarkCDCLag(b *testing.B) {
	h := newHarness(b)
	run(b, h.src, `CREATE TABLE ticks (id bigint PRIMARY KEY, payload text NOT NULL)`)
	h.createReplication("lag", "ticks")
	opts := h.engineOptions("bench")
	opts.StatusInterval = time.Second
	h.startEngine(opts)
	h.waitState("lag", streaming)
	run(b, h.src, `INSERT INTO ticks VALUES (0, 'probe')`)
	waitVisible(b, h, 0)

	var lags []time.Duration
	var sent int
	var took time.Duration
	next := int64(1)
	b.ResetTimer()
	for range b.N {
		l, n, d := driveTicks(b, h, next)
		lags, sent, took = append(lags, l...), sent+n, took+d
		next += int64(n)
	}
	b.StopTimer()
	slices.Sort(lags)
	pct := func(p float64) float64 {
		return float64(lags[int(p*float64(len(lags)-1))]) / float64(time.Millisecond)
	}
	b.ReportMetric(pct(0.50), "p50-lag-ms")
	b.ReportMetric(pct(0.99), "p99-lag-ms")
	b.ReportMetric(float64(lagTargetP99/time.Millisecond), "p99-target-ms")
	b.ReportMetric(float64(sent)/took.Seconds(), "changes/s")
	b.ReportMetric(0, "ns/op")
}

// driveTicks inserts at lagRate for lagDrive from id first and returns each row's lag.
func driveTicks(b *testing.B, h *harness, first int64) ([]time.Duration, int, time.Duration) {
	ctx := context.Background()
	batches := int(lagDrive / time.Second * lagRate / lagBatch)
	sentAt := make([]time.Time, batches)
	var mu sync.Mutex
	written := 0

	done := make(chan error, 1)
	start := time.Now()
	go func() {
		interval := time.Second / (lagRate / lagBatch)
		for i := range batches {
			if d := time.Until(start.Add(time.Duration(i) * interval)); d > 0 {
				time.Sleep(d)
			}
			lo := first + int64(i*lagBatch)
			now := time.Now()
			mu.Lock()
			sentAt[i] = now
			mu.Unlock()
			if _, err := h.src.Exec(ctx, `INSERT INTO ticks SELECT g, 'x' FROM generate_series($1::bigint, $2::bigint) g`,
				lo, lo+lagBatch-1); err != nil {
				done <- err
				return
			}
			mu.Lock()
			written = i + 1
			mu.Unlock()
		}
		done <- nil
	}()

	lags := make([]time.Duration, 0, batches*lagBatch)
	seen := 0 // batches seen in the target
	deadline := time.Now().Add(lagDrive + 60*time.Second)
	for seen < batches {
		if time.Now().After(deadline) {
			b.Fatalf("only %d of %d batches reached the target", seen, batches)
		}
		var maxID int64
		if err := h.tgt.QueryRow(ctx, `SELECT coalesce(max(id), 0) FROM ticks`).Scan(&maxID); err != nil {
			b.Fatalf("poll the target: %v", err)
		}
		now := time.Now()
		mu.Lock()
		for seen < written && first+int64((seen+1)*lagBatch)-1 <= maxID {
			for range lagBatch {
				lags = append(lags, now.Sub(sentAt[seen]))
			}
			seen++
		}
		mu.Unlock()
		time.Sleep(time.Millisecond)
	}
	took := time.Since(start)
	if err := <-done; err != nil {
		b.Fatalf("write to the source: %v", err)
	}
	return lags, batches * lagBatch, took
}

func waitVisible(b *testing.B, h *harness, id int64) {
	eventually(b, 60*time.Second, "row "+strconv.FormatInt(id, 10)+" reaches the target", func() (bool, string) {
		var n int
		err := h.tgt.QueryRow(context.Background(), `SELECT count(*) FROM ticks WHERE id = $1`, id).Scan(&n)
		return err == nil && n == 1, "not there yet"
	})
}

// BenchmarkSnapshot measures the initial copy: from creating a replication of a table
// of snapshotRows rows to the target holding them all and streaming.
func BenchmarkSnapshot(b *testing.B) {
	h := newHarness(b)
	run(b, h.src,
		`CREATE TABLE items (id bigint PRIMARY KEY, name text NOT NULL, qty int, price numeric(12,2), created timestamptz)`,
		`INSERT INTO items SELECT i, 'item ' || i, i % 100, i * 0.25, now() FROM generate_series(1, `+strconv.Itoa(snapshotRows)+`) i`,
		`VACUUM ANALYZE items`)
	opts := h.engineOptions("bench")
	opts.Poll = 10 * time.Millisecond
	h.startEngine(opts)

	var took time.Duration
	b.ResetTimer()
	for i := range b.N {
		id := "snap-" + strconv.Itoa(i)
		start := time.Now()
		h.createReplication(id, "items")
		eventually(b, 5*time.Minute, id+" snapshot", func() (bool, string) {
			r := h.get(id)
			return r.SnapshotDone && r.SnapshotRows == snapshotRows, "state " + r.State.String() + ", last error " + r.LastError
		})
		took += time.Since(start)
		b.StopTimer()
		h.change(id, func(r *store.Replication) { r.Deleting = true })
		eventually(b, time.Minute, id+" deleted", func() (bool, string) { return h.get(id) == nil, "still there" })
		b.StartTimer()
	}
	b.StopTimer()
	b.ReportMetric(float64(snapshotRows*b.N)/took.Seconds(), "rows/s")
	b.ReportMetric(0, "ns/op")
}
