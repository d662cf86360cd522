#!/usr/bin/env bash
# Installs the pinned Python packages of .ci/requirements.txt into a venv outside the clone:
# ${SLUICE_CI_CACHE:-$HOME/.cache/sluice-ci}/venv. Creates the venv when missing (installing
# python3-venv if needed) and never removes one, so other tools' packages in it stay. Idempotent:
# pip skips what is already installed at the pinned version.
set -euo pipefail
cd "$(dirname "$0")/.."

cache="${SLUICE_CI_CACHE:-$HOME/.cache/sluice-ci}"
venv="$cache/venv"
if [ ! -x "$venv/bin/python" ]; then
    echo "creating the Python venv $venv"
    mkdir -p "$cache"
    if ! python3 -m venv --help >/dev/null 2>&1; then
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -q >/dev/null && apt-get install -y -q python3-venv >/dev/null
    fi
    python3 -m venv "$venv"
fi
"$venv/bin/pip" install -q --disable-pip-version-check -r .ci/requirements.txt
echo "Python test packages are installed in $venv"
