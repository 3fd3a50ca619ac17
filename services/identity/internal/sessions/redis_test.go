package sessions_test

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/oriel-dev/oriel/platform/testkit"
	"github.com/oriel-dev/oriel/services/identity/internal/sessions"
	"github.com/oriel-dev/oriel/services/identity/internal/sessions/sessionstest"
)

// Top-level tests here do not call t.Parallel: TestRedisFlushLosesEverySession flushes
// the process's leased DB, and the MONITOR test reads every command of that DB, so
// neither may overlap another test. Sub-tests of the suite run in parallel.

// redisOptions points at the test process's leased DB.
func redisOptions(t testing.TB) *redis.Options {
	t.Helper()
	url := strings.TrimSpace(os.Getenv(testkit.RedisURLEnv))
	if url == "" {
		url = testkit.DefaultRedisURL
	}
	opts, err := redis.ParseURL(url)
	if err != nil {
		t.Fatalf("parse %s: %v", testkit.RedisURLEnv, err)
	}
	opts.DB = testkit.RedisDB(t)
	return opts
}

// productionOptions mirrors platform/redisconn, which the service opens Redis with.
func productionOptions(opts *redis.Options) *redis.Options {
	opts.DialTimeout = 2 * time.Second
	opts.ReadTimeout = time.Second
	opts.WriteTimeout = time.Second
	opts.ContextTimeoutEnabled = true
	opts.PoolSize = 64
	return opts
}

func newClient(t testing.TB, opts *redis.Options) *redis.Client {
	t.Helper()
	c := redis.NewClient(opts)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func TestRedisStore(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts func(t testing.TB) *redis.Options
	}{
		{"production client", func(t testing.TB) *redis.Options { return productionOptions(redisOptions(t)) }},
		// go-redis's defaults ignore ctx deadlines; the store then guards them itself.
		{"default client", redisOptions},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			client := newClient(t, tc.opts(t))
			store := sessions.NewRedis(client)
			sessionstest.Run(t, func(t *testing.T) (sessions.Store, sessionstest.Clock) {
				return store, sessionstest.RealClock{}
			})
		})
	}
}

// newToken returns an embed token and the digest the token API would store it under.
func newToken() (token, hash string) {
	var b [32]byte
	_, _ = rand.Read(b[:])
	token = "oriel_et_" + base64.RawURLEncoding.EncodeToString(b[:])
	sum := sha256.Sum256([]byte(token))
	return token, hex.EncodeToString(sum[:])
}

// dumpDB returns every key of the DB with a printable rendering of its value.
func dumpDB(t *testing.T, c *redis.Client) map[string]string {
	t.Helper()
	ctx := t.Context()
	out := map[string]string{}
	iter := c.Scan(ctx, 0, "*", 1000).Iterator()
	for iter.Next(ctx) {
		key := iter.Val()
		typ, err := c.Type(ctx, key).Result()
		if err != nil {
			t.Fatal(err)
		}
		var v any
		switch typ {
		case "hash":
			v, err = c.HGetAll(ctx, key).Result()
		case "zset":
			v, err = c.ZRangeWithScores(ctx, key, 0, -1).Result()
		case "string":
			v, err = c.Get(ctx, key).Result()
		case "none": // expired between SCAN and TYPE
			continue
		default:
			t.Fatalf("unexpected %s key %q", typ, key)
		}
		if err != nil && !errors.Is(err, redis.Nil) {
			t.Fatal(err)
		}
		out[key] = fmt.Sprintf("%v", v)
	}
	if err := iter.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestRedisNeverSeesTheTokenAndTagsEveryKeyWithTheTenant(t *testing.T) {
	client := newClient(t, productionOptions(redisOptions(t)))
	store := sessions.NewRedis(client)
	ctx := t.Context()
	tenant := testkit.UniqueID("t")
	var tokens []string
	for i := range 5 {
		token, hash := newToken()
		tokens = append(tokens, token)
		err := store.Put(ctx, hash, &sessions.Session{
			ID: "s" + strconv.Itoa(i), Tenant: tenant, User: "u" + strconv.Itoa(i%2),
			Roles: []string{"viewer"}, Attributes: map[string]string{"k": "v"},
			CreateTime: time.Now(), ExpireTime: time.Now().Add(time.Hour), TTL: time.Hour,
		})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := store.UseJTI(ctx, tenant, "jti-digest-"+strconv.Itoa(i), time.Now().Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	if err := store.LoadState(ctx, tenant, sessions.FullState{TenantEpoch: 1, Users: map[string]sessions.UserState{"u1": {Epoch: 2}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := store.ListUser(ctx, tenant, "u0"); err != nil {
		t.Fatal(err)
	}

	db := dumpDB(t, client)
	tagged := 0
	for key, value := range db {
		for _, token := range tokens {
			secret := strings.TrimPrefix(token, "oriel_et_")
			if strings.Contains(key, secret) || strings.Contains(value, secret) {
				t.Fatalf("key %q or its value holds a raw token", key)
			}
		}
		// A token-looking string anywhere in the DB means some path stored a token.
		if strings.Contains(key, "oriel_et_") || strings.Contains(value, "oriel_et_") {
			t.Fatalf("key %q or its value holds something token-looking: %s", key, value)
		}
		if strings.Contains(key, tenant) {
			if !strings.HasPrefix(key, "oriel:{"+tenant+"}:") {
				t.Fatalf("tenant key %q does not start with oriel:{%s}:", key, tenant)
			}
			tagged++
		}
	}
	// 5 sessions, 2 user indexes, 5 jtis, 1 state.
	if tagged != 13 {
		t.Fatalf("found %d keys of the tenant, want 13: %v", tagged, db)
	}
}

func TestRedisFlushLosesEverySession(t *testing.T) {
	client := newClient(t, productionOptions(redisOptions(t)))
	store := sessions.NewRedis(client)
	ctx := t.Context()
	tenant := testkit.UniqueID("t")
	_, hash := newToken()
	if err := store.Put(ctx, hash, &sessions.Session{Tenant: tenant, User: "u", ExpireTime: time.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if err := store.LoadState(ctx, tenant, sessions.FullState{TenantEpoch: 1}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := store.Get(ctx, tenant, hash); err != nil {
		t.Fatal(err)
	}
	// FLUSHDB on the leased DB: the FLUSHALL, without touching other processes.
	if err := client.FlushDB(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	if s, _, err := store.Get(ctx, tenant, hash); !errors.Is(err, sessions.ErrNotFound) || s != nil {
		t.Fatalf("Get after a flush = %+v, %v; want ErrNotFound", s, err)
	}
	if _, err := store.State(ctx, tenant, "u"); !errors.Is(err, sessions.ErrStateUnknown) {
		t.Fatalf("State after a flush: %v, want ErrStateUnknown", err)
	}
	if err := store.RaiseTenantEpoch(ctx, tenant, 2); !errors.Is(err, sessions.ErrStateUnknown) {
		t.Fatalf("RaiseTenantEpoch after a flush: %v, want ErrStateUnknown", err)
	}
	if list, err := store.ListUser(ctx, tenant, "u"); err != nil || len(list) != 0 {
		t.Fatalf("ListUser after a flush = %v, %v", list, err)
	}
}

// storeOps calls every Store method; each must fail when Redis cannot answer in time.
func storeOps(tenant, hash string) map[string]func(ctx context.Context, s sessions.Store) error {
	exp := time.Now().Add(time.Hour)
	return map[string]func(ctx context.Context, s sessions.Store) error{
		"Get": func(ctx context.Context, s sessions.Store) error {
			got, _, err := s.Get(ctx, tenant, hash)
			if err != nil && got != nil && !errors.Is(err, sessions.ErrStateUnknown) {
				return fmt.Errorf("a session came with the error %w", err)
			}
			return err
		},
		"Put": func(ctx context.Context, s sessions.Store) error {
			return s.Put(ctx, hash, &sessions.Session{Tenant: tenant, User: "u", ExpireTime: exp})
		},
		"Delete": func(ctx context.Context, s sessions.Store) error { return s.Delete(ctx, tenant, hash) },
		"ExpireWithin": func(ctx context.Context, s sessions.Store) error {
			return s.ExpireWithin(ctx, tenant, hash, time.Minute)
		},
		"ListUser": func(ctx context.Context, s sessions.Store) error {
			_, err := s.ListUser(ctx, tenant, "u")
			return err
		},
		"State": func(ctx context.Context, s sessions.Store) error {
			_, err := s.State(ctx, tenant, "u")
			return err
		},
		"LoadState": func(ctx context.Context, s sessions.Store) error {
			return s.LoadState(ctx, tenant, sessions.FullState{TenantEpoch: 1})
		},
		"RaiseTenantEpoch": func(ctx context.Context, s sessions.Store) error { return s.RaiseTenantEpoch(ctx, tenant, 1) },
		"RaiseUser": func(ctx context.Context, s sessions.Store) error {
			return s.RaiseUser(ctx, tenant, "u", sessions.UserState{Epoch: 1})
		},
		"RaiseDirectoryVersion": func(ctx context.Context, s sessions.Store) error {
			return s.RaiseDirectoryVersion(ctx, tenant, 1)
		},
		"UseJTI": func(ctx context.Context, s sessions.Store) error {
			ok, err := s.UseJTI(ctx, tenant, "k", exp)
			if err != nil && ok {
				return fmt.Errorf("a first use came with the error %w", err)
			}
			return err
		},
		"Admit": func(ctx context.Context, s sessions.Store) error {
			ok, _, err := s.Admit(ctx, tenant, "a", exp, "u")
			if err != nil && ok && !errors.Is(err, sessions.ErrStateUnknown) {
				return fmt.Errorf("a first use came with the error %w", err)
			}
			return err
		},
	}
}

// wantUnavailable runs every op under a short deadline and wants each to fail with an
// error that is not a domain answer, by the deadline.
func wantUnavailable(t *testing.T, store sessions.Store, tenant, hash string) {
	t.Helper()
	const deadline = 300 * time.Millisecond
	// Generous for -race on a loaded machine; a client ignoring ctx takes seconds.
	const slack = 400 * time.Millisecond
	// Goroutines rather than parallel sub-tests: `go test` runs only GOMAXPROCS of
	// those at once, and these mostly wait.
	var wg sync.WaitGroup
	for name, op := range storeOps(tenant, hash) {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(t.Context(), deadline)
			defer cancel()
			start := time.Now()
			err := op(ctx, store)
			took := time.Since(start)
			switch {
			case err == nil:
				t.Errorf("%s succeeded", name)
			case errors.Is(err, sessions.ErrNotFound), errors.Is(err, sessions.ErrStateUnknown):
				t.Errorf("%s answered %v; an unreachable store must not give a domain answer", name, err)
			case took > deadline+slack:
				t.Errorf("%s took %v, past its %v deadline: %v", name, took, deadline, err)
			}
		})
	}
	wg.Wait()
}

// clientVariants are the two ways a client may treat ctx; the store must honour the
// deadline with both.
var clientVariants = []struct {
	name string
	opts func(addr string) *redis.Options
}{
	{"client honours ctx", func(addr string) *redis.Options {
		o := productionOptions(&redis.Options{Addr: addr})
		return o
	}},
	{"client ignores ctx", func(addr string) *redis.Options {
		return &redis.Options{Addr: addr, DialTimeout: 5 * time.Second, ReadTimeout: 5 * time.Second}
	}},
}

func TestRedisStoppedIsAnErrorNeverOK(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close() // nothing listens there now: a stopped Redis
	for _, v := range clientVariants {
		t.Run(v.name, func(t *testing.T) {
			t.Parallel()
			store := sessions.NewRedis(newClient(t, v.opts(addr)))
			wantUnavailable(t, store, testkit.UniqueID("t"), "h")
		})
	}
}

func TestRedisSlowerThanTheDeadlineIsAnErrorNeverOK(t *testing.T) {
	upstream := redisOptions(t)
	for _, v := range clientVariants {
		t.Run(v.name, func(t *testing.T) {
			t.Parallel()
			proxy := startSlowProxy(t, upstream.Addr)
			opts := v.opts(proxy.addr)
			opts.DB, opts.Username, opts.Password = upstream.DB, upstream.Username, upstream.Password
			store := sessions.NewRedis(newClient(t, opts))
			tenant := testkit.UniqueID("t")
			ops := storeOps(tenant, "h")
			// Through a fast proxy everything works (and the pool holds live connections)...
			for _, name := range []string{"LoadState", "Put", "Get", "UseJTI", "Admit"} {
				if err := ops[name](t.Context(), store); err != nil {
					t.Fatalf("%s through the proxy: %v", name, err)
				}
			}
			// ...and once replies lag past the deadline, nothing does.
			proxy.delay.Store(int64(time.Second))
			wantUnavailable(t, store, tenant, "h")
		})
	}
}

// slowProxy forwards TCP to Redis, holding each reply back by delay.
type slowProxy struct {
	addr  string
	delay atomic.Int64
}

func startSlowProxy(t *testing.T, upstream string) *slowProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &slowProxy{addr: ln.Addr().String()}
	var (
		mu    sync.Mutex
		conns []net.Conn
		wg    sync.WaitGroup
	)
	track := func(c net.Conn) {
		mu.Lock()
		conns = append(conns, c)
		mu.Unlock()
	}
	t.Cleanup(func() {
		_ = ln.Close()
		mu.Lock()
		for _, c := range conns {
			_ = c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	wg.Go(func() {
		for {
			client, err := ln.Accept()
			if err != nil {
				return
			}
			server, err := net.Dial("tcp", upstream)
			if err != nil {
				_ = client.Close()
				continue
			}
			track(client)
			track(server)
			wg.Go(func() {
				_, _ = io.Copy(server, client)
				_ = server.Close()
			})
			wg.Go(func() {
				defer func() { _ = client.Close() }()
				buf := make([]byte, 32<<10)
				for {
					n, err := server.Read(buf)
					if n > 0 {
						time.Sleep(time.Duration(p.delay.Load()))
						if _, werr := client.Write(buf[:n]); werr != nil {
							return
						}
					}
					if err != nil {
						return
					}
				}
			})
		}
	})
	return p
}

// monitorLine is one command seen by MONITOR.
type monitorLine struct {
	fromScript bool
	args       []string
}

// monitor streams the commands run on db, parsed, until the test ends.
func monitor(t *testing.T, opts *redis.Options, db int) <-chan monitorLine {
	t.Helper()
	conn, err := net.Dial("tcp", opts.Addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	r := bufio.NewReader(conn)
	send := func(args ...string) {
		var b strings.Builder
		fmt.Fprintf(&b, "*%d\r\n", len(args))
		for _, a := range args {
			fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
		}
		if _, err := conn.Write([]byte(b.String())); err != nil {
			t.Fatal(err)
		}
		line, err := r.ReadString('\n')
		if err != nil || !strings.HasPrefix(line, "+OK") {
			t.Fatalf("%v: %q %v", args, line, err)
		}
	}
	if opts.Password != "" {
		if opts.Username != "" {
			send("AUTH", opts.Username, opts.Password)
		} else {
			send("AUTH", opts.Password)
		}
	}
	send("MONITOR")
	out := make(chan monitorLine, 4096)
	prefix := "[" + strconv.Itoa(db) + " "
	go func() {
		defer close(out)
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				return
			}
			// +<unix time> [<db> <client or lua>] "arg" "arg" ...
			line = strings.TrimSuffix(strings.TrimPrefix(line, "+"), "\r\n")
			i := strings.Index(line, prefix)
			if i < 0 {
				continue
			}
			end := strings.Index(line[i:], "] ")
			if end < 0 {
				continue
			}
			source := line[i+len(prefix) : i+end]
			args, ok := parseMonitorArgs(line[i+end+2:])
			if !ok {
				t.Errorf("unparsable MONITOR line %q", line)
				continue
			}
			out <- monitorLine{fromScript: source == "lua", args: args}
		}
	}()
	return out
}

// parseMonitorArgs splits MONITOR's quoted, escaped arguments.
func parseMonitorArgs(s string) ([]string, bool) {
	var args []string
	for len(s) > 0 {
		if s[0] == ' ' {
			s = s[1:]
			continue
		}
		if s[0] != '"' {
			return nil, false
		}
		var b strings.Builder
		i := 1
		for ; i < len(s) && s[i] != '"'; i++ {
			if s[i] != '\\' || i+1 >= len(s) {
				b.WriteByte(s[i])
				continue
			}
			i++
			switch s[i] {
			case 'n':
				b.WriteByte('\n')
			case 'r':
				b.WriteByte('\r')
			case 't':
				b.WriteByte('\t')
			case 'a':
				b.WriteByte('\a')
			case 'b':
				b.WriteByte('\b')
			case 'x':
				if i+2 >= len(s) {
					return nil, false
				}
				v, err := strconv.ParseUint(s[i+1:i+3], 16, 8)
				if err != nil {
					return nil, false
				}
				b.WriteByte(byte(v))
				i += 2
			default:
				b.WriteByte(s[i])
			}
		}
		if i >= len(s) {
			return nil, false
		}
		args = append(args, b.String())
		s = s[i+1:]
	}
	return args, true
}

// hashTag is the part of a key Redis Cluster hashes: the first {...} with something
// inside, or the whole key.
func hashTag(key string) string {
	if i := strings.IndexByte(key, '{'); i >= 0 {
		if j := strings.IndexByte(key[i+1:], '}'); j > 0 {
			return key[i+1 : i+1+j]
		}
	}
	return key
}

// commandKeys returns the key arguments of the commands the store sends or its scripts
// run; a command it does not know fails the test, so a new one cannot slip past.
func commandKeys(t *testing.T, args []string) []string {
	t.Helper()
	switch strings.ToUpper(args[0]) {
	case "TIME", "SELECT", "HELLO", "CLIENT", "PING", "SCRIPT":
		return nil
	case "EVAL", "EVALSHA":
		n, err := strconv.Atoi(args[2])
		if err != nil {
			t.Fatalf("%v: %v", args, err)
		}
		return args[3 : 3+n]
	case "HMGET", "HGET", "HSET", "HEXISTS", "DEL", "PEXPIRE", "PEXPIREAT", "ZADD", "ZREM",
		"ZRANGE", "ZREMRANGEBYSCORE", "SET":
		return args[1:2]
	default:
		t.Fatalf("unexpected command %v; teach commandKeys where its keys are", args)
		return nil
	}
}

func TestRedisScriptsTouchOnlyTheirKeysInOneSlot(t *testing.T) {
	opts := productionOptions(redisOptions(t))
	lines := monitor(t, opts, opts.DB)
	store := sessions.NewRedis(newClient(t, opts))
	tenant := testkit.UniqueID("t")
	_, hash := newToken()
	// Every op, on absent and on present data, so each script runs through its
	// branches (whether by EVALSHA or, if the script cache was cold, by EVAL).
	ops := storeOps(tenant, hash)
	if _, _, err := store.Get(t.Context(), tenant, hash); !errors.Is(err, sessions.ErrNotFound) {
		t.Fatalf("Get before Put: %v", err)
	}
	if err := ops["RaiseUser"](t.Context(), store); !errors.Is(err, sessions.ErrStateUnknown) {
		t.Fatalf("RaiseUser before load: %v", err)
	}
	for _, name := range []string{"LoadState", "RaiseUser", "RaiseTenantEpoch", "RaiseDirectoryVersion",
		"State", "Put", "Get", "ExpireWithin", "ListUser", "UseJTI", "UseJTI", "Admit", "Admit", "Delete", "ListUser"} {
		if err := ops[name](t.Context(), store); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	// Put a second session and list again, so the list script reads two sessions.
	_, hash2 := newToken()
	if err := store.Put(t.Context(), hash2, &sessions.Session{Tenant: tenant, User: "u", ExpireTime: time.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if list, err := store.ListUser(t.Context(), tenant, "u"); err != nil || len(list) != 1 {
		t.Fatalf("ListUser = %v, %v", list, err)
	}
	// A marker command ends the capture: MONITOR shows commands in execution order.
	marker := "oriel:{" + tenant + "}:end-of-test"
	if err := newClient(t, opts).Del(t.Context(), marker).Err(); err != nil {
		t.Fatal(err)
	}

	var (
		declared map[string]bool // KEYS of the script running now
		scripts  int
		touched  int
		timeout  = time.After(10 * time.Second)
	)
	for {
		var l monitorLine
		select {
		case l = <-lines:
		case <-timeout:
			t.Fatal("MONITOR never showed the end marker")
		}
		if len(l.args) == 0 {
			continue
		}
		if strings.EqualFold(l.args[0], "DEL") && len(l.args) == 2 && l.args[1] == marker {
			break
		}
		keys := commandKeys(t, l.args)
		if !l.fromScript {
			declared = nil
			if cmd := strings.ToUpper(l.args[0]); cmd == "EVAL" || cmd == "EVALSHA" {
				declared = map[string]bool{}
				scripts++
				for _, k := range keys {
					declared[k] = true
				}
			}
		}
		for _, k := range keys {
			if tag := hashTag(k); tag != tenant {
				t.Errorf("%v: key %q hashes by %q, not the tenant %q", l.args, k, tag, tenant)
			}
			if l.fromScript {
				touched++
				if !declared[k] {
					t.Errorf("a script ran %v on key %q, which it was not given in KEYS %v", l.args, k, declared)
				}
			}
		}
	}
	t.Logf("%d script runs touched %d keys, every one declared and tagged {%s}", scripts, touched, tenant)
	if scripts < 8 || touched < 20 {
		t.Fatalf("saw only %d script runs touching %d keys; is MONITOR seeing the store?", scripts, touched)
	}
}
