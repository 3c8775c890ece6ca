#!/usr/bin/env bash
# Send-mode benchmark of the Python binding (bench/python/bench_send.py):
# svc's Request.send against urllib3, httpx and requests, plain and TLS, and
# the pick round trip. Installs the svc package from this checkout and the
# three client libraries when missing; builds the test backend and PKI
# generator (release preset) when missing. Extra arguments go to bench_send.py
# (e.g. -n 3000 --rounds 3 --breakdown --json out.json).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
PYTHON=${PYTHON:-python3}

if ! "$PYTHON" -c 'import urllib3, httpx, requests' >/dev/null 2>&1; then
  "$PYTHON" -m pip install urllib3 httpx requests
fi
if ! "$PYTHON" -c 'import svc; svc._svc.Request.send' >/dev/null 2>&1; then
  if "$PYTHON" -c 'import scikit_build_core, pybind11' >/dev/null 2>&1; then
    "$PYTHON" -m pip install --no-build-isolation "$ROOT"
  else
    "$PYTHON" -m pip install "$ROOT"
  fi
fi
if [ -z "${SVC_TEST_BACKEND_BIN:-}" ] || [ -z "${SVC_TEST_PKI_BIN:-}" ]; then
  (cd "$ROOT" && cmake --preset release >/dev/null &&
    cmake --build --preset release -j2 --target svc_test_pki svc_test_backend >/dev/null)
  export SVC_TEST_BACKEND_BIN=${SVC_TEST_BACKEND_BIN:-$ROOT/build/release/tests/svc-test-backend}
  export SVC_TEST_PKI_BIN=${SVC_TEST_PKI_BIN:-$ROOT/build/release/tests/svc-test-pki}
fi
# Outside the repository, so that `import svc` is the installed package.
cd /
bash "$ROOT/scripts/install-deps.sh" --bench >/dev/null
exec "$PYTHON" "$ROOT/bench/python/bench_send.py" "$@"
