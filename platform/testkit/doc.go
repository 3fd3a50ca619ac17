// Package testkit gives tests real backing services that are isolated from
// every other test: a fresh PostgreSQL database per test, a Redis logical
// database per test process, and unique ids for shared state.
//
// Oriel's tests run against a real PostgreSQL and a real Redis, because the
// behaviour that matters (transactions, constraints, TTLs, Lua scripts) is
// exactly what fakes get wrong. `make test` makes sure both are reachable and
// exports ORIEL_TEST_POSTGRES_URL and ORIEL_TEST_REDIS_URL; without them the
// helpers use the default local ports. An unreachable server fails the test
// instead of skipping it, so a green run always means the tests ran.
//
// It also holds what every service's tests would otherwise each write for themselves:
// the kinds of database a store must pass its conformance suite on (SQLDatabases), a
// clock a test can move (Clock), a race-free log destination (LogBuffer), a stand-in for
// the identity service (Principals) and the Require assertions the conformance suites
// are written in.
package testkit
