#!/usr/bin/env bash
# Builds and installs the C library into a staging prefix, builds the test
# PKI tool and the test backend (tests/support/backend.md), checks that the committed SWIG output in go/internal/capi is what
# bindings/go/svc.i and svc.h generate, then runs `go vet ./...` and
# `go test -race -count=1 ./...` in go/. Exits non-zero on any failure and
# when no test ran.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
JOBS=${JOBS:-2}

# The library, the test PKI tool and the test backend come from the dev
# build when the main test script made them; otherwise they are built here.
LIB_BUILD=${SVC_LIB_BUILD:-}
# (build/dev is used only when fully built, since its install step installs everything.)
if [[ -z $LIB_BUILD && -f build/dev/CMakeCache.txt && -x build/dev/tests/svc-test-pki &&
      -x build/dev/tests/svc-test-backend ]] && cmake --build build/dev -j "$JOBS" >/dev/null; then
  LIB_BUILD=build/dev
fi
if [[ -z $LIB_BUILD ]]; then
  echo "== C library, test PKI tool and test backend -> build/go-lib"
  cmake -S . -B build/go-lib -G Ninja -DSVC_BUILD_TESTS=ON -DSVC_BUILD_EXAMPLES=OFF -DSVC_BUILD_CLI=OFF >/dev/null
  cmake --build build/go-lib --target svc svc_test_pki svc_test_backend -j "$JOBS"
  LIB_BUILD=build/go-lib
fi
echo "== C library ($LIB_BUILD) -> build/stage"
cmake --install "$LIB_BUILD" --prefix build/stage >/dev/null
export SVC_TEST_PKI_BIN="$root/$LIB_BUILD/tests/svc-test-pki"
export SVC_TEST_BACKEND_BIN="$root/$LIB_BUILD/tests/svc-test-backend"

export PKG_CONFIG_PATH="$root/build/stage/lib/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
export LD_LIBRARY_PATH="$root/build/stage/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export CGO_ENABLED=1
[[ -x $SVC_TEST_PKI_BIN ]] || { echo "!! $SVC_TEST_PKI_BIN missing"; exit 1; }
[[ -x $SVC_TEST_BACKEND_BIN ]] || { echo "!! $SVC_TEST_BACKEND_BIN missing"; exit 1; }
pkg-config --exists svc || { echo "!! pkg-config cannot find svc"; exit 1; }

echo "== SWIG output is up to date (go/internal/capi vs bindings/go/svc.i + svc.h)"
gen=$(mktemp -d)
trap 'rm -rf "$gen"' EXIT
(cd go/internal/capi &&
  swig -go -cgo -intgosize 64 -module capi -I../../../capi/include \
    -o "$gen/capi_wrap.c" -outdir "$gen" ../../../bindings/go/svc.i &&
  gofmt -w "$gen/capi.go") # the same two steps as go:generate in doc.go
stale=0
for f in capi.go capi_wrap.c; do
  if ! diff -u "go/internal/capi/$f" "$gen/$f"; then
    stale=1
  fi
done
if ((stale)); then
  echo "!! go/internal/capi is stale: run 'go generate ./internal/capi' in go/ and commit"
  exit 1
fi

cd go
echo "== go vet ./..."
go vet ./...

echo "== go test -race -count=1 ./..."
log=$(mktemp)
set +e
go test -race -count=1 -v ./... 2>&1 | tee "$log" | grep -v '^=== RUN\|^--- PASS\|^    --- PASS'
rc=${PIPESTATUS[0]}
set -e
passed=$(grep -c -- '--- PASS' "$log" || true)
failed=$(grep -c -- '--- FAIL' "$log" || true)
skipped=$(grep -c -- '--- SKIP' "$log" || true)
rm -f "$log"
echo "go: $passed passed, $failed failed, $skipped skipped"
if [[ $rc -ne 0 ]]; then
  echo "!! go test failed"
  exit 1
fi
if [[ $passed -eq 0 ]]; then
  echo "!! no Go test ran"
  exit 1
fi
if [[ $skipped -ne 0 ]]; then
  echo "!! $skipped Go test(s) skipped"
  exit 1
fi
