#!/usr/bin/env bash
# Builds the release preset, runs svc_bench once and prints a compact table:
# CPU time per pick and its ratio to the atomic-counter baseline at the same
# target and thread count, allocations per pick, rebuild time, bytes/target.
# Extra arguments go to svc_bench (e.g. --benchmark_filter=pick/latency).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh --bench >/dev/null

cmake --preset release >/dev/null
cmake --build --preset release -j2 --target svc_bench

# Google Benchmark < 1.8 reads --benchmark_min_time as plain seconds ("0.2");
# 1.8 added the unit suffix ("0.2s") and warns on a bare number.
version=$(dpkg-query -W -f='${Version}' libbenchmark-dev 2>/dev/null || echo unknown)
case "$version" in
  1.[0-7].*) min_time=0.2 ;;
  *) min_time=0.2s ;;
esac

out=build/release/bench/svc_bench.json
build/release/bench/svc_bench --benchmark_min_time="$min_time" \
  --benchmark_out="$out" --benchmark_out_format=json "$@"

python3 - "$out" <<'EOF'
import json, re, sys

runs = json.load(open(sys.argv[1]))["benchmarks"]
scale = {"ns": 1.0, "us": 1e3, "ms": 1e6, "s": 1e9}

def parse(name):
    # "pick/round-robin/1000/threads:2" -> ("pick/round-robin", 1000, 2)
    m = re.match(r"(.+?)/(\d+)(?:/threads:(\d+))?$", name)
    return m.group(1), int(m.group(2)), int(m.group(3) or 1)

baseline = {}
for r in runs:
    base, n, t = parse(r["name"])
    if base == "pick/baseline" and not r.get("error_occurred"):
        baseline[(n, t)] = r["cpu_time"] * scale[r["time_unit"]]

print()
print(f"{'benchmark':<48}{'targets':>8}{'thr':>4}{'cpu/op':>12}{'x base':>8}{'allocs/op':>10}{'B/target':>10}")
for r in runs:
    base, n, t = parse(r["name"])
    if r.get("error_occurred"):
        print(f"{base:<48}{n:>8}{t:>4}  ERROR: {r.get('error_message', '')[:70]}")
        continue
    ns = r["cpu_time"] * scale[r["time_unit"]]
    cost = f"{ns / 1e6:.2f} ms" if r["time_unit"] == "ms" else f"{ns:.1f} ns"
    ratio = ""
    if base.startswith(("pick/", "engine/")):
        b = baseline.get((n, t)) or baseline.get((1000, t))
        ratio = f"{ns / b:.1f}x" if b else ""
    allocs = f"{r['allocs/pick']:.2f}" if "allocs/pick" in r else \
        (f"{r['allocs/build']:.0f}" if "allocs/build" in r else "")
    bpt = f"{r['bytes/target']:.0f}" if "bytes/target" in r else ""
    label = f"  ({r['label']})" if r.get("label") else ""
    print(f"{base:<48}{n:>8}{t:>4}{cost:>12}{ratio:>8}{allocs:>10}{bpt:>10}{label}")
EOF
