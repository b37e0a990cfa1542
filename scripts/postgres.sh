#!/usr/bin/env bash
# postgres.sh runs a throwaway PostgreSQL server on loopback for the tests.
#
# Usage:
#   scripts/postgres.sh start     create and start a cluster, print its URL
#   scripts/postgres.sh env       print export lines for a running cluster
#   scripts/postgres.sh restart   restart the cluster (pg_ctl restart -m fast)
#   scripts/postgres.sh stop      stop the cluster and remove its folder
#
# start installs PostgreSQL with apt-get when initdb or pg_ctl is missing.
# It creates a cluster in a new temporary folder (initdb -A trust -U
# postgres) and starts it on 127.0.0.1, with its Unix socket inside that
# folder. Once the server accepts connections, it creates the database
# "agentaudit" and prints
#
#   AGENTAUDIT_POSTGRES_URL=postgres://postgres@127.0.0.1:PORT/agentaudit?sslmode=disable
#
# and writes the folder, port and URL to the state file, so that stop,
# restart and the tests find the cluster. Every command is safe to re-run:
# start reuses a cluster that is still running, and stop does nothing when
# no cluster is recorded.
#
# Environment:
#   AGENTAUDIT_POSTGRES_STATE  state file (default: .ci/state/postgres.env in
#                              the repository); give each cluster its own
#   AGENTAUDIT_POSTGRES_PORT   port to listen on (default: the first free
#                              port from 54329 up)
#   AGENTAUDIT_POSTGRES_WAIT   seconds to wait for the server (default: 60)
#
# initdb refuses to run as root, so as root the cluster belongs to the system
# user "postgres", created when it is missing.
set -euo pipefail

repo_root="$(cd "$(dirname "$0")/.." && pwd)"
state_file="${AGENTAUDIT_POSTGRES_STATE:-$repo_root/.ci/state/postgres.env}"
wait_seconds="${AGENTAUDIT_POSTGRES_WAIT:-60}"
database="agentaudit"
run_user="postgres"

log() { echo "postgres.sh: $*" >&2; }
die() { log "$*"; exit 1; }

# find_bin_dir prints the folder that contains initdb and pg_ctl, or nothing.
find_bin_dir() {
	local dir
	if command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1; then
		dirname "$(readlink -f "$(command -v pg_ctl)")"
		return
	fi
	# Debian keeps the server binaries out of PATH; take the newest version.
	for dir in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
		if [[ -x "$dir/initdb" && -x "$dir/pg_ctl" ]]; then
			echo "$dir"
			return
		fi
	done
}

# ensure_bin_dir sets bin_dir, installing PostgreSQL when it is missing.
ensure_bin_dir() {
	bin_dir="$(find_bin_dir)"
	if [[ -n "$bin_dir" ]]; then
		return
	fi
	if [[ "$(id -u)" != 0 ]]; then
		die "initdb and pg_ctl not found; install PostgreSQL (apt-get install -y postgresql) or run as root"
	fi
	log "initdb and pg_ctl not found; installing postgresql with apt-get"
	apt-get update -qq >&2
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >&2
	bin_dir="$(find_bin_dir)"
	[[ -n "$bin_dir" ]] || die "apt-get install postgresql finished but initdb and pg_ctl are still missing"
}

# as_owner runs a command as the cluster's owner: the system user
# "postgres" when this script runs as root, the caller otherwise.
as_owner() {
	if [[ "$(id -u)" == 0 ]]; then
		runuser -u "$run_user" -- "$@"
	else
		"$@"
	fi
}

ensure_run_user() {
	if [[ "$(id -u)" != 0 ]]; then
		return
	fi
	if ! id "$run_user" >/dev/null 2>&1; then
		log "creating system user $run_user to own the cluster"
		useradd --system --no-create-home --shell /usr/sbin/nologin "$run_user"
	fi
}

# port_in_use reports whether something accepts TCP connections on
# 127.0.0.1:$1.
port_in_use() {
	(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

pick_port() {
	local port
	if [[ -n "${AGENTAUDIT_POSTGRES_PORT:-}" ]]; then
		port_in_use "$AGENTAUDIT_POSTGRES_PORT" && die "port $AGENTAUDIT_POSTGRES_PORT (AGENTAUDIT_POSTGRES_PORT) is in use; choose another or unset it"
		echo "$AGENTAUDIT_POSTGRES_PORT"
		return
	fi
	for port in $(seq 54329 54429); do
		if ! port_in_use "$port"; then
			echo "$port"
			return
		fi
	done
	die "no free port between 54329 and 54429; set AGENTAUDIT_POSTGRES_PORT"
}

# load_state reads the state file into PG_DIR, PG_PORT, PG_BIN and
# AGENTAUDIT_POSTGRES_URL; it returns 1 when there is no state file.
load_state() {
	[[ -f "$state_file" ]] || return 1
	# shellcheck disable=SC1090
	source "$state_file"
	[[ -n "${PG_DIR:-}" && -n "${PG_PORT:-}" && -n "${PG_BIN:-}" ]] || die "state file $state_file is incomplete; run stop, then start"
}

running() {
	[[ -d "$PG_DIR/data" ]] && as_owner "$PG_BIN/pg_ctl" status -D "$PG_DIR/data" >/dev/null 2>&1
}

wait_ready() {
	local deadline=$((SECONDS + wait_seconds))
	until "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT" -U postgres -d postgres; do
		if ((SECONDS >= deadline)); then
			log "server log $PG_DIR/postgres.log:"
			tail -n 20 "$PG_DIR/postgres.log" >&2 || true
			die "server on 127.0.0.1:$PG_PORT not ready after ${wait_seconds}s"
		fi
		sleep 0.2
	done
}

print_url() {
	echo "AGENTAUDIT_POSTGRES_URL=$AGENTAUDIT_POSTGRES_URL"
}

cmd_start() {
	if load_state; then
		if running; then
			wait_ready
			log "reusing the cluster in $PG_DIR on port $PG_PORT"
			print_url
			return
		fi
		log "the cluster recorded in $state_file is not running; replacing it"
		cmd_stop
	fi

	ensure_bin_dir
	ensure_run_user
	PG_BIN="$bin_dir"
	PG_PORT="$(pick_port)"
	# As root the folder goes in /tmp, because TMPDIR may sit where the
	# cluster's owner cannot reach.
	if [[ "$(id -u)" == 0 ]]; then
		PG_DIR="$(mktemp -d /tmp/agentaudit-postgres.XXXXXX)"
	else
		PG_DIR="$(mktemp -d "${TMPDIR:-/tmp}/agentaudit-postgres.XXXXXX")"
	fi
	AGENTAUDIT_POSTGRES_URL="postgres://postgres@127.0.0.1:$PG_PORT/$database?sslmode=disable"
	if [[ "$(id -u)" == 0 ]]; then
		chown "$run_user:" "$PG_DIR"
	fi

	# Record the folder before anything can fail, so that stop removes it.
	mkdir -p "$(dirname "$state_file")"
	cat >"$state_file" <<EOF
PG_DIR='$PG_DIR'
PG_PORT='$PG_PORT'
PG_BIN='$PG_BIN'
AGENTAUDIT_POSTGRES_URL='$AGENTAUDIT_POSTGRES_URL'
EOF

	log "initdb in $PG_DIR/data ($("$PG_BIN/initdb" --version))"
	as_owner "$PG_BIN/initdb" -D "$PG_DIR/data" -A trust -U postgres -E UTF8 --locale=C.UTF-8 --no-sync \
		>"$PG_DIR/initdb.log" 2>&1 || {
		tail -n 20 "$PG_DIR/initdb.log" >&2
		die "initdb failed; see $PG_DIR/initdb.log"
	}

	# fsync, synchronous commit and full-page writes are off, because a
	# throwaway cluster contains no data worth a crash-safe write.
	as_owner "$PG_BIN/pg_ctl" start -D "$PG_DIR/data" -l "$PG_DIR/postgres.log" -w -t "$wait_seconds" \
		-o "-h 127.0.0.1 -p $PG_PORT -k $PG_DIR -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" \
		>/dev/null || {
		tail -n 20 "$PG_DIR/postgres.log" >&2 || true
		die "pg_ctl start failed; see $PG_DIR/postgres.log"
	}
	wait_ready

	"$PG_BIN/psql" -q -h 127.0.0.1 -p "$PG_PORT" -U postgres -d postgres -v ON_ERROR_STOP=1 \
		-c "CREATE DATABASE $database" >/dev/null
	log "started PostgreSQL on 127.0.0.1:$PG_PORT, data in $PG_DIR/data"
	print_url
}

cmd_env() {
	load_state || die "no cluster recorded in $state_file; run: scripts/postgres.sh start"
	echo "export AGENTAUDIT_POSTGRES_URL='$AGENTAUDIT_POSTGRES_URL'"
}

cmd_restart() {
	load_state || die "no cluster recorded in $state_file; run: scripts/postgres.sh start"
	# pg_ctl restart reuses the options of the last start (postmaster.opts).
	as_owner "$PG_BIN/pg_ctl" restart -D "$PG_DIR/data" -m fast -w -t "$wait_seconds" \
		-l "$PG_DIR/postgres.log" >/dev/null || die "pg_ctl restart failed; see $PG_DIR/postgres.log"
	wait_ready
	log "restarted PostgreSQL on 127.0.0.1:$PG_PORT"
}

cmd_stop() {
	if ! load_state; then
		log "no cluster recorded in $state_file; nothing to stop"
		return
	fi
	if running; then
		as_owner "$PG_BIN/pg_ctl" stop -D "$PG_DIR/data" -m fast -w -t "$wait_seconds" >/dev/null ||
			die "pg_ctl stop failed for $PG_DIR/data; stop the server by hand before removing the folder"
		log "stopped PostgreSQL on 127.0.0.1:$PG_PORT"
	fi
	# Remove only the folder that start created.
	case "$PG_DIR" in
	*/agentaudit-postgres.*) rm -rf -- "$PG_DIR" ;;
	*) log "not removing $PG_DIR: it is not a folder this script created" ;;
	esac
	rm -f -- "$state_file"
}

case "${1:-}" in
start) cmd_start ;;
env) cmd_env ;;
restart) cmd_restart ;;
stop) cmd_stop ;;
*)
	echo "usage: $0 start|env|restart|stop" >&2
	exit 2
	;;
esac
