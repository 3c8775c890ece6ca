#!/usr/bin/env bash
# Runs the Python suite against libsvc and the extension built with
# AddressSanitizer + UndefinedBehaviorSanitizer, leak detection on.
#
#   scripts/test-python-asan.sh [pytest args...]
#
# The package is built into build/python-asan (not installed: PYTHONPATH
# points at it) and the interpreter runs with the sanitizer runtimes
# preloaded. The interpreter itself keeps memory until exit on purpose
# (interned strings, type objects, module state), so LeakSanitizer reports
# are not suppressed by pattern (a pattern matching Python's frames would
# also hide svc's leaks, which are always called from Python). Instead every
# leak report is read and the run fails when any leaked block was allocated
# in libsvc or the extension. Any other sanitizer report fails the run.
# Ends with pytest's "N passed" line; exits non-zero on any failure.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PY=${PYTHON:-python3}
PY=$("$PY" -c 'import sys; print(sys.executable)')  # the interpreter, not a shim script
JOBS=${JOBS:-2}
OUT="$ROOT/build/python-asan"
SAN="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all"

echo "== svc Python package with ASan+UBSan -> $OUT/site"
"$PY" -m pip install -q --no-build-isolation --no-deps --upgrade --root-user-action=ignore \
  --target "$OUT/site" -C build-dir="$OUT/build" -C cmake.build-type=Debug \
  -C "cmake.define.CMAKE_CXX_FLAGS=$SAN" -C "cmake.define.CMAKE_C_FLAGS=$SAN" \
  -C "cmake.define.CMAKE_SHARED_LINKER_FLAGS=-fsanitize=address,undefined" \
  -C "cmake.define.CMAKE_BUILD_PARALLEL_LEVEL=$JOBS" "$ROOT"

# The helper programs come from the dev build (scripts/test.sh made it).
export SVC_TEST_PKI_BIN=${SVC_TEST_PKI_BIN:-$ROOT/build/dev/tests/svc-test-pki}
export SVC_TEST_BACKEND_BIN=${SVC_TEST_BACKEND_BIN:-$ROOT/build/dev/tests/svc-test-backend}
for b in "$SVC_TEST_PKI_BIN" "$SVC_TEST_BACKEND_BIN"; do
  [[ -x $b ]] || { echo "!! $b missing: build the dev preset first"; exit 1; }
done

LOGS=$(mktemp -d)
WORK=$(mktemp -d)
trap 'rm -rf "$LOGS" "$WORK"' EXIT
PRELOAD="$(gcc -print-file-name=libasan.so) $(gcc -print-file-name=libubsan.so)"
echo "== pytest under ASan+UBSan (reports in $LOGS while it runs)"
set +e
(cd "$WORK" && env LD_PRELOAD="$PRELOAD" PYTHONPATH="$OUT/site" PYTHONMALLOC=malloc \
  ASAN_OPTIONS="detect_leaks=1:log_path=$LOGS/san:abort_on_error=0" LSAN_OPTIONS="exitcode=0" \
  UBSAN_OPTIONS="print_stacktrace=1:log_path=$LOGS/san" \
  "$PY" -m pytest -c "$ROOT/pyproject.toml" --rootdir "$ROOT" -p no:cacheprovider \
  -W error --strict-markers "$ROOT/tests/python" "$@")
status=$?
set -e

shopt -s nullglob
reports=("$LOGS"/san*)
all() { ((${#reports[@]})) && cat "${reports[@]}" || true; }
# Leak blocks run from "Direct/Indirect leak of" to the next blank line.
ours=$(all | awk -v MINE='libsvc[.]so|_svc[.]cpython|svc::|/capi/src/|/bindings/python/|/cpp/(balance|config|engine|health|http|net|resolve|tls)/' '
  /^(Direct|Indirect) leak of/ { block = $0 "\n"; inblock = 1; next }
  inblock && NF == 0 { if (block ~ MINE) printf "%s\n", block; inblock = 0; next }
  inblock { block = block $0 "\n" }
  END { if (inblock && block ~ MINE) printf "%s\n", block }')
others=$(all | grep -E "ERROR: AddressSanitizer|runtime error:" || true)
leaks=$(all | grep -cE "^(Direct|Indirect) leak of" || true)
echo "sanitizers: $leaks leak blocks from the interpreter's own lifetime allocations (not svc's)" \
  "$( [[ -n $ours ]] && echo '+ LEAKS IN SVC' )"
if [[ -n $ours ]]; then
  echo "!! memory allocated by libsvc or the extension leaked:"
  echo "$ours"
  status=1
fi
if [[ -n $others ]]; then
  echo "!! sanitizer errors:"
  all
  status=1
fi
if [[ $status -eq 5 ]]; then
  echo "test-python-asan.sh: pytest collected no tests"
  status=1
fi
exit "$status"
