package store

import (
	"embed"
	"io/fs"

	"github.com/oriel-dev/oriel/platform/sqlstore"
)

//go:embed migrations
var migrationsFS embed.FS

// Migrations are the datagateway's schema migrations.
var Migrations = sqlstore.Migrations{FS: must(fs.Sub(migrationsFS, "migrations"))}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
