#!/usr/bin/env bash
# Runs one BPMN file through SpiffWorkflow 3.2.0 (PyPI) and bpmn-engine 25
# (npm), one engine after the other, each for about DURATION seconds of wall
# time, and prints one line per engine on stdout:
#
#   spiffworkflow requests_per_sec=<float> requests=<int> seconds=<float>
#   bpmn-engine requests_per_sec=<float> requests=<int> seconds=<float>
#
# or `<engine> error=<short reason>` for an engine that could not be installed
# or failed; the script still exits 0 in that case so the other engine's
# figure is usable. Install output goes to stderr.
#
# Usage: run.sh BPMN_FILE SECONDS
# Cache: ${SLUICE_BENCH_CACHE:-$HOME/.cache/sluice-bench} (venv/ and node/),
#        installed on first use and reused afterwards.
set -euo pipefail

if [[ $# -ne 2 ]]; then
  echo "usage: $0 BPMN_FILE SECONDS" >&2
  exit 2
fi
[[ -f $1 && -r $1 ]] || { echo "cannot read $1" >&2; exit 2; }
bpmn_file=$(realpath "$1")
duration=$2 # not SECONDS: that name is special in bash
[[ $duration =~ ^[0-9]+([.][0-9]+)?$ ]] || { echo "SECONDS must be a number, got '$duration'" >&2; exit 2; }

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cache=${SLUICE_BENCH_CACHE:-$HOME/.cache/sluice-bench}
mkdir -p "$cache"

spiff_version=3.2.0
bpmn_engine_range=25

# Kill an engine that hangs: its own run time plus a generous margin.
limit=$(awk -v d="$duration" 'BEGIN { printf "%d", d + 120 }')

# Short, single-line reason from a log file: its last line that looks like an
# error message (Python's "XError: ...", Node's "Error: ...", "npm error ..."),
# else its last non-empty line.
reason_from() {
  local r
  r=$(grep -E '(Error|error)(:| )' "$1" 2>/dev/null | grep -v -E 'complete log of this run|^[[:space:]]+at ' | tail -n 1 || true)
  [[ -n $r ]] || r=$(grep -v '^[[:space:]]*$' "$1" 2>/dev/null | tail -n 1 || true)
  r=$(printf '%s' "$r" | tr -s '[:space:]' ' ' | sed -e 's/^ //' -e 's/ $//' | cut -c1-200)
  echo "${r:-unknown failure}"
}

# ---- installs (each marked done by a stamp file written last) --------------
install_spiff() {
  local venv=$cache/venv stamp=$cache/venv/.sluice-ok-$spiff_version
  [[ -f $stamp ]] && return 0
  echo "[compare] installing SpiffWorkflow==$spiff_version into $venv" >&2
  rm -rf "$venv"
  python3 -m venv "$venv" >&2 || return 1
  "$venv/bin/pip" install --disable-pip-version-check --no-input -q "SpiffWorkflow==$spiff_version" >&2 || return 1
  "$venv/bin/python" -c "import SpiffWorkflow.bpmn" >&2 || return 1
  touch "$stamp"
}

install_bpmn_engine() {
  local dir=$cache/node stamp=$cache/node/.sluice-ok-$bpmn_engine_range
  [[ -f $stamp && -f $dir/node_modules/bpmn-engine/package.json ]] && return 0
  echo "[compare] installing bpmn-engine@$bpmn_engine_range into $dir" >&2
  rm -rf "$dir"
  mkdir -p "$dir"
  printf '{ "name": "sluice-bench-compare", "private": true }\n' >"$dir/package.json"
  (cd "$dir" && npm install --no-audit --no-fund --loglevel=error "bpmn-engine@$bpmn_engine_range") >&2 || return 1
  touch "$stamp"
}

# ---- runs -------------------------------------------------------------------
run_spiff() {
  local log=$cache/spiff.log out
  if ! install_spiff 2>"$log"; then
    cat "$log" >&2
    echo "spiffworkflow error=install failed: $(reason_from "$log")"
    return 0
  fi
  cat "$log" >&2
  if out=$(timeout "$limit" "$cache/venv/bin/python" "$here/spiff_bench.py" "$bpmn_file" "$duration" 2>"$log") &&
    [[ $out == "spiffworkflow requests_per_sec="* ]]; then
    echo "$out"
  else
    cat "$log" >&2
    echo "spiffworkflow error=$(reason_from "$log")"
  fi
}

run_bpmn_engine() {
  local log=$cache/bpmn-engine.log out
  if ! install_bpmn_engine 2>"$log"; then
    cat "$log" >&2
    echo "bpmn-engine error=install failed: $(reason_from "$log")"
    return 0
  fi
  cat "$log" >&2
  # Run from inside the cache's npm project so the bare ESM imports resolve.
  cp "$here/bpmn_engine_bench.js" "$cache/node/bpmn_engine_bench.mjs"
  if out=$(timeout "$limit" node "$cache/node/bpmn_engine_bench.mjs" "$bpmn_file" "$duration" 2>"$log") &&
    [[ $out == "bpmn-engine requests_per_sec="* ]]; then
    echo "$out"
  else
    cat "$log" >&2
    echo "bpmn-engine error=$(reason_from "$log")"
  fi
}

# One after the other, never concurrently, so neither steals the other's CPU.
run_spiff
run_bpmn_engine
exit 0
