#!/usr/bin/env bash
# Builds the libFuzzer targets (preset `fuzz`: clang, ASan + UBSan) and runs
# each one for a while on a copy of its seed corpus. The committed crash
# reproducers in fuzz/regressions/<target>/ run first.
#   scripts/fuzz.sh [seconds-per-target]     (default 60)
# Prints "fuzz <target>: <N> executions, <K> crashes" per target and
# "fuzz: N passed, M failed"; exits non-zero when a target crashed, leaked,
# timed out or ran out of memory. Findings go to build/fuzz/run/<target>/artifacts/.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
SECONDS_PER_TARGET=${1:-60}
if ! [[ $SECONDS_PER_TARGET =~ ^[0-9]+$ ]] || ((SECONDS_PER_TARGET < 1)); then
  echo "usage: scripts/fuzz.sh [seconds-per-target]" >&2
  exit 2
fi

scripts/install-deps.sh
cmake --preset fuzz >/dev/null
cmake --build --preset fuzz -j2

BIN=$ROOT/build/fuzz/fuzz
RUN=$ROOT/build/fuzz/run
# target:max_len. Inputs longer than max_len are never tried; these cover the
# largest seed of each corpus with room to grow.
TARGETS=(declarative:8192 upstream:4096 pem:16384 response:16385 setters:4096)

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1}

passed=0
failed=0
for entry in "${TARGETS[@]}"; do
  target=${entry%%:*}
  max_len=${entry##*:}
  bin=$BIN/fuzz_$target
  dir=$RUN/$target
  rm -rf "$dir"
  mkdir -p "$dir/corpus" "$dir/artifacts"
  crashes=0

  # 1. Every committed reproducer must pass (libFuzzer runs each file once).
  shopt -s nullglob
  regressions=("$ROOT/fuzz/regressions/$target"/*)
  shopt -u nullglob
  if ((${#regressions[@]})); then
    if ! "$bin" -timeout=10 "${regressions[@]}" >"$dir/regressions.log" 2>&1; then
      crashes=$((crashes + 1))
      echo "fuzz $target: a regression input fails again:" >&2
      tail -n 40 "$dir/regressions.log" >&2
    fi
  fi

  # 2. Fuzz a copy of the seeds: new corpus files stay out of the repository.
  cp "$ROOT/fuzz/corpus/$target"/* "$dir/corpus/"
  args=(-max_total_time="$SECONDS_PER_TARGET" -max_len="$max_len" -timeout=10 -rss_limit_mb=2048
        -print_final_stats=1 -artifact_prefix="$dir/artifacts/")
  [[ -f $ROOT/fuzz/dict/$target.dict ]] && args+=(-dict="$ROOT/fuzz/dict/$target.dict")
  status=0
  "$bin" "${args[@]}" "$dir/corpus" >"$dir/fuzz.log" 2>&1 || status=$?

  executions=$(sed -n 's/^stat::number_of_executed_units: *//p' "$dir/fuzz.log" | tail -n 1)
  if [[ -z $executions ]]; then  # no final stats: take the last "#N ..." status line
    executions=$(grep -oE '^#[0-9]+' "$dir/fuzz.log" | tail -n 1 | tr -d '#')
  fi
  findings=$(find "$dir/artifacts" -type f \( -name 'crash-*' -o -name 'leak-*' -o -name 'timeout-*' \
             -o -name 'oom-*' \) | wc -l)
  # A failing exit without an artifact (the fuzzer itself died) is a finding too.
  if ((status != 0 && findings == 0)); then findings=1; fi
  crashes=$((crashes + findings))
  echo "fuzz $target: ${executions:-0} executions, $crashes crashes"
  if ((crashes)); then
    failed=$((failed + 1))
    if ((findings)); then
      echo "fuzz $target: log $dir/fuzz.log, inputs in $dir/artifacts/" >&2
      grep -E -A 30 'ERROR: |runtime error|invariant failed' "$dir/fuzz.log" | head -n 60 >&2 || true
    fi
  else
    passed=$((passed + 1))
  fi
done

echo "fuzz: $passed passed, $failed failed"
((failed == 0))
