#!/usr/bin/env bash
# Fuzzes the running API with schemathesis, driven by the server's own OpenAPI document: no answer
# may be a 5xx, and every answer's status, content type and body must match the document. Then the
# server is stopped with SIGTERM and must exit 0. Exit status: non-zero on any failure.
#
# Environment: SLUICE_CI_CACHE (where the Python venv is kept, outside the clone),
# CARGO_TARGET_DIR, SCHEMATHESIS_MAX_EXAMPLES (test cases per operation and phase; default 100),
# SCHEMATHESIS_SEED, SCHEMATHESIS_CHECKS, SCHEMATHESIS_EXCLUDE_CHECKS, SCHEMATHESIS_ARGS.
#
# Every check runs but `positive_data_acceptance`: it takes any schema-valid body as one the
# server must accept, and a deploy's body is valid XML text that is only accepted when it is a
# valid BPMN model (422 otherwise), which no JSON Schema can say.
# The last line is counted by .ci/run's summary like a cargo test result.
set -euo pipefail
cd "$(dirname "$0")/.."

SCHEMATHESIS_VERSION=4.32.5
cache="${SLUICE_CI_CACHE:-$HOME/.cache/sluice-ci}"
venv="$cache/venv-schemathesis"
examples="${SCHEMATHESIS_MAX_EXAMPLES:-100}"

if ! "$venv/bin/st" --version 2>/dev/null | grep -q " $SCHEMATHESIS_VERSION\$"; then
    echo "installing schemathesis $SCHEMATHESIS_VERSION into $venv"
    mkdir -p "$cache"
    if ! python3 -m venv --help >/dev/null 2>&1; then
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -q >/dev/null && apt-get install -y -q python3-venv >/dev/null
    fi
    rm -rf "$venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION"
fi

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/sluice/target}"
cargo build -q --locked -p sluice-modeler-api --bin sluice
bin="$CARGO_TARGET_DIR/debug/sluice"

work="$(mktemp -d)"
port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
base="http://127.0.0.1:$port"
token="schemathesis-$(python3 -c 'import secrets; print(secrets.token_hex(16))')"

# No Slack bot token, and a closed local port as the Slack API: Requests the fuzzer starts never
# reach anything outside this machine.
env -u SLACK_BOT_TOKEN -u SLACK_CLIENT_ID -u SLACK_CLIENT_SECRET \
    SLUICE_LISTEN="127.0.0.1:$port" \
    SLUICE_DATABASE_URL="sqlite://$work/sluice.db" \
    SLUICE_API_TOKEN="$token" \
    SLUICE_PROCESSES=processes \
    SLACK_API_URL=http://127.0.0.1:9 \
    RUST_LOG="${RUST_LOG:-warn}" \
    "$bin" serve >"$work/server.log" 2>&1 &
pid=$!
cleanup() {
    if kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT

for _ in $(seq 1 100); do
    if python3 -c "import urllib.request; urllib.request.urlopen('$base/healthz', timeout=1)" 2>/dev/null; then
        break
    fi
    if ! kill -0 "$pid" 2>/dev/null; then
        echo "sluice serve exited early:" >&2
        cat "$work/server.log" >&2
        exit 1
    fi
    sleep 0.2
done

status=0
# From the scratch folder, so schemathesis's own caches stay out of the clone.
(cd "$work" && "$venv/bin/st" --no-color run "$base/api/v1/openapi.json" \
    --header "Authorization: Bearer $token" \
    --checks "${SCHEMATHESIS_CHECKS:-all}" \
    --exclude-checks "${SCHEMATHESIS_EXCLUDE_CHECKS:-positive_data_acceptance}" \
    --max-examples "$examples" \
    --workers 1 \
    --seed "${SCHEMATHESIS_SEED:-1}" \
    --request-timeout 35 \
    --suppress-health-check all \
    --warnings off \
    --generation-database none \
    --report-dir "${SCHEMATHESIS_REPORT_DIR:-$work/report}" ${SCHEMATHESIS_ARGS:-}) || status=$?

kill -TERM "$pid"
exit_code=0
wait "$pid" || exit_code=$?
if [ "$exit_code" -ne 0 ]; then
    echo "sluice serve exited with $exit_code after SIGTERM" >&2
    status=1
fi
if grep -q "panicked" "$work/server.log"; then
    echo "sluice serve panicked:" >&2
    grep -A3 "panicked" "$work/server.log" >&2
    status=1
fi
if [ "$status" -eq 0 ]; then
    echo "test result: ok. 1 passed; 0 failed (schemathesis: the API conforms to its OpenAPI document)"
else
    tail -n 40 "$work/server.log" >&2
    echo "test result: FAILED. 0 passed; 1 failed (schemathesis)"
fi
exit "$status"
