#!/usr/bin/env bash
# Sluice's durable engine against SpiffWorkflow 3.2.0 on the same model (start → no-op service
# task → end) and the same durability (SQLite, journal_mode=WAL, synchronous=FULL):
#   1. `cargo bench -p sluice-worker --bench durable` with BENCH_BACKENDS=sqlite;
#   2. spiff/spiff_bench.py, which persists each Request's serialized state after every step;
# then prints both completed Requests/s and the ratio.
#
# Usage: engine/worker/benches/compare_spiff.sh
# Env:   BENCH_REQUESTS  Requests for the Sluice bench (its default: 20000)
#        SPIFF_REQUESTS  Requests for SpiffWorkflow (default 2000)
#        BENCH_STARTERS, CARGO_TARGET_DIR, CARGO_BUILD_JOBS  passed through to cargo
#        SLUICE_CI_CACHE  venv location: ${SLUICE_CI_CACHE:-$HOME/.cache/sluice-ci}/venv-spiff
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../../.." && pwd)
cache=${SLUICE_CI_CACHE:-$HOME/.cache/sluice-ci}
venv=$cache/venv-spiff
spiff_requests=${SPIFF_REQUESTS:-2000}

# The venv: created when missing, then pip brings it to the pinned versions (a no-op when there).
if [[ ! -x $venv/bin/python ]]; then
    echo "creating the Python venv $venv" >&2
    mkdir -p "$cache"
    python3 -m venv "$venv" >&2
fi
"$venv/bin/pip" install -q --disable-pip-version-check --no-input -r "$here/spiff/requirements.txt" >&2

# Sluice. The bench's own output goes to the terminal as it comes and is kept for parsing.
sluice_log=$(mktemp)
spiff_log=$(mktemp)
trap 'rm -f "$sluice_log" "$spiff_log"' EXIT
echo "== Sluice (cargo bench -p sluice-worker --bench durable, BENCH_BACKENDS=sqlite)"
(cd "$root" && BENCH_BACKENDS=sqlite cargo bench -p sluice-worker --bench durable) | tee "$sluice_log"
# The line: `SQLite (synchronous=FULL)   20000 Requests in  12.46 s:      1605 completed Requests/s, ...`
sluice=$(sed -n 's/^SQLite (synchronous=FULL) .*: *\([0-9.]*\) completed Requests\/s.*/\1/p' "$sluice_log" | tail -n 1)
if [[ -z $sluice ]]; then
    echo "no 'SQLite (synchronous=FULL) … completed Requests/s' line in the Sluice bench's output" >&2
    exit 1
fi

echo "== SpiffWorkflow 3.2.0 ($spiff_requests Requests, one thread)"
"$venv/bin/python" "$here/spiff/spiff_bench.py" "$spiff_requests" | tee "$spiff_log"
spiff=$(sed -n 's/^spiff_requests_per_second=\([0-9.]*\)$/\1/p' "$spiff_log" | tail -n 1)
if [[ -z $spiff ]]; then
    echo "no 'spiff_requests_per_second=' line in the SpiffWorkflow bench's output" >&2
    exit 1
fi

echo "== Durable throughput, SQLite synchronous=FULL, start → no-op service task → end"
awk -v s="$sluice" -v p="$spiff" 'BEGIN {
    printf "Sluice:        %10.0f completed Requests/s\n", s
    printf "SpiffWorkflow: %10.0f completed Requests/s\n", p
    if (p <= 0) { print "SpiffWorkflow figure is zero: no ratio" > "/dev/stderr"; exit 1 }
    printf "Sluice / SpiffWorkflow = %.1f×\n", s / p
}'
