package content_test

import (
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	contentv1 "github.com/oriel-dev/oriel/gen/pb/oriel/content/v1"
	"github.com/oriel-dev/oriel/platform/testkit"
	"github.com/oriel-dev/oriel/services/content/internal/store"
)

// BenchmarkRollout1000Tenants rolls one template version out to 1,000 tenants through the
// API (CreateRollout, then WatchRollout until it completes) on PostgreSQL, and prints it
// beside 1,000 plain CreateApp calls (16 at a time, the rollout's parallelism) into the
// same tenants in the same run. The target on 2 cores: ≤ 30 s for the rollout.
func BenchmarkRollout1000Tenants(b *testing.B) {
	const tenants, parallel = 1000, 16
	var rolloutTime, createTime time.Duration
	for i := 0; i < b.N; i++ {
		s := startService(b)
		ids := make([]string, tenants)
		for k := range ids {
			ids[k] = testkit.UniqueID("bt")
		}
		template := s.createTemplate(b, "bench")
		version := s.createSalesVersion(b, template, "v1")

		start := time.Now()
		r := s.createRollout(b, &contentv1.Rollout{
			TemplateVersion: version,
			Selector:        &contentv1.TenantSelector{Tenants: tenantNames(ids)},
			TenantVariables: schemaFor(ids),
			Strategy:        &contentv1.Strategy{MaxParallel: parallel},
		})
		seen := s.watchUntilEnd(b, r.GetName())
		rolloutTime += time.Since(start)
		final := seen[len(seen)-1]
		if final.GetState() != contentv1.Rollout_STATE_COMPLETED || final.GetProgress().GetSucceeded() != tenants {
			b.Fatalf("rollout ended %s with %v", final.GetState(), final.GetProgress())
		}

		// The same tenants now have the rollout's "templates" space: plain apps go there.
		start = time.Now()
		work := make(chan string)
		var wg sync.WaitGroup
		for range parallel {
			wg.Go(func() {
				for id := range work {
					if _, err := s.apps.CreateApp(s.isv, &contentv1.CreateAppRequest{
						Parent: store.TenantName(id), AppId: "plain",
						App: &contentv1.App{Title: "Plain", Space: store.TenantName(id) + "/spaces/templates", Definition: definition("")},
					}); err != nil {
						b.Error(err)
					}
				}
			})
		}
		for _, id := range ids {
			work <- id
		}
		close(work)
		wg.Wait()
		createTime += time.Since(start)
	}
	n := time.Duration(b.N)
	b.ReportMetric((rolloutTime / n).Seconds(), "rollout-s")
	b.ReportMetric((createTime / n).Seconds(), "createapp-s")
	fmt.Fprintf(os.Stdout, "\n1,000 tenants, PostgreSQL, %d at a time:\n  rollout (CreateRollout → COMPLETED)  %6.2f s   target ≤ 30 s: %s\n  1,000 CreateApp calls                %6.2f s   rollout/CreateApp = %.1f×\n",
		parallel, (rolloutTime / n).Seconds(), map[bool]string{true: "met", false: "NOT met"}[rolloutTime/n <= 30*time.Second],
		(createTime / n).Seconds(), float64(rolloutTime)/float64(createTime))
}
