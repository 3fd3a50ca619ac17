package sqlstore

import (
	"errors"
	"regexp"

	"github.com/jackc/pgx/v5/pgconn"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// sqliteUniqueTable pulls the table out of "UNIQUE constraint failed: table.column".
var sqliteUniqueTable = regexp.MustCompile(`constraint failed: ([A-Za-z0-9_]+)\.`)

// UniqueViolation reports whether err is a unique or primary-key violation, and on which
// table, so that stores can turn it into "already exists" without parsing driver text
// themselves.
func UniqueViolation(err error) (table string, ok bool) {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.TableName, pgErr.Code == "23505"
	}
	var liteErr *sqlite.Error
	if errors.As(err, &liteErr) {
		switch liteErr.Code() {
		case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
			if m := sqliteUniqueTable.FindStringSubmatch(liteErr.Error()); m != nil {
				return m[1], true
			}
			return "", true
		}
	}
	return "", false
}
