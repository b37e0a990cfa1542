#!/usr/bin/env bash
# test.sh runs the whole test suite against real servers: it starts a
# throwaway PostgreSQL server and wrangler's local D1 engine on loopback,
# runs go test with the race detector, and stops both servers on exit.
#
# Usage:
#   bash scripts/test.sh [go test flags and packages]
#
# With no arguments it tests ./... . PostgreSQL is installed with apt-get
# when it is missing; the Node packages of the D1 engine are installed with
# npm ci from d1local/package-lock.json.
set -euo pipefail
cd "$(dirname "$0")/.."

stop_servers() {
	bash scripts/d1-local.sh stop >/dev/null 2>&1 || true
	bash scripts/postgres.sh stop >/dev/null 2>&1 || true
}
trap stop_servers EXIT

bash scripts/postgres.sh start >/dev/null
eval "$(bash scripts/postgres.sh env)"
bash scripts/d1-local.sh start >/dev/null
eval "$(bash scripts/d1-local.sh env)"

if [[ $# -eq 0 ]]; then
	set -- ./...
fi
go test -race -count=1 -timeout 45m "$@"
