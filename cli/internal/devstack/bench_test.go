package devstack_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"text/tabwriter"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"

	tenantv1 "github.com/oriel-dev/oriel/gen/pb/oriel/tenant/v1"
	"github.com/oriel-dev/oriel/platform/testkit"
)

// callers is how many calls are in flight at once in every throughput benchmark.
const callers = 32

// seq numbers calls across every run of a benchmark, which runs its body several times.
var seq atomic.Int64

// runConcurrently runs call from `callers` goroutines until b.N calls are done and
// returns the calls per second achieved.
func runConcurrently(b *testing.B, call func(ctx context.Context, i int64) error) float64 {
	b.Helper()
	procs := runtime.GOMAXPROCS(0)
	b.SetParallelism((callers + procs - 1) / procs)
	ctx := context.Background()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := call(ctx, seq.Add(1)); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	perSecond := float64(b.N) / b.Elapsed().Seconds()
	b.ReportMetric(perSecond, "calls/s")
	return perSecond
}

// BenchmarkTenantThroughput measures CreateTenant and GetTenant with 32 concurrent callers,
// over gRPC and through the REST edge, on PostgreSQL, beside the floor of a raw grpc-go
// empty call (no interceptors, no database) measured in the same run. The table printed at
// the end is what the README quotes.
func BenchmarkTenantThroughput(b *testing.B) {
	stack := startBenchStack(b)
	conn, err := grpc.NewClient(stack.TenantGRPCAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	client := tenantv1.NewTenantServiceClient(conn)
	authed := func(ctx context.Context) context.Context {
		return metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+stack.AdminKey)
	}
	httpClient := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 2 * callers, MaxConnsPerHost: 2 * callers}}
	rest := func(ctx context.Context, method, path, body string) error {
		req, err := http.NewRequestWithContext(ctx, method, stack.GatewayURL+path, strings.NewReader(body))
		if err != nil {
			return err
		}
		req.Header.Set("Authorization", "Bearer "+stack.AdminKey)
		resp, err := httpClient.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		out, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("%s %s: %d %s", method, path, resp.StatusCode, out)
		}
		return nil
	}
	run := testkit.UniqueID("b")
	target := createOne(b, client, authed(context.Background()), run+"-target")

	results := map[string]float64{}
	order := []string{"floor: grpc-go empty call", "CreateTenant gRPC", "GetTenant gRPC", "CreateTenant REST", "GetTenant REST"}
	floorAddr := startFloorServer(b)
	floorConn, err := grpc.NewClient(floorAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		b.Fatal(err)
	}
	defer floorConn.Close()
	floor := healthpb.NewHealthClient(floorConn)

	cases := map[string]func(ctx context.Context, i int64) error{
		order[0]: func(ctx context.Context, _ int64) error {
			_, err := floor.Check(ctx, &healthpb.HealthCheckRequest{})
			return err
		},
		order[1]: func(ctx context.Context, i int64) error {
			_, err := client.CreateTenant(authed(ctx), benchTenant(fmt.Sprintf("%s-g%d", run, i)))
			return err
		},
		order[2]: func(ctx context.Context, _ int64) error {
			_, err := client.GetTenant(authed(ctx), &tenantv1.GetTenantRequest{Name: target})
			return err
		},
		order[3]: func(ctx context.Context, i int64) error {
			id := fmt.Sprintf("%s-r%d", run, i)
			return rest(ctx, http.MethodPost, "/v1/tenants?tenantId="+id,
				`{"displayName":"Bench `+id+`","hostnames":["`+id+`.bench.example.com"],"region":"eu-west"}`)
		},
		order[4]: func(ctx context.Context, _ int64) error {
			return rest(ctx, http.MethodGet, "/v1/"+target, "")
		},
	}
	for _, name := range order {
		b.Run(strings.NewReplacer(" ", "_", ":", "").Replace(name), func(b *testing.B) {
			results[name] = runConcurrently(b, cases[name])
		})
	}

	var out bytes.Buffer
	w := tabwriter.NewWriter(&out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(w, "\n%d concurrent callers, GOMAXPROCS=%d, PostgreSQL\t calls/s\t share of floor\t\n", callers, runtime.GOMAXPROCS(0))
	for _, name := range order {
		if results[name] == 0 {
			continue
		}
		fmt.Fprintf(w, "%s\t %.0f\t %.1f%%\t\n", name, results[name], 100*results[name]/results[order[0]])
	}
	w.Flush()
	fmt.Fprint(os.Stdout, out.String())
}

func benchTenant(id string) *tenantv1.CreateTenantRequest {
	return &tenantv1.CreateTenantRequest{TenantId: id, Tenant: &tenantv1.Tenant{
		DisplayName: "Bench " + id, Hostnames: []string{id + ".bench.example.com"}, Region: "eu-west",
	}}
}

func createOne(b *testing.B, client tenantv1.TenantServiceClient, ctx context.Context, id string) string {
	b.Helper()
	resp, err := client.CreateTenant(ctx, benchTenant(id))
	if err != nil {
		b.Fatal(err)
	}
	return resp.GetTenant().GetName()
}

// startFloorServer runs a bare grpc-go server (no interceptors) answering health checks:
// the cheapest call grpc-go can make, for comparison.
func startFloorServer(b *testing.B) string {
	b.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	s := grpc.NewServer()
	healthpb.RegisterHealthServer(s, health.NewServer())
	go func() { _ = s.Serve(lis) }()
	b.Cleanup(s.Stop)
	return lis.Addr().String()
}
