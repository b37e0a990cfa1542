#!/usr/bin/env bash
# Runs D1's own engine on loopback for agentaudit's tests: wrangler's local
# mode serving the Worker in d1local/, which serves Cloudflare's D1 REST
# query endpoint over its D1 bindings. It needs no Cloudflare account and
# makes no outside request.
#
# Usage:
#   scripts/d1-local.sh start   install wrangler if needed, start, wait until it responds
#   scripts/d1-local.sh stop    stop the server started by start, remove its data
#   scripts/d1-local.sh env     print the variables the tests read, as export lines
#
# Example:
#   scripts/d1-local.sh start && eval "$(scripts/d1-local.sh env)"
#   go test -race ./store/d1/...
#   scripts/d1-local.sh stop
#
# Environment:
#   D1_LOCAL_PORT       port to listen on (default: a free port)
#   D1_LOCAL_STATE_DIR  where the state file and log go (default: .ci/state)
#   D1_LOCAL_TIMEOUT    seconds to wait for the server to answer (default: 90)
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
workdir="$root/d1local"
state_dir="${D1_LOCAL_STATE_DIR:-$root/.ci/state}"
state_file="$state_dir/d1.env"
log_file="$state_dir/d1-wrangler.log"
timeout="${D1_LOCAL_TIMEOUT:-90}"

# Keep wrangler and npm quiet and offline: no telemetry, no request.cf
# lookup, and CI mode so that nothing prompts.
export WRANGLER_SEND_METRICS=false
export CLOUDFLARE_CF_FETCH_ENABLED=false
export CI=true

die() {
	echo "d1-local: $*" >&2
	exit 1
}

# toml_value KEY prints the first quoted value of KEY in wrangler.toml.
toml_value() {
	sed -n "s/^$1 *= *\"\\([^\"]*\\)\".*/\\1/p" "$workdir/wrangler.toml" | head -n 1
}

# toml_values KEY prints every quoted value of KEY in wrangler.toml, in order.
toml_values() {
	sed -n "s/^$1 *= *\"\\([^\"]*\\)\".*/\\1/p" "$workdir/wrangler.toml"
}

install_wrangler() {
	local lock="$workdir/package-lock.json"
	local installed="$workdir/node_modules/.package-lock.json"
	if [[ -f "$installed" && "$installed" -nt "$lock" && -f "$workdir/node_modules/wrangler/package.json" ]]; then
		return
	fi

	# Install scripts stay off: workerd and esbuild ship their binaries in
	# platform packages, and their postinstall steps would only try to
	# download what is already there.
	if [[ -f "$lock" ]]; then
		(cd "$workdir" && npm ci --ignore-scripts --no-audit --no-fund) >&2
	else
		(cd "$workdir" && npm install --ignore-scripts --no-audit --no-fund) >&2
	fi
}

free_port() {
	node -e 'const s = require("net").createServer(); s.listen(0, "127.0.0.1", () => { console.log(s.address().port); s.close(); });'
}

running_pid() {
	[[ -f "$state_file" ]] || return 1
	local pid
	pid="$(sed -n 's/^AGENTAUDIT_D1_PID=//p' "$state_file")"
	[[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null && echo "$pid"
}

start() {
	if pid="$(running_pid)"; then
		echo "d1-local: already running (pid $pid); state in $state_file" >&2
		return
	fi
	command -v node >/dev/null || die "node is not installed; install Node.js 20 or later"
	mkdir -p "$state_dir"
	install_wrangler

	local port="${D1_LOCAL_PORT:-$(free_port)}"
	local persist token
	persist="$(mktemp -d "${TMPDIR:-/tmp}/agentaudit-d1.XXXXXX")"
	token="d1local-$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"

	# wrangler queries the npm registry for a newer release on every start,
	# reading the registry from rc-style npm_* variables. npm_registry points
	# that check at a closed loopback port, so it fails at once and nothing
	# leaves the machine.
	# setsid makes node the leader of a new process group, so that stop can
	# end workerd, its child, with it.
	(
		cd "$workdir"
		npm_registry="http://127.0.0.1:9/" exec setsid node node_modules/wrangler/bin/wrangler.js dev \
			--local --ip 127.0.0.1 --port "$port" --persist-to "$persist" \
			--var "TEST_TOKEN:$token" --show-interactive-dev-session=false
	) >"$log_file" 2>&1 </dev/null &
	local pid=$!

	local account db_names db_ids
	account="$(toml_value ACCOUNT_ID)"
	mapfile -t db_names < <(toml_values database_name)
	mapfile -t db_ids < <(toml_values database_id)
	cat >"$state_file" <<-STATE
		AGENTAUDIT_D1_BASE_URL=http://127.0.0.1:$port/client/v4
		AGENTAUDIT_D1_TEST_TOKEN=$token
		AGENTAUDIT_D1_ACCOUNT_ID=$account
		AGENTAUDIT_D1_DATABASE_ID=${db_ids[0]}
		AGENTAUDIT_D1_DATABASE_NAME=${db_names[0]}
		AGENTAUDIT_D1_FRESH_DATABASE_ID=${db_ids[1]}
		AGENTAUDIT_D1_FRESH_DATABASE_NAME=${db_names[1]}
		AGENTAUDIT_D1_PERSIST_DIR=$persist
		AGENTAUDIT_D1_DIR=$workdir
		AGENTAUDIT_D1_PID=$pid
	STATE

	local deadline=$((SECONDS + timeout))
	until curl -fsS -o /dev/null -H "Authorization: Bearer $token" "http://127.0.0.1:$port/__test/statements" 2>/dev/null; do
		if ! kill -0 "$pid" 2>/dev/null; then
			tail -n 30 "$log_file" >&2 || true
			die "wrangler exited before it responded; log in $log_file"
		fi
		if ((SECONDS >= deadline)); then
			tail -n 30 "$log_file" >&2 || true
			stop
			die "wrangler did not respond on 127.0.0.1:$port within ${timeout}s; log in $log_file"
		fi
		sleep 0.5
	done
	echo "d1-local: D1 engine on http://127.0.0.1:$port (pid $pid); state in $state_file" >&2
}

stop() {
	[[ -f "$state_file" ]] || return 0
	local pid persist
	pid="$(sed -n 's/^AGENTAUDIT_D1_PID=//p' "$state_file")"
	persist="$(sed -n 's/^AGENTAUDIT_D1_PERSIST_DIR=//p' "$state_file")"

	if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null; then
		# The process group is the one setsid made for this pid: wrangler
		# and the workerd it runs, nothing else.
		kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
		local deadline=$((SECONDS + 15))
		while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do
			sleep 0.2
		done
		if kill -0 "$pid" 2>/dev/null; then
			echo "d1-local: pid $pid still running after 15s; sending SIGKILL" >&2
			kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
		fi
		while kill -0 "$pid" 2>/dev/null; do
			sleep 0.2
		done
	fi

	if [[ -n "$persist" && "$persist" == "${TMPDIR:-/tmp}"/agentaudit-d1.* ]]; then
		rm -rf -- "$persist"
	fi
	rm -f -- "$state_file"
	echo "d1-local: stopped" >&2
}

print_env() {
	[[ -f "$state_file" ]] || die "not started; run: scripts/d1-local.sh start"
	sed -e '/^$/d' -e 's/^/export /' "$state_file"
}

case "${1:-}" in
start) start ;;
stop) stop ;;
env) print_env ;;
*)
	echo "usage: scripts/d1-local.sh start|stop|env" >&2
	exit 2
	;;
esac
