#!/usr/bin/env bash
# Installs what is missing, builds svc and runs every test suite: the C++
# engine suites, the C ABI suites, header, symbol and install tests (dev
# build), the Python suite (pytest on the installed package), the Go suite
# (go vet, go test -race), then the C++, C and Python suites again under
# ASan+UBSan (leak detection on), the concurrency tests under TSan, and
# every libFuzzer target for FUZZ_SECONDS (60) each. Exits non-zero when
# any suite fails or when a suite ran no test.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh

JOBS=${JOBS:-2}
passed=0
failed=0
failures=()

# Runs one ctest preset; adds its counts to the totals.
run_ctest() {
  local preset=$1
  echo "== configure and build: $preset"
  cmake --preset "$preset" >/dev/null
  cmake --build --preset "$preset" -j "$JOBS"
  echo "== test: $preset"
  local log
  log=$(mktemp)
  set +e
  ctest --preset "$preset" -j "$JOBS" 2>&1 | tee "$log"
  local rc=${PIPESTATUS[0]}
  set -e
  local total fails
  total=$(sed -n 's/.*tests failed out of \([0-9][0-9]*\).*/\1/p' "$log" | tail -1)
  fails=$(sed -n 's/.* \([0-9][0-9]*\) tests failed out of.*/\1/p' "$log" | tail -1)
  rm -f "$log"
  if [[ -z "$total" || "$total" -eq 0 ]]; then
    echo "!! $preset: no test ran"
    failed=$((failed + 1)); failures+=("$preset (no tests)")
    return
  fi
  passed=$((passed + total - fails))
  failed=$((failed + fails))
  if [[ $rc -ne 0 || $fails -ne 0 ]]; then failures+=("$preset"); fi
}

# Runs a binding's script; its closing line "<word>: N passed, M failed"
# or pytest's "N passed" adds to the totals.
run_suite() {
  local name=$1 script=$2
  echo "== test: $name"
  local log
  log=$(mktemp)
  set +e
  bash "$script" "${@:3}" 2>&1 | tee "$log"
  local rc=${PIPESTATUS[0]}
  set -e
  local p f
  p=$(grep -Eo '[0-9]+ passed' "$log" | tail -1 | grep -Eo '[0-9]+' || true)
  f=$(grep -Eo '[0-9]+ failed' "$log" | tail -1 | grep -Eo '[0-9]+' || true)
  rm -f "$log"
  passed=$((passed + ${p:-0}))
  failed=$((failed + ${f:-0}))
  if [[ $rc -ne 0 || -z "$p" || "${p:-0}" -eq 0 ]]; then
    failures+=("$name")
    [[ -n "$f" && "$f" -ne 0 ]] || failed=$((failed + 1))
  fi
}

# The concurrency tests again under ThreadSanitizer.
run_tsan() {
  echo "== configure and build: tsan (concurrency tests)"
  cmake --preset tsan >/dev/null
  cmake --build --preset tsan -j "$JOBS" --target svc_cpp_tests svc_test_backend
  echo "== test: tsan"
  local log
  log=$(mktemp)
  set +e
  TSAN_OPTIONS="halt_on_error=1" build/tsan/tests/svc_cpp_tests \
    --gtest_filter='Concurrency*:*Concurrent*:*Thread*' 2>&1 | tee "$log"
  local rc=${PIPESTATUS[0]}
  set -e
  local p
  p=$(sed -n 's/^\[  PASSED  \] \([0-9][0-9]*\) test.*/\1/p' "$log" | tail -1)
  rm -f "$log"
  if [[ $rc -ne 0 || -z "$p" ]]; then
    failures+=("tsan"); failed=$((failed + 1))
  else
    passed=$((passed + p))
  fi
}

run_ctest dev
run_suite python scripts/test-python.sh
run_suite go scripts/test-go.sh
run_ctest asan-ubsan
run_suite python-asan scripts/test-python-asan.sh
run_tsan
# libFuzzer: the committed crash reproducers, then each target for a while.
run_suite fuzz scripts/fuzz.sh "${FUZZ_SECONDS:-60}"

# The reliability figures the fault tests printed (RELIABILITY.md quotes them).
for preset in dev asan-ubsan; do
  log=build/$preset/Testing/Temporary/LastTest.log
  [[ -f $log ]] && grep -h '^FAULTS' "$log" | sed "s/^/$preset: /" || true
done

echo
if ((${#failures[@]})); then
  echo "failed suites: ${failures[*]}"
fi
echo "total: $passed passed, $failed failed"
[[ $failed -eq 0 && ${#failures[@]} -eq 0 ]]
