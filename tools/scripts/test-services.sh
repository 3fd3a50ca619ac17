#!/usr/bin/env bash
#
# test-services.sh makes sure the PostgreSQL, Redis and MariaDB that Oriel's
# tests use (platform/testkit; the datagateway's MySQL sources) are reachable,
# starting or installing them when needed, and that PostgreSQL can do logical
# replication (the datagateway's CDC tests).
#
# Usage:
#   vars=$(tools/scripts/test-services.sh) && eval "$vars"   what `make test` does
#   tools/scripts/test-services.sh stop                       stop the private servers it started
#
# STDOUT carries only `export VAR='value'` lines (ORIEL_TEST_POSTGRES_URL,
# ORIEL_TEST_REDIS_URL, ORIEL_TEST_MYSQL_URL, ORIEL_TEST_CHROMIUM), so the caller can eval it; everything else goes to
# STDERR. Capture the output before eval: `eval "$(...)"` alone would hide a
# failure, because eval of an empty string succeeds.
#
# Order of preference, for each server:
#   1. the URL already in the environment (ORIEL_TEST_POSTGRES_URL / ORIEL_TEST_REDIS_URL);
#   2. a server on the standard local port that tests can use as is
#      (PostgreSQL: user postgres logs in over TCP without a password);
#   3. PostgreSQL only: the machine's Debian cluster, started if it is stopped;
#   4. a server of our own, installed with apt-get first if missing (root only).
#      Our PostgreSQL is a private throwaway cluster (trust auth, no fsync) in
#      $ORIEL_TEST_SERVICES_DIR, reused by later runs until `stop`.
#
# PostgreSQL must run with wal_level=logical and at least 10 replication slots
# and WAL senders. When the machine's Debian cluster or our private one runs
# with less, it is reconfigured (ALTER SYSTEM, as postgres over TCP) and
# restarted: its open connections drop once. A server from
# ORIEL_TEST_POSTGRES_URL, or one we cannot restart, is only checked, with a
# warning when it lacks logical replication.
#
# MariaDB is always the machine's own on 127.0.0.1:3306 (root logs in over TCP
# without a password), started when it is down and installed with apt-get when
# missing (root only); the database `test` is created when missing. ORIEL_TEST_MYSQL_URL
# in the environment is used as is.
#
# Knobs:
#   ORIEL_TEST_SERVICES_DIR   where private servers live (default /tmp/oriel-test-services-<uid>)
#   ORIEL_TEST_PRIVATE=1      skip 2 and 3: never touch the machine's own servers
#
# Servers are started with no inherited descriptors (see detached), because a
# daemon holding our stdout would make the caller's $(...) wait forever.

set -euo pipefail
shopt -s nullglob

readonly PG_DEFAULT_PORT=5432
readonly REDIS_DEFAULT_PORT=6379
readonly PG_PRIVATE_PORT=55432
readonly REDIS_PRIVATE_PORT=56379
readonly MYSQL_PORT=3306
readonly MARIADBD=/usr/sbin/mariadbd
# What the CDC tests need: logical decoding, and room for the slots they create at once.
readonly PG_MIN_REPLICATION_SLOTS=10
readonly PG_MIN_WAL_SENDERS=10
readonly START_TIMEOUT=60

STATE_DIR="${ORIEL_TEST_SERVICES_DIR:-/tmp/oriel-test-services-$(id -u)}"
readonly STATE_DIR
readonly PG_DIR="$STATE_DIR/postgres"
readonly PG_DATA="$PG_DIR/data"
readonly REDIS_DIR="$STATE_DIR/redis"
PRIVATE_ONLY="${ORIEL_TEST_PRIVATE:-0}"
readonly PRIVATE_ONLY

log() { printf 'test-services: %s\n' "$*" >&2; }
die() {
	log "error: $*"
	exit 1
}

# emit prints one export line, single-quoted so eval never globs the '?' in a URL.
emit() {
	local value=${2//\'/\'\\\'\'}
	printf "export %s='%s'\n" "$1" "$value"
}

is_root() { [[ $(id -u) -eq 0 ]]; }

tcp_open() {
	timeout 2 bash -c ": </dev/tcp/127.0.0.1/$1" 2>/dev/null
}

# free_port prints the first port from $1 on that nothing listens on.
free_port() {
	local port
	for ((port = $1; port < $1 + 100; port++)); do
		if ! tcp_open "$port"; then
			echo "$port"
			return 0
		fi
	done
	die "no free port in $1..$(($1 + 99))"
}

# detached LOG CMD... runs a command that may leave a daemon behind with its
# output in LOG and every other inherited descriptor closed: a daemon holding
# our stdout, a CI log pipe or the lock would block whoever waits on them.
detached() {
	local log_file=$1
	shift
	(
		for fd in /proc/self/fd/*; do
			fd=${fd##*/}
			if ((fd > 2)); then eval "exec ${fd}>&-"; fi
		done
		"$@"
	) </dev/null >"$log_file" 2>&1
}

# tail_log shows why a server did not start, where the user is looking.
tail_log() {
	local file
	for file in "$@"; do
		[[ -f $file ]] || continue
		log "last lines of $file:"
		tail -n 20 "$file" >&2 || true
	done
}

# prepare_state_dir refuses a directory someone else planted in /tmp.
prepare_state_dir() {
	mkdir -p "$STATE_DIR"
	if [[ -L $STATE_DIR || ! -O $STATE_DIR ]]; then
		die "$STATE_DIR is a symlink or not owned by $(id -un); remove it or set ORIEL_TEST_SERVICES_DIR"
	fi
	# Readable by all: as root, the postgres user must reach the cluster below it.
	chmod 0755 "$STATE_DIR"
}

# lock_state serialises concurrent runs, so two `make test`s never build one cluster twice.
lock_state() {
	exec 9>"$STATE_DIR/lock"
	if ! flock -w 120 9; then
		die "another test-services.sh has held $STATE_DIR/lock for 2 minutes"
	fi
}

apt_get_install() {
	apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$1"
}

apt_install() {
	local log_file="$STATE_DIR/apt-get.log"
	if ! is_root; then
		die "$1 is not installed and only root may install it here; run" \
			"'sudo apt-get install $1', or point $2 at a server you have"
	fi
	command -v apt-get >/dev/null || die "$1 is not installed and apt-get is missing; set $2"
	log "installing $1 with apt-get (log: $log_file)"
	# Postinst scripts may start daemons.
	if ! detached "$log_file" apt_get_install "$1"; then
		tail_log "$log_file"
		die "apt-get install $1 failed"
	fi
}

# --- PostgreSQL -------------------------------------------------------------

pg_url() { echo "postgres://postgres@127.0.0.1:$1/postgres?sslmode=disable"; }

psql_bin() {
	local bin
	if bin=$(command -v psql); then
		echo "$bin"
		return 0
	fi
	for bin in /usr/lib/postgresql/*/bin/psql; do
		echo "$bin"
		return 0
	done
	return 1
}

# pg_usable: tests log in as postgres over TCP without a password, so that is what we probe.
pg_usable() {
	local port=$1 psql
	tcp_open "$port" || return 1
	psql=$(psql_bin) || return 0 # no client to ask: an open port has to do
	PGCONNECT_TIMEOUT=3 "$psql" -X -w -A -t -q -d "$(pg_url "$port")" -c 'SELECT 1' </dev/null >/dev/null 2>&1
}

wait_for_pg() {
	local port=$1 i
	for ((i = 0; i < START_TIMEOUT * 5; i++)); do
		pg_usable "$port" && return 0
		sleep 0.2
	done
	return 1
}

# debian_cluster_port starts the machine's Debian cluster if it is down and
# prints its port if tests can use it.
debian_cluster_port() {
	local main version conf port
	for main in /etc/postgresql/*/main; do
		version=$(basename "$(dirname "$main")")
		conf="$main/postgresql.conf"
		port=$(sed -n 's/^[[:space:]]*port[[:space:]]*=[[:space:]]*\([0-9][0-9]*\).*/\1/p' "$conf" 2>/dev/null | tail -n 1)
		port=${port:-$PG_DEFAULT_PORT}
		if ! tcp_open "$port" && command -v pg_ctlcluster >/dev/null; then
			log "starting the Debian cluster $version/main on port $port"
			detached "$STATE_DIR/pg_ctlcluster.log" \
				pg_ctlcluster --skip-systemctl-redirect "$version" main start ||
				tail_log "$STATE_DIR/pg_ctlcluster.log"
		fi
		if wait_for_pg_briefly "$port"; then
			echo "$port"
			return 0
		fi
		log "the Debian cluster $version/main (port $port) is down or refuses passwordless" \
			"TCP login as postgres (Debian's default pg_hba.conf does); using a private cluster"
	done
	return 1
}

wait_for_pg_briefly() {
	local i
	for ((i = 0; i < 25; i++)); do
		pg_usable "$1" && return 0
		tcp_open "$1" && return 1 # up but refusing us: waiting will not help
		sleep 0.2
	done
	return 1
}

# pg_bindir prints the newest installed PostgreSQL's bin directory.
pg_bindir() {
	local dirs=(/usr/lib/postgresql/*/bin)
	((${#dirs[@]})) || return 1
	printf '%s\n' "${dirs[@]}" | sort -V | tail -n 1
}

# as_pg_owner runs a server command as the cluster owner: PostgreSQL refuses to run as root.
as_pg_owner() {
	if ! is_root; then
		"$@"
	elif command -v runuser >/dev/null; then
		(cd / && runuser -u postgres -- "$@")
	else
		(cd / && su postgres -s /bin/sh -c "$(printf '%q ' "$@")")
	fi
}

private_postgres() {
	local bindir version port=""
	if ! bindir=$(pg_bindir) || [[ ! -x $bindir/initdb ]]; then
		apt_install postgresql ORIEL_TEST_POSTGRES_URL
		bindir=$(pg_bindir) || die "apt-get installed postgresql but /usr/lib/postgresql/*/bin is missing"
	fi
	version=$(basename "$(dirname "$bindir")")
	if is_root && ! id postgres >/dev/null 2>&1; then
		die "user postgres is missing; reinstall the postgresql package or set ORIEL_TEST_POSTGRES_URL"
	fi

	# A cluster from an earlier run is reused while it still answers.
	if [[ -f $PG_DATA/postmaster.pid ]]; then
		port=$(sed -n 4p "$PG_DATA/postmaster.pid")
		if [[ -n $port ]] && pg_usable "$port"; then
			log "reusing the private PostgreSQL $version cluster on port $port ($PG_DATA)"
			ensure_pg_logical "$port" private_pg_restart "$bindir"
			emit ORIEL_TEST_POSTGRES_URL "$(pg_url "$port")"
			return 0
		fi
	fi

	mkdir -p "$PG_DIR"
	if is_root; then chown postgres: "$PG_DIR"; fi
	chmod 0700 "$PG_DIR"
	if [[ -d $PG_DATA && "$(cat "$PG_DATA/PG_VERSION" 2>/dev/null)" != "$version" ]]; then
		log "discarding $PG_DATA: not a complete PostgreSQL $version cluster"
		detached /dev/null as_pg_owner "$bindir/pg_ctl" -D "$PG_DATA" -m immediate stop || true
		rm -rf "$PG_DATA"
	fi
	if [[ ! -d $PG_DATA ]]; then
		log "creating a private PostgreSQL $version cluster in $PG_DATA"
		if ! detached "$PG_DIR/initdb.log" \
			as_pg_owner "$bindir/initdb" -D "$PG_DATA" -U postgres -A trust -E UTF8 --locale=C --no-sync; then
			tail_log "$PG_DIR/initdb.log"
			rm -rf "$PG_DATA"
			die "initdb failed"
		fi
	fi
	private_pg_logical_conf

	port=$(free_port "$PG_PRIVATE_PORT")
	log "starting it on 127.0.0.1:$port"
	# Durability is worthless for throwaway test data; skipping it makes tests faster.
	if ! detached "$PG_DIR/pg_ctl.log" \
		as_pg_owner "$bindir/pg_ctl" -D "$PG_DATA" -l "$PG_DIR/postgres.log" -w -t "$START_TIMEOUT" \
		-o "-p $port -k '$PG_DIR' -c listen_addresses=127.0.0.1 -c max_connections=300 -c fsync=off -c synchronous_commit=off -c full_page_writes=off" \
		start; then
		tail_log "$PG_DIR/pg_ctl.log" "$PG_DIR/postgres.log"
		die "the private PostgreSQL cluster did not start"
	fi
	if ! wait_for_pg "$port"; then
		tail_log "$PG_DIR/postgres.log"
		die "the private PostgreSQL cluster on port $port does not accept logins"
	fi
	emit ORIEL_TEST_POSTGRES_URL "$(pg_url "$port")"
}

ensure_postgres() {
	local port
	if [[ -n ${ORIEL_TEST_POSTGRES_URL:-} ]]; then
		log "PostgreSQL: using ORIEL_TEST_POSTGRES_URL from the environment"
		check_pg_logical_url "$ORIEL_TEST_POSTGRES_URL"
		return 0
	fi
	if [[ $PRIVATE_ONLY != 1 ]]; then
		if pg_usable "$PG_DEFAULT_PORT"; then
			ensure_pg_logical "$PG_DEFAULT_PORT" debian_cluster_restart
			emit ORIEL_TEST_POSTGRES_URL "$(pg_url "$PG_DEFAULT_PORT")"
			return 0
		fi
		if port=$(debian_cluster_port); then
			ensure_pg_logical "$port" debian_cluster_restart
			emit ORIEL_TEST_POSTGRES_URL "$(pg_url "$port")"
			return 0
		fi
	fi
	private_postgres
}

# pg_query URL SQL prints the single value SQL returns.
pg_query() {
	local psql
	psql=$(psql_bin) || return 1
	PGCONNECT_TIMEOUT=3 "$psql" -X -w -A -t -q -d "$1" -c "$2" </dev/null 2>/dev/null
}

# pg_logical_ready URL is true when the server can do what the CDC tests need.
pg_logical_ready() {
	local wal_level slots senders
	wal_level=$(pg_query "$1" 'SHOW wal_level') || return 1
	slots=$(pg_query "$1" 'SHOW max_replication_slots') || return 1
	senders=$(pg_query "$1" 'SHOW max_wal_senders') || return 1
	[[ $wal_level == logical ]] &&
		((slots >= PG_MIN_REPLICATION_SLOTS && senders >= PG_MIN_WAL_SENDERS))
}

# check_pg_logical_url warns about a server we were told to use and so must not restart.
check_pg_logical_url() {
	psql_bin >/dev/null || return 0
	pg_logical_ready "$1" && return 0
	log "warning: the PostgreSQL of ORIEL_TEST_POSTGRES_URL lacks wal_level=logical" \
		"(or max_replication_slots/max_wal_senders >= 10): the datagateway's replication tests will fail"
}

# ensure_pg_logical PORT RESTART [ARGS...] gives the server on PORT the settings logical
# replication needs, then restarts it with RESTART PORT ARGS... and waits for it, because
# wal_level only changes at a restart. ALTER SYSTEM keeps the settings across later restarts.
ensure_pg_logical() {
	local port=$1 restart=$2 url setting value minimum
	shift 2
	url=$(pg_url "$port")
	if ! psql_bin >/dev/null; then
		log "warning: no psql to check that PostgreSQL on port $port has wal_level=logical"
		return 0
	fi
	pg_logical_ready "$url" && return 0
	log "configuring PostgreSQL on port $port for logical replication (wal_level=logical)"
	pg_query "$url" 'ALTER SYSTEM SET wal_level = logical' >/dev/null ||
		die "ALTER SYSTEM SET wal_level = logical failed on port $port (user postgres must be a superuser)"
	for setting in max_replication_slots:$PG_MIN_REPLICATION_SLOTS max_wal_senders:$PG_MIN_WAL_SENDERS; do
		minimum=${setting#*:}
		setting=${setting%%:*}
		value=$(pg_query "$url" "SHOW $setting") || value=0
		if ((value < minimum)); then
			pg_query "$url" "ALTER SYSTEM SET $setting = $minimum" >/dev/null ||
				die "ALTER SYSTEM SET $setting failed on port $port"
		fi
	done
	log "restarting PostgreSQL on port $port so that wal_level=logical takes effect"
	if ! "$restart" "$port" "$@"; then
		log "warning: could not restart PostgreSQL on port $port; restart it yourself" \
			"for wal_level=logical, or the datagateway's replication tests will fail"
		return 0
	fi
	if ! wait_for_pg "$port"; then
		die "PostgreSQL on port $port does not accept logins after its restart"
	fi
	pg_logical_ready "$url" || die "PostgreSQL on port $port still lacks wal_level=logical after its restart"
}

# debian_cluster_restart PORT restarts the machine's Debian cluster that listens on PORT.
debian_cluster_restart() {
	local main version conf port
	command -v pg_ctlcluster >/dev/null || return 1
	for main in /etc/postgresql/*/main; do
		version=$(basename "$(dirname "$main")")
		conf="$main/postgresql.conf"
		port=$(sed -n 's/^[[:space:]]*port[[:space:]]*=[[:space:]]*\([0-9][0-9]*\).*/\1/p' "$conf" "$main"/conf.d/*.conf 2>/dev/null | tail -n 1)
		port=${port:-$PG_DEFAULT_PORT}
		[[ $port == "$1" ]] || continue
		if detached "$STATE_DIR/pg_ctlcluster.log" \
			pg_ctlcluster --skip-systemctl-redirect "$version" main restart; then
			return 0
		fi
		tail_log "$STATE_DIR/pg_ctlcluster.log"
		return 1
	done
	log "no Debian cluster listens on port $1"
	return 1
}

# private_pg_restart PORT BINDIR restarts our private cluster with the options it runs with.
private_pg_restart() {
	private_pg_logical_conf
	detached "$PG_DIR/pg_ctl.log" \
		as_pg_owner "$2/pg_ctl" -D "$PG_DATA" -l "$PG_DIR/postgres.log" -w -t "$START_TIMEOUT" -m fast restart ||
		{
			tail_log "$PG_DIR/pg_ctl.log" "$PG_DIR/postgres.log"
			return 1
		}
}

# private_pg_logical_conf puts what logical replication needs in the private cluster's config.
private_pg_logical_conf() {
	local conf="$PG_DATA/postgresql.conf"
	[[ -f $conf ]] || return 0
	grep -q '^# oriel: logical replication' "$conf" && return 0
	printf '%s\n' '# oriel: logical replication, for the datagateway CDC tests' \
		'wal_level = logical' \
		"max_replication_slots = $((PG_MIN_REPLICATION_SLOTS * 2))" \
		"max_wal_senders = $((PG_MIN_WAL_SENDERS * 2))" >>"$conf"
}

stop_postgres() {
	local bindir
	[[ -f $PG_DATA/postmaster.pid ]] || return 0
	bindir=$(pg_bindir) || return 0
	log "stopping the private PostgreSQL cluster in $PG_DATA"
	as_pg_owner "$bindir/pg_ctl" -D "$PG_DATA" -m fast -w stop </dev/null >&2 || true
}

# --- Redis ------------------------------------------------------------------

redis_url() { echo "redis://127.0.0.1:$1"; }

# redis_ping is true only for a Redis that answers PING without a password,
# as the tests' client will connect.
redis_ping() {
	local port=$1
	tcp_open "$port" || return 1
	if command -v redis-cli >/dev/null; then
		[[ $(timeout 3 redis-cli -h 127.0.0.1 -p "$port" ping 2>/dev/null </dev/null) == PONG ]]
		return
	fi
	# shellcheck disable=SC2016 # $1 and $4 belong to the inner shell and the RESP frame
	timeout 3 bash -c '
		exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
		printf "*1\r\n\$4\r\nPING\r\n" >&3
		IFS= read -r reply <&3 || exit 1
		[[ $reply == "+PONG"* ]]
	' _ "$port" 2>/dev/null </dev/null
}

wait_for_redis() {
	local i
	for ((i = 0; i < START_TIMEOUT * 5; i++)); do
		redis_ping "$1" && return 0
		sleep 0.2
	done
	return 1
}

start_redis() {
	local port=$1
	mkdir -p "$REDIS_DIR"
	log "starting redis-server on 127.0.0.1:$port (data in $REDIS_DIR)"
	if ! detached "$REDIS_DIR/start.log" \
		redis-server --daemonize yes --bind 127.0.0.1 --port "$port" --save "" --appendonly no \
		--dir "$REDIS_DIR" --pidfile "$REDIS_DIR/redis.pid" --logfile "$REDIS_DIR/redis.log"; then
		tail_log "$REDIS_DIR/start.log"
		die "redis-server did not start"
	fi
	if ! wait_for_redis "$port"; then
		tail_log "$REDIS_DIR/redis.log"
		die "redis-server on port $port does not answer PING"
	fi
	echo "$port" >"$REDIS_DIR/port"
}

ensure_redis() {
	local port
	if [[ -n ${ORIEL_TEST_REDIS_URL:-} ]]; then
		log "Redis: using ORIEL_TEST_REDIS_URL from the environment"
		return 0
	fi
	if [[ $PRIVATE_ONLY != 1 ]] && redis_ping "$REDIS_DEFAULT_PORT"; then
		emit ORIEL_TEST_REDIS_URL "$(redis_url "$REDIS_DEFAULT_PORT")"
		return 0
	fi
	# One we started earlier on another port.
	if [[ -f $REDIS_DIR/port ]]; then
		port=$(<"$REDIS_DIR/port")
		if [[ -n $port ]] && redis_ping "$port"; then
			log "reusing the private redis-server on port $port"
			emit ORIEL_TEST_REDIS_URL "$(redis_url "$port")"
			return 0
		fi
	fi

	if ! command -v redis-server >/dev/null; then
		apt_install redis-server ORIEL_TEST_REDIS_URL
		# The package may have started its own server on the default port.
		if [[ $PRIVATE_ONLY != 1 ]] && wait_for_redis_briefly "$REDIS_DEFAULT_PORT"; then
			emit ORIEL_TEST_REDIS_URL "$(redis_url "$REDIS_DEFAULT_PORT")"
			return 0
		fi
	fi
	if [[ $PRIVATE_ONLY != 1 ]] && ! tcp_open "$REDIS_DEFAULT_PORT"; then
		port=$REDIS_DEFAULT_PORT
	else
		port=$(free_port "$REDIS_PRIVATE_PORT")
	fi
	start_redis "$port"
	emit ORIEL_TEST_REDIS_URL "$(redis_url "$port")"
}

wait_for_redis_briefly() {
	local i
	for ((i = 0; i < 15; i++)); do
		redis_ping "$1" && return 0
		sleep 0.2
	done
	return 1
}

stop_redis() {
	local pid i
	[[ -f $REDIS_DIR/redis.pid ]] || return 0
	pid=$(<"$REDIS_DIR/redis.pid")
	# Only a redis-server we started: a recycled pid must not be killed.
	if [[ -n $pid && "$(cat "/proc/$pid/comm" 2>/dev/null)" == redis-server* ]]; then
		log "stopping the redis-server we started (pid $pid)"
		kill "$pid" || true
		for ((i = 0; i < 50; i++)); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
	fi
}

# --- MariaDB ----------------------------------------------------------------

readonly MYSQL_URL="root@tcp(127.0.0.1:$MYSQL_PORT)/test"

# mysql_usable: tests log in as root over TCP without a password, so that is what we probe.
mysql_usable() {
	tcp_open "$MYSQL_PORT" || return 1
	command -v mysql >/dev/null || return 0 # no client to ask: an open port has to do
	timeout 5 mysql --protocol=tcp -h 127.0.0.1 -P "$MYSQL_PORT" -u root -e 'SELECT 1' </dev/null >/dev/null 2>&1
}

wait_for_mysql() {
	local i
	for ((i = 0; i < START_TIMEOUT * 5; i++)); do
		mysql_usable && return 0
		sleep 0.2
	done
	return 1
}

start_mariadb() {
	local log_file="$STATE_DIR/mariadbd.log"
	is_root || die "MariaDB is not running on 127.0.0.1:$MYSQL_PORT and only root may start it here;" \
		"start it, or set ORIEL_TEST_MYSQL_URL"
	log "starting the machine's MariaDB ($MARIADBD)"
	# Its socket and pid file live here; /run is emptied at boot.
	install -d -o mysql -g mysql /run/mysqld 2>/dev/null || true
	if ! detached "$log_file" start-stop-daemon --start --oknodo --background --exec "$MARIADBD"; then
		tail_log "$log_file"
		die "MariaDB did not start"
	fi
}

ensure_mysql() {
	if [[ -n ${ORIEL_TEST_MYSQL_URL:-} ]]; then
		log "MariaDB: using ORIEL_TEST_MYSQL_URL from the environment"
		return 0
	fi
	if ! mysql_usable; then
		if [[ ! -x $MARIADBD ]]; then
			apt_install mariadb-server ORIEL_TEST_MYSQL_URL
		fi
		# The package's postinst may have started it already.
		if ! tcp_open "$MYSQL_PORT"; then
			start_mariadb
		fi
		if ! wait_for_mysql; then
			tail_log "$STATE_DIR/mariadbd.log"
			die "MariaDB on 127.0.0.1:$MYSQL_PORT does not accept root logins over TCP without a password;" \
				"fix that or set ORIEL_TEST_MYSQL_URL"
		fi
	fi
	if command -v mysql >/dev/null; then
		timeout 10 mysql --protocol=tcp -h 127.0.0.1 -P "$MYSQL_PORT" -u root \
			-e 'CREATE DATABASE IF NOT EXISTS test' </dev/null >&2 ||
			die "cannot create database test in MariaDB on 127.0.0.1:$MYSQL_PORT"
	fi
	emit ORIEL_TEST_MYSQL_URL "$MYSQL_URL"
}

# --- Chromium ---------------------------------------------------------------

# ensure_chromium finds the headless browser of the embed client's browser tests (driven
# with chromedp), installing Debian's chromium when it is missing.
ensure_chromium() {
	if [[ -n ${ORIEL_TEST_CHROMIUM:-} ]]; then
		log "Chromium: using ORIEL_TEST_CHROMIUM from the environment"
		return 0
	fi
	local bin
	bin=$(command -v chromium || command -v chromium-browser || true)
	if [[ -z $bin ]]; then
		apt_install chromium ORIEL_TEST_CHROMIUM
		bin=$(command -v chromium) || die "apt-get installed chromium but it is not on the PATH"
	fi
	emit ORIEL_TEST_CHROMIUM "$bin"
}

# --- main -------------------------------------------------------------------

main() {
	case "${1:-start}" in
	start)
		prepare_state_dir
		lock_state
		ensure_postgres
		ensure_redis
		ensure_mysql
		ensure_chromium
		;;
	stop)
		[[ -d $STATE_DIR ]] || return 0
		lock_state
		stop_postgres
		stop_redis
		rm -rf "$STATE_DIR"
		;;
	*)
		die "usage: $0 [start|stop]"
		;;
	esac
}

# Sourcing (for testing the functions) defines them without running anything.
if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
	main "$@"
fi
