#!/usr/bin/env bash
# Drives the web app in a real browser: tests/browser/test_web.py against a freshly started
# `sluice serve` (temporary SQLite database, a known admin created through the API), with Debian's
# Chromium through Playwright for Python. Playwright never downloads a browser of its own here.
# Installs chromium (apt) and the Python packages (.ci/python-deps.sh) when missing.
# Screenshots of every page go to target/screenshots in the clone (or $SLUICE_SCREENSHOTS), kept
# apart from the cargo build cache wherever that is. The last line is counted by
# .ci/run's summary like a cargo test result.
set -euo pipefail
cd "$(dirname "$0")/.."

export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/sluice/target}"
if ! [ -x /usr/bin/chromium ]; then
    echo "installing chromium (Debian)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q >/dev/null && apt-get install -y -q chromium >/dev/null
fi
bash .ci/python-deps.sh
venv="${SLUICE_CI_CACHE:-$HOME/.cache/sluice-ci}/venv"

cargo build -q --locked -p sluice-modeler-api -p sluice-fake-slack --bin sluice --bin fake-slack
export SLUICE_SCREENSHOTS="${SLUICE_SCREENSHOTS:-$PWD/target/screenshots}"
status=0
"$venv/bin/python" tests/browser/test_web.py "$CARGO_TARGET_DIR/debug/sluice" "$CARGO_TARGET_DIR/debug/fake-slack" || status=$?
echo "screenshots: $SLUICE_SCREENSHOTS"
exit "$status"
