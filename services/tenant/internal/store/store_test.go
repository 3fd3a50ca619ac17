package store_test

import (
	"testing"

	"github.com/oriel-dev/oriel/platform/testkit"
	"github.com/oriel-dev/oriel/services/tenant/internal/store"
	"github.com/oriel-dev/oriel/services/tenant/internal/store/storetest"
)

// TestSQLStorePassesTheConformanceSuite runs storetest on a fresh, migrated database per behaviour.
func TestSQLStorePassesTheConformanceSuite(t *testing.T) {
	t.Parallel()
	for _, d := range testkit.SQLDatabases() {
		t.Run(d.Name, func(t *testing.T) {
			t.Parallel()
			storetest.Run(t, func(t *testing.T) store.Store {
				return store.SQL(d.OpenAtHead(t, "tenant", store.Migrations))
			})
		})
	}
}

// TestMigrationsReachHeadAndAreIdempotent proves what `migrate` and the NOT_SERVING gate rely on.
func TestMigrationsReachHeadAndAreIdempotent(t *testing.T) {
	t.Parallel()
	testkit.RequireMigrationsReachHead(t, "tenant", store.Migrations)
}
