#!/usr/bin/env bash
# HTTP load benchmark (a benchmark, not a test): starts Requests over HTTP against `sluice serve`
# on the embedded SQLite default (full durability) and prints requests/s and p50/p99 latency.
#
#   modeler-api/benches/http_load.sh [SECONDS] [CONNECTIONS] [THREADS]
#
# Builds `sluice` in release, starts it on a fresh database in a temporary folder, deploys a
# start → user task → end process, runs wrk for SECONDS (15) with CONNECTIONS (64) connections
# each POSTing /api/v1/processes/bench/requests, then checks through the API (/metrics: Requests
# active) that every 201 answer is a Request in the database. Installs wrk with apt-get if missing.
# SLUICE_BENCH_DURABILITY=relaxed compares with SQLite synchronous=NORMAL. SLUICE_BENCH_AS=user
# starts the Requests with a stored token of a user with the role participant (the token looked
# up and its roles checked, as for people) instead of SLUICE_API_TOKEN.
# Target on the 2-core reference machine: at least 5,000 started Requests/s with p99 under 25 ms.
set -euo pipefail
cd "$(dirname "$0")/../.."

seconds="${1:-15}"
connections="${2:-64}"
threads="${3:-2}"

if ! command -v wrk >/dev/null 2>&1; then
    echo "installing wrk"
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -q wrk >/dev/null 2>&1 || { apt-get update -q >/dev/null && apt-get install -y -q wrk >/dev/null; }
fi

# SLUICE_BENCH_BIN: run this (release) binary instead of building one, e.g. a build of the code
# before a change, to compare the two back to back.
if [ -n "${SLUICE_BENCH_BIN:-}" ]; then
    bin="$SLUICE_BENCH_BIN"
else
    export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/sluice/target}"
    cargo build -q --release --locked -p sluice-modeler-api --bin sluice
    bin="$CARGO_TARGET_DIR/release/sluice"
fi

work="$(mktemp -d)"
port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
base="http://127.0.0.1:$port"
token="bench-$(python3 -c 'import secrets; print(secrets.token_hex(16))')"

env -u SLACK_BOT_TOKEN -u SLUICE_PROCESSES \
    SLUICE_LISTEN="127.0.0.1:$port" \
    SLUICE_DATABASE_URL="sqlite://$work/sluice.db" \
    SLUICE_DURABILITY="${SLUICE_BENCH_DURABILITY:-full}" \
    SLUICE_API_TOKEN="$token" \
    SLACK_API_URL=http://127.0.0.1:9 \
    RUST_LOG="${RUST_LOG:-warn}" \
    "$bin" serve >"$work/server.log" 2>&1 &
pid=$!
cleanup() {
    if kill -0 "$pid" 2>/dev/null; then kill -TERM "$pid" 2>/dev/null; wait "$pid" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT

for _ in $(seq 1 100); do
    curl -sf "$base/healthz" >/dev/null 2>&1 && break
    kill -0 "$pid" 2>/dev/null || { cat "$work/server.log" >&2; exit 1; }
    sleep 0.1
done

cat >"$work/bench.bpmn" <<'BPMN'
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d" targetNamespace="urn:bench">
  <bpmn:process id="bench" name="Benchmark" isExecutable="true">
    <bpmn:startEvent id="start"/>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="review"/>
    <bpmn:userTask id="review" name="Review"/>
    <bpmn:sequenceFlow id="f2" sourceRef="review" targetRef="end"/>
    <bpmn:endEvent id="end"/>
  </bpmn:process>
</bpmn:definitions>
BPMN
code="$(curl -s -o "$work/deploy.json" -w '%{http_code}' -X POST "$base/api/v1/processes" \
    -H "Authorization: Bearer $token" -H 'Content-Type: application/xml' --data-binary @"$work/bench.bpmn")"
[ "$code" = 201 ] || { echo "deploy answered $code: $(cat "$work/deploy.json")" >&2; exit 1; }

caller="$token"
if [ "${SLUICE_BENCH_AS:-}" = user ]; then
    user_id="$(curl -sf -X POST "$base/api/v1/users" -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
        -d '{"username": "bencher", "name": "Bencher", "email": "bencher@example.com", "roles": ["participant"], "groups": []}' |
        python3 -c 'import json, sys; print(json.load(sys.stdin)["id"])')"
    caller="$(curl -sf -X POST "$base/api/v1/users/$user_id/tokens" -H "Authorization: Bearer $token" \
        -H 'Content-Type: application/json' -d '{"name": "bench"}' |
        python3 -c 'import json, sys; print(json.load(sys.stdin)["token"])')"
    echo "starting as the participant bencher, with a stored token"
fi

echo "sluice serve (release, SQLite, durability ${SLUICE_BENCH_DURABILITY:-full}) on $base; wrk: ${seconds}s, $connections connections, $threads threads"
SLUICE_BENCH_KEY=bench SLUICE_BENCH_TOKEN="$caller" \
    wrk -t "$threads" -c "$connections" -d "${seconds}s" --latency --timeout 10s \
    -s modeler-api/benches/http_load.lua "$base" | tee "$work/wrk.out"

created="$(sed -n 's/^BENCH created=\([0-9]*\) other=\([0-9]*\)$/\1/p' "$work/wrk.out")"
other="$(sed -n 's/^BENCH created=\([0-9]*\) other=\([0-9]*\)$/\2/p' "$work/wrk.out")"
# Requests still in flight when wrk stopped may commit after it stopped counting: at most one
# per connection.
sleep 1
active="$(curl -s "$base/metrics" | sed -n 's/^sluice_requests_active \([0-9]*\)$/\1/p')"
echo "Requests in the database (active, via /metrics): $active; 201 answers counted by wrk: $created"
if [ -z "$created" ] || [ -z "$active" ] || [ "$other" != 0 ] ||
    [ "$active" -lt "$created" ] || [ "$active" -gt $((created + connections)) ]; then
    echo "MISMATCH: the answers and the database disagree" >&2
    exit 1
fi
echo "ok: every 201 is a Request in the database"
