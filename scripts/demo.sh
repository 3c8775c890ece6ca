#!/usr/bin/env bash
# Installs what is missing, builds svc and runs the example: a Kong
# declarative configuration loaded from C, and the peer each request gets.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh >/dev/null
cmake -S . -B build/demo -G Ninja -DCMAKE_BUILD_TYPE=Release -DSVC_BUILD_TESTS=OFF >/dev/null
cmake --build build/demo -j "${JOBS:-2}" --target svc_pick >/dev/null
exec build/demo/examples/pick examples/config.yaml
