package replication_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// killSchema is the source: a hot table whose counters every transaction increments, an
// insert-only ledger, a table with a composite key that is upserted and deleted, and
// filler rows that make the snapshot take a while.
var killSchema = []string{
	`CREATE TABLE accounts (id bigint PRIMARY KEY, counter bigint NOT NULL, payload text, updated_at timestamptz NOT NULL)`,
	`CREATE TABLE ledger (id bigint PRIMARY KEY, account bigint NOT NULL, amount int NOT NULL)`,
	`CREATE TABLE events (a int, b text, v bigint NOT NULL, PRIMARY KEY (a, b))`,
	`CREATE TABLE filler (id int PRIMARY KEY, data text NOT NULL)`,
}

// killAudit is added to the target before the replication creates anything there (the
// engine accepts existing tables whose columns match): triggers that record any change
// applied twice or out of order, which an upsert would otherwise hide.
var killAudit = []string{
	`CREATE SCHEMA audit`,
	`CREATE TABLE audit.anomalies (what text NOT NULL, id bigint NOT NULL, old_value bigint, new_value bigint)`,
	// Every source update adds exactly 1: an applied counter that moves otherwise means a
	// transaction was replayed (moving it back) or lost (jumping by more).
	`CREATE FUNCTION audit.check_counter() RETURNS trigger LANGUAGE plpgsql AS $$
	BEGIN
		IF NEW.counter <> OLD.counter AND NEW.counter <> OLD.counter + 1 THEN
			INSERT INTO audit.anomalies VALUES ('counter moved by other than 1', OLD.id, OLD.counter, NEW.counter);
		END IF;
		RETURN NEW;
	END $$`,
	`CREATE TRIGGER check_counter BEFORE UPDATE ON accounts FOR EACH ROW EXECUTE FUNCTION audit.check_counter()`,
	// Ledger rows are never updated at the source: an update in the target is an insert
	// applied a second time (as an upsert).
	`CREATE FUNCTION audit.ledger_twice() RETURNS trigger LANGUAGE plpgsql AS $$
	BEGIN
		INSERT INTO audit.anomalies VALUES ('ledger insert applied twice', OLD.id, NULL, NULL);
		RETURN NEW;
	END $$`,
	`CREATE TRIGGER ledger_twice BEFORE UPDATE ON ledger FOR EACH ROW EXECUTE FUNCTION audit.ledger_twice()`,
}

const (
	hotAccounts  = 40
	killRuns     = 20
	snapshotRuns = 6 // the first kills come soon after a claim: mid-snapshot
	workerLease  = time.Second
)

// The Done-when test of data movement.
func TestKillNineOfTheWorkerAtRandomPointsLosesNothingAndAppliesNothingTwice(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	run(t, h.src, killSchema...)
	run(t, h.tgt, killSchema[:len(killSchema)-1]...) // filler is created by the engine
	run(t, h.tgt, killAudit...)
	run(t, h.src,
		`INSERT INTO accounts SELECT i, 0, md5(i::text), now() FROM generate_series(1, 2000) i`,
		`INSERT INTO events SELECT i, b, 0 FROM generate_series(1, 50) i, unnest(ARRAY['x', 'y']) b`,
		`INSERT INTO filler SELECT i, md5(i::text) FROM generate_series(1, 30000) i`)
	tables := []string{"accounts", "ledger", "events", "filler"}
	h.createReplication("chaos", tables...)

	w := startWriter(t, h)
	logs := t.TempDir()
	var snapshotKills, streamingKills int
	for i := range killRuns {
		owner := "worker-" + strconv.Itoa(i)
		p := h.startWorker(owner, filepath.Join(logs, owner+".log"))
		eventually(t, 30*time.Second, owner+" claims the replication", func() (bool, string) {
			r := h.get("chaos")
			return r.LeaseOwner == owner, "lease owner " + r.LeaseOwner + ", last error " + r.LastError
		})
		if i < snapshotRuns {
			time.Sleep(rand.N(400 * time.Millisecond))
		} else {
			eventually(t, 60*time.Second, owner+" streams", func() (bool, string) {
				r := h.get("chaos")
				_, active := h.slot(r.SlotName)
				return r.SnapshotDone && active && r.LeaseOwner == owner,
					fmt.Sprintf("snapshot done %v, slot active %v, last error %q", r.SnapshotDone, active, r.LastError)
			})
			time.Sleep(rand.N(800 * time.Millisecond))
		}
		p.kill9(t)
		if h.get("chaos").SnapshotDone {
			streamingKills++
		} else {
			snapshotKills++
		}
		w.check(t)
	}
	changes := w.stop(t)
	t.Logf("%d kills mid-snapshot, %d while streaming; %d source transactions written meanwhile",
		snapshotKills, streamingKills, changes)
	if snapshotKills == 0 || streamingKills == 0 {
		t.Fatalf("kills mid-snapshot %d, while streaming %d: the test must kill in both phases", snapshotKills, streamingKills)
	}

	final := h.startWorker("worker-final", filepath.Join(logs, "worker-final.log"))
	h.waitEqual(60*time.Second, tables...)
	final.stop(t)

	rows, err := h.tgt.Query(context.Background(), `SELECT what, id, old_value, new_value FROM audit.anomalies`)
	if err != nil {
		t.Fatal(err)
	}
	type anomaly struct {
		What     string
		ID       int64
		Old, New *int64
	}
	anomalies, err := pgx.CollectRows(rows, pgx.RowToStructByPos[anomaly])
	if err != nil {
		t.Fatal(err)
	}
	if len(anomalies) > 0 {
		t.Fatalf("changes applied twice or out of order: %+v", anomalies)
	}
}

// writer writes a steady stream of transactions to the source until stopped.
type writer struct {
	cancel context.CancelFunc
	done   chan struct{}
	mu     sync.Mutex
	err    error
	txs    int
}

func startWriter(t *testing.T, h *harness) *writer {
	ctx, cancel := context.WithCancel(context.Background())
	w := &writer{cancel: cancel, done: make(chan struct{})}
	t.Cleanup(func() { cancel(); <-w.done })
	go func() {
		defer close(w.done)
		nextLedger, nextAccount := int64(1), int64(100_000)
		for ctx.Err() == nil {
			err := pgx.BeginFunc(ctx, h.src, func(tx pgx.Tx) error {
				stmts := []struct {
					sql  string
					args []any
				}{
					{`INSERT INTO ledger VALUES ($1, $2, $3)`, []any{nextLedger, rand.Int64N(hotAccounts) + 1, rand.IntN(1000)}},
					{`UPDATE accounts SET counter = counter + 1, updated_at = clock_timestamp() WHERE id = $1`, []any{rand.Int64N(hotAccounts) + 1}},
					{`INSERT INTO events VALUES ($1, $2, 1) ON CONFLICT (a, b) DO UPDATE SET v = events.v + 1`,
						[]any{rand.IntN(60) + 1, []string{"x", "y", "z"}[rand.IntN(3)]}},
				}
				if rand.IntN(4) == 0 {
					stmts = append(stmts, struct {
						sql  string
						args []any
					}{`INSERT INTO accounts VALUES ($1, 0, 'new', clock_timestamp())`, []any{nextAccount}})
					nextAccount++
				}
				if rand.IntN(6) == 0 {
					stmts = append(stmts, struct {
						sql  string
						args []any
					}{`DELETE FROM accounts WHERE id = $1`, []any{rand.Int64N(2000-hotAccounts) + hotAccounts + 1}})
				}
				if rand.IntN(8) == 0 {
					stmts = append(stmts, struct {
						sql  string
						args []any
					}{`DELETE FROM events WHERE a = $1`, []any{rand.IntN(60) + 1}})
				}
				for _, s := range stmts {
					if _, err := tx.Exec(ctx, s.sql, s.args...); err != nil {
						return err
					}
				}
				return nil
			})
			if ctx.Err() != nil {
				return
			}
			if err != nil {
				w.mu.Lock()
				w.err = err
				w.mu.Unlock()
				return
			}
			nextLedger++
			w.mu.Lock()
			w.txs++
			w.mu.Unlock()
			time.Sleep(2 * time.Millisecond)
		}
	}()
	return w
}

func (w *writer) check(t *testing.T) {
	t.Helper()
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err != nil {
		t.Fatalf("writing to the source: %v", w.err)
	}
}

func (w *writer) stop(t *testing.T) int {
	t.Helper()
	w.cancel()
	<-w.done
	w.check(t)
	return w.txs
}

// workerProcess is this test binary running as a replication worker.
type workerProcess struct {
	cmd     *exec.Cmd
	logPath string
	waited  chan struct{}
}

func (h *harness) startWorker(owner, logPath string) *workerProcess {
	h.tb.Helper()
	cfg, err := json.Marshal(workerConfig{
		StoreURL:           h.storeURL,
		Sources:            map[string]string{sourceConn: h.srcURL, targetConn: h.tgtURL},
		Owner:              owner,
		Lease:              workerLease,
		SnapshotTableDelay: 200 * time.Millisecond,
	})
	if err != nil {
		h.tb.Fatal(err)
	}
	logFile, err := os.Create(logPath)
	if err != nil {
		h.tb.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), workerEnv+"="+string(cfg))
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		h.tb.Fatalf("start worker %s: %v", owner, err)
	}
	p := &workerProcess{cmd: cmd, logPath: logPath, waited: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		_ = logFile.Close()
		close(p.waited)
	}()
	h.tb.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-p.waited
		if h.tb.Failed() {
			if out, err := os.ReadFile(logPath); err == nil {
				const tail = 4000
				if len(out) > tail {
					out = out[len(out)-tail:]
				}
				h.tb.Logf("%s:\n%s", owner, out)
			}
		}
	})
	return p
}

// kill9 kills the worker as a crash would: no cleanup, no lease release.
func (p *workerProcess) kill9(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatalf("kill -9 worker: %v", err)
	}
	<-p.waited
}

// stop ends the worker the way a deployment does.
func (p *workerProcess) stop(t *testing.T) {
	t.Helper()
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.waited:
	case <-time.After(30 * time.Second):
		t.Errorf("worker did not stop within 30 s of SIGTERM")
		_ = p.cmd.Process.Kill()
		<-p.waited
	}
}
