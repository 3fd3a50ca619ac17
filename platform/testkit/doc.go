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
package testkit
