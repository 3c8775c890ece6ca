#!/usr/bin/env bash
# Benchmarks of svc's Go binding against net/http (bench/go/README.md).
# Builds the C library, the test PKI tool and the test backend (or uses
# $SVC_LIB_BUILD), installs the library into build/stage, starts three plain
# and three TLS svc-test-backend processes (--threads 2) on 127.0.0.1, runs
#   go test -run XXX -bench . -benchmem -count 3
# in bench/go (build/go-bench: Release) and prints a table (medians of the 3 runs) with the ratios.
# Extra arguments go to go test (e.g. -bench Send -count 5 -cpuprofile cpu.out).
set -euo pipefail
cd "$(dirname "$0")/../.."
bash scripts/install-deps.sh --bench >/dev/null
root=$PWD
JOBS=${JOBS:-2}

# An optimised (Release) build: the dev preset is a Debug build, whose Boost
# and OpenSSL glue is several times slower. $SVC_LIB_BUILD overrides it (a
# build directory with the svc, svc_test_pki and svc_test_backend targets).
LIB_BUILD=${SVC_LIB_BUILD:-}
if [[ -z $LIB_BUILD ]]; then
  echo "== C library, test PKI tool and test backend (Release) -> build/go-bench"
  cmake -S . -B build/go-bench -G Ninja -DCMAKE_BUILD_TYPE=Release -DSVC_BUILD_TESTS=ON \
        -DSVC_BUILD_EXAMPLES=OFF -DSVC_BUILD_CLI=OFF >/dev/null
  cmake --build build/go-bench --target svc svc_test_pki svc_test_backend -j "$JOBS" >/dev/null
  LIB_BUILD=build/go-bench
fi
[[ $LIB_BUILD = /* ]] || LIB_BUILD="$root/$LIB_BUILD"
stage="$root/build/go-bench-stage"
echo "== C library ($LIB_BUILD) -> $stage"
# (only the library matters: install steps of targets not built may fail)
cmake --install "$LIB_BUILD" --prefix "$stage" >/dev/null 2>&1 || true
[[ -f $stage/lib/pkgconfig/svc.pc ]] || { echo "!! no svc.pc in $stage"; exit 1; }
export PKG_CONFIG_PATH="$stage/lib/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
export LD_LIBRARY_PATH="$stage/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export CGO_ENABLED=1
backend_bin="$LIB_BUILD/tests/svc-test-backend"
pki_bin="$LIB_BUILD/tests/svc-test-pki"

tmp=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT
"$pki_bin" "$tmp/pki" >/dev/null

# start NAME ARGS...: starts a backend, sets addr to 127.0.0.1:PORT.
start() {
  local name=$1 out="$tmp/$1.out"
  shift
  "$backend_bin" --name "$name" --threads 2 --parent-pid $$ "$@" >"$out" 2>"$tmp/$name.err" &
  pids+=($!)
  for _ in $(seq 100); do
    if grep -q '^LISTENING' "$out" 2>/dev/null; then
      addr="127.0.0.1:$(awk '/^LISTENING/ {print $2}' "$out")"
      return
    fi
    sleep 0.05
  done
  echo "!! backend $name did not start: $(cat "$tmp/$name.err")" >&2
  exit 1
}
tlsopt=(--tls "$tmp/pki/server-chain.pem,$tmp/pki/server.key")
plain=() tls=()
for n in 1 2 3; do
  start "p$n"; plain+=("$addr")
  start "t$n" "${tlsopt[@]}"; tls+=("$addr")
done
export SVC_BENCH_PLAIN=$(IFS=,; echo "${plain[*]}")
export SVC_BENCH_TLS=$(IFS=,; echo "${tls[*]}")
export SVC_BENCH_CA="$tmp/pki/ca.pem"
echo "== backends: plain $SVC_BENCH_PLAIN; TLS $SVC_BENCH_TLS"

cd bench/go
echo "== go test -run XXX -bench . -benchmem -count 3 $*"
go test -run XXX -bench . -benchmem -count 3 "$@" | tee "$tmp/bench.txt"

# The table: median ns/op of the runs, ops/s, B/op, allocs/op, ratios.
awk '
  /^Benchmark/ {
    name = $1; sub(/-[0-9]+$/, "", name); sub(/^Benchmark/, "", name)
    for (i = 3; i < NF; i++) {
      if ($(i+1) == "ns/op") ns[name] = ns[name] " " $i
      if ($(i+1) == "B/op") bytes[name] = $i
      if ($(i+1) == "allocs/op") allocs[name] = $i
    }
    if (!(name in seen)) { seen[name] = 1; order[n++] = name }
  }
  function median(s,   a, k, i, j, t) {
    k = split(s, a, " ")
    for (i = 1; i <= k; i++) for (j = i + 1; j <= k; j++) if (a[j] + 0 < a[i] + 0) { t = a[i]; a[i] = a[j]; a[j] = t }
    return a[int((k + 1) / 2)]
  }
  END {
    printf "\n%-26s %12s %10s %9s %10s\n", "benchmark", "ns/op", "ops/s", "B/op", "allocs/op"
    for (i = 0; i < n; i++) {
      m = median(ns[order[i]]); med[order[i]] = m
      printf "%-26s %12.0f %10.0f %9s %10s\n", order[i], m, 1e9 / m, bytes[order[i]], allocs[order[i]]
    }
    printf "\n"
    split("plain tls", kinds, " ")
    split("plain tls plain-unlimited tls-unlimited plain-nospin tls-nospin", sends, " ")
    for (k = 1; k <= 6; k++) {
      s = "Send/" sends[k]; h = "NetHTTP/" (k % 2 ? "plain" : "tls")
      if (s in med && h in med)
        printf "Send/%s vs net/http: %.2fx ops/s (target >= 1.0)\n", sends[k], med[h] / med[s]
    }
    split("plain tls plain-nospin tls-nospin", dialers, " ")
    for (k = 1; k <= 4; k++) {
      s = "ClientSvcDialer/" dialers[k]; h = "ClientNetHTTP/" (k % 2 ? "plain" : "tls")
      if (s in med && h in med)
        printf "http.Client over svc dialer vs net/http (%s): %.2fx ops/s (target >= 0.9)\n", dialers[k], med[h] / med[s]
    }
  }' "$tmp/bench.txt"
