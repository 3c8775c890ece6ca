#!/usr/bin/env sh
# Installs the svc Python package from this checkout into the current Python
# and runs the pytest suite (tests/python) from outside the repository, so the
# installed package is what gets imported.
#
#   scripts/test-python.sh [pytest args...]
#
# Environment:
#   PYTHON            interpreter to use (default: python3)
#   SVC_TEST_PKI_BIN  svc-test-pki binary for the TLS tests; when unset it is
#                     looked for in build/dev/tests, then built into
#                     build/python-pki (cmake, tests on) if missing.
#   SVC_TEST_BACKEND_BIN  svc-test-backend binary for the connect-mode tests
#                     (tests/support/backend.md); found or built the same way.
# Exits non-zero when the install or pytest fails, or when no test ran.
set -eu

ROOT=$(CDPATH= cd -- "$(dirname -- "$0")/.." && pwd)
PYTHON=${PYTHON:-python3}

# 1. Install. Without build isolation when the build requirements are present
#    (fast, offline, reuses build/python/), else let pip fetch them.
if "$PYTHON" -c 'import scikit_build_core, pybind11' >/dev/null 2>&1; then
  "$PYTHON" -m pip install --no-build-isolation "$ROOT"
else
  "$PYTHON" -m pip install "$ROOT"
fi
"$PYTHON" -c 'import pytest' >/dev/null 2>&1 || "$PYTHON" -m pip install pytest

# 2. The test PKI generator and the test backend.
PKI_BUILD="$ROOT/build/python-pki"
build_support() {  # build_support TARGET: builds a tests/support program into $PKI_BUILD
  cmake -S "$ROOT" -B "$PKI_BUILD" -G Ninja -DSVC_BUILD_TESTS=ON -DSVC_BUILD_EXAMPLES=OFF >/dev/null
  cmake --build "$PKI_BUILD" --target "$1" -j 2
}
if [ -z "${SVC_TEST_PKI_BIN:-}" ]; then
  if [ -x "$ROOT/build/dev/tests/svc-test-pki" ]; then
    SVC_TEST_PKI_BIN="$ROOT/build/dev/tests/svc-test-pki"
  else
    build_support svc_test_pki
    SVC_TEST_PKI_BIN="$PKI_BUILD/tests/svc-test-pki"
  fi
fi
if [ -z "${SVC_TEST_BACKEND_BIN:-}" ]; then
  if [ -x "$ROOT/build/dev/tests/svc-test-backend" ]; then
    SVC_TEST_BACKEND_BIN="$ROOT/build/dev/tests/svc-test-backend"
  else
    build_support svc_test_backend
    SVC_TEST_BACKEND_BIN="$PKI_BUILD/tests/svc-test-backend"
  fi
fi
export SVC_TEST_PKI_BIN SVC_TEST_BACKEND_BIN

# 3. Run pytest from a scratch directory: `import svc` must find the
#    installed package. The settings come from the repository's pyproject.toml.
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT INT TERM
cd "$WORK"
set +e
"$PYTHON" -m pytest -c "$ROOT/pyproject.toml" --rootdir "$ROOT" -p no:cacheprovider \
  -W error --strict-markers "$ROOT/tests/python" "$@"
status=$?
set -e
if [ "$status" -eq 5 ]; then
  echo "test-python.sh: pytest collected no tests" >&2
  exit 1
fi
exit "$status"
