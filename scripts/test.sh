#!/usr/bin/env bash
# `npm test`: vitest, under a virtual X server when there is no display, so that the headless-gl
# GPU tests can run (Mesa llvmpipe). Without xvfb-run they are skipped with the reason printed;
# under CI=true headless-gl and Chromium WebGL2 are required, so CI fails instead.
# Arguments go to `vitest run` (e.g. scripts/test.sh test/gpu).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
vitest="$root/node_modules/.bin/vitest"

if [ -n "${DISPLAY:-}" ]; then
  echo "test: using DISPLAY=$DISPLAY for the headless-gl GPU tests"
  exec "$vitest" run "$@"
fi
if command -v xvfb-run >/dev/null 2>&1 && xvfb-run -a true >/dev/null 2>&1; then
  echo "test: running under xvfb-run -a (virtual X server for the headless-gl GPU tests)"
  exec xvfb-run -a "$vitest" run "$@"
fi
if command -v xvfb-run >/dev/null 2>&1; then
  echo "test: xvfb-run is installed but could not start Xvfb; the headless-gl GPU tests will be skipped"
else
  echo "test: no X server and no xvfb-run (apt install xvfb xauth); the headless-gl GPU tests will be skipped"
fi
exec "$vitest" run "$@"
