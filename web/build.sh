#!/usr/bin/env bash
# Rebuilds the web app into ../modeler-api/web-dist, which the sluice binary embeds (see
# ../modeler-api/src/web.rs). Needs Node.js and npm at development time only: the output is
# committed, so `cargo build` alone works on a fresh clone. The packages come pinned from
# package-lock.json (`npm ci`).
set -euo pipefail
cd "$(dirname "$0")"
npm ci --no-audit --no-fund --loglevel=error
node build.mjs
