#!/usr/bin/env bash
# Installs what is missing, builds svc, its command-line tool and the local
# test backends, and runs `svc demo`: round-robin and consistent hashing over
# live backends, set_target, TLS verification with and without the CA, mTLS,
# and a backend killed mid-run with no request lost.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh >/dev/null
echo "building svc (first run: a few minutes)..."
cmake -S . -B build/demo -G Ninja -DCMAKE_BUILD_TYPE=Release -DSVC_BUILD_TESTS=ON -DSVC_BUILD_EXAMPLES=OFF >/dev/null
cmake --build build/demo -j "${JOBS:-2}" --target svc_cli svc_test_pki svc_test_backend >/dev/null
exec build/demo/capi/cli/svc demo --bin-dir build/demo/tests
