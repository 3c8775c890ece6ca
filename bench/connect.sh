#!/usr/bin/env bash
# Connection and request rates of svc's connect mode next to OpenSSL's
# s_time and libcurl, against the same local svc-test-backend processes:
#
#   full handshakes   svc_request_connect + release(0)   vs  openssl s_time -new
#   resumed           the same, every handshake resumed   vs  openssl s_time -reuse
#   pooled requests   HTTP/1.1 GETs through svc_conn_*    vs  one CURL easy handle
#   send mode         keepalive GETs through svc_request_send over an upstream
#                     of three backends (1 and 2 threads, one engine)
#                                                         vs  libcurl easy, one handle
#                                                             per backend in turn (per thread)
#
# Builds the release preset targets, writes a throwaway PKI, starts the
# backends (pinned to CPU 1; clients pinned to CPU 0, 1 I/O thread each): one
# per connect-mode case, three plain and three TLS for the send cases, runs
# svc and its competitor alternately ROUNDS times for
# SECONDS each (even rounds svc first, odd rounds the competitor first),
# prints the medians and ratios, stops the backends.
#
#   bench/connect.sh                 # every case, 3 rounds of 5 s
#   ROUNDS=5 SECONDS_PER_RUN=3 bench/connect.sh
#   bench/connect.sh full-1.3 pooled-tls   # only these cases
#   bench/connect.sh send                  # every send-* case
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh --bench >/dev/null

cmake --preset release >/dev/null
cmake --build --preset release -j2 --target svc svc_test_pki svc_test_backend svc_connect_bench

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
build/release/tests/svc-test-pki "$work/pki" >/dev/null

python3 - "$work" "$@" <<'EOF'
import os, re, resource, socket, statistics, subprocess, sys, time

work, wanted = sys.argv[1], sys.argv[2:]
rounds = int(os.environ.get("ROUNDS", "3"))
seconds = int(os.environ.get("SECONDS_PER_RUN", "5"))
server_cpu = os.environ.get("SERVER_CPU", "1")
client_cpu = os.environ.get("CLIENT_CPU", "0")
pki = os.path.join(work, "pki")
ca = os.path.join(pki, "ca.pem")
backend_bin = "build/release/tests/svc-test-backend"
bench_bin = "build/release/bench/svc_connect_bench"
tls = ["--tls", f"{pki}/server-chain.pem,{pki}/server.key"]

# name -> (backend flags, I/O threads, how many). --body keeps the answer
# small and constant, so the backend's share of each request is small and the
# same for both clients. The send cases use three of each (an upstream of
# three targets; curl cycles through three handles), 1 I/O thread each: all
# backends share one pinned CPU, where a second I/O thread per process only
# adds lock hand-offs and context switches (60% of a 2-thread backend's
# profile), which both clients then wait for.
backends = {
    "tls1.3-no-tickets": (tls + ["--session-tickets", "off"], 1, 1),
    "tls1.3-tickets": (tls + ["--session-tickets", "on"], 1, 1),
    "tls1.2-no-tickets": (tls + ["--tls-max", "1.2", "--session-tickets", "off"], 1, 1),
    "tls1.2-tickets": (tls + ["--tls-max", "1.2", "--session-tickets", "on"], 1, 1),
    "plain": ([], 1, 1),
    "3x-plain": ([], 1, 3),
    "3x-tls1.3": (tls, 1, 3),
}

# (case, backend, svc argv, competitor kind, competitor argv). {port} is filled in.
stime = ["openssl", "s_time", "-connect", "127.0.0.1:{port}", "-time", str(seconds), "-CAfile", ca]
cases = [
    ("full-1.3", "tls1.3-no-tickets", ["full", "--ca", ca], "s_time -new", stime + ["-new"]),
    ("full-1.2", "tls1.2-no-tickets", ["full", "--ca", ca], "s_time -new", stime + ["-new"]),
    ("resumed-1.2", "tls1.2-tickets", ["resumed", "--ca", ca], "s_time -reuse", stime + ["-reuse"]),
    ("resumed-1.3", "tls1.3-tickets", ["resumed", "--ca", ca], "s_time -reuse", stime + ["-reuse"]),
    ("pooled-plain", "plain", ["pooled"], "libcurl", ["curl"]),
    # TLS pooled cases use the backend without tickets: with tickets, the
    # first answer on a new TLS 1.3 connection waits ~40 ms for a delayed ACK
    # (the backend sends ticket and answer as two segments without
    # TCP_NODELAY), which svc's reconnect every keepalive.max_requests hits
    # and curl's never-ending connection does not. See bench/README.md.
    ("pooled-tls", "tls1.3-no-tickets", ["pooled", "--ca", ca], "libcurl", ["curl", "--ca", ca]),
    ("pooled-tls-unlimited", "tls1.3-no-tickets", ["pooled", "--ca", ca, "--max-requests", "0"], "libcurl",
     ["curl", "--ca", ca]),
]
# Send mode: svc_request_send over three backends vs libcurl round-robin.
# The headline rows use keepalive.max_requests 0 (libcurl never reconnects);
# the -default rows keep the engine default (100).
unlimited = ["--max-requests", "0"]
for thr in (1, 2):
    t = [] if thr == 1 else ["--threads", "2"]
    sfx = "" if thr == 1 else "-2thr"
    cases += [
        (f"send-plain{sfx}", "3x-plain", ["send"] + unlimited + t, "libcurl round-robin", ["curl-rr"] + t),
        (f"send-plain-default{sfx}", "3x-plain", ["send"] + t, "libcurl round-robin", ["curl-rr"] + t),
        (f"send-tls{sfx}", "3x-tls1.3", ["send", "--ca", ca] + unlimited + t, "libcurl round-robin",
         ["curl-rr", "--ca", ca] + t),
        (f"send-tls-default{sfx}", "3x-tls1.3", ["send", "--ca", ca] + t, "libcurl round-robin",
         ["curl-rr", "--ca", ca] + t),
        # svc with read_spin_us 0: every wait for a reply sleeps, as libcurl's does.
        (f"send-plain-nospin{sfx}", "3x-plain", ["send", "--spin-us", "0"] + unlimited + t, "libcurl round-robin",
         ["curl-rr"] + t),
        (f"send-tls-nospin{sfx}", "3x-tls1.3", ["send", "--ca", ca, "--spin-us", "0"] + unlimited + t,
         "libcurl round-robin", ["curl-rr", "--ca", ca] + t),
        # Not svc: blocking send + recv on raw sockets, the most a client that
        # sleeps while it waits can get from these backends on this machine.
        (f"send-plain-bound{sfx}", "3x-plain", ["raw"] + t, "libcurl round-robin", ["curl-rr"] + t),
    ]
if "send" in wanted:
    wanted = [w for w in wanted if w != "send"] + [c[0] for c in cases if c[0].startswith("send-")]
if wanted:
    unknown = set(wanted) - {c[0] for c in cases}
    if unknown:
        sys.exit(f"unknown case(s): {', '.join(sorted(unknown))}; known: {', '.join(c[0] for c in cases)}")
    cases = [c for c in cases if c[0] in wanted]

def pinned(cpu, argv):
    return ["taskset", "-c", cpu] + argv

def start_backend(flags, threads):
    p = subprocess.Popen(pinned(server_cpu, [backend_bin, "--threads", str(threads), "--body", "ok",
                                             "--exit-on-stdin-eof"] + flags),
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    line = p.stdout.readline()
    m = re.match(r"LISTENING (\d+)", line)
    if not m:
        p.kill()
        sys.exit(f"backend {flags} did not start: {line!r}")
    return p, int(m.group(1))

def child_cpu():
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime, ru.ru_stime

def backend_cpu(procs):
    # utime + stime of the backend processes, in seconds (/proc/PID/stat).
    total = 0
    for proc in procs:
        fields = open(f"/proc/{proc.pid}/stat").read().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")

def run_svc(argv, ports):
    where = ["--port", str(ports[0])] if len(ports) == 1 else ["--ports", ",".join(map(str, ports))]
    out = subprocess.run(pinned(client_cpu, [bench_bin] + argv + where + ["--seconds", str(seconds)]),
                         check=True, capture_output=True, text=True).stdout
    kv = dict(f.split("=", 1) for f in out.split())
    n, wall = int(kv["count"]), float(kv["wall_s"])
    user, sys_ = float(kv["user_s"]), float(kv["sys_s"])
    return {"rate": n / wall, "cpu_us": (user + sys_) / n * 1e6, "user_rate": n / user if user else 0,
            "n": n, "resumed": int(kv["resumed"]), "reused": int(kv["reused"]),
            "p50": float(kv.get("p50_us", -1)), "p99": float(kv.get("p99_us", -1))}

def closed_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port

def stime_overhead():
    # openssl's start-up and exit (config, providers, CA file): an s_time
    # whose first connect is refused. Subtracted from s_time's wall time.
    walls, cpus = [], []
    for _ in range(5):
        c0, t0 = child_cpu(), time.monotonic()
        argv = [a.replace("{port}", str(closed_port())) for a in stime + ["-new"]]
        subprocess.run(pinned(client_cpu, argv), capture_output=True)
        t1, c1 = time.monotonic(), child_cpu()
        walls.append(t1 - t0)
        cpus.append(c1[0] - c0[0] + c1[1] - c0[1])
    return statistics.median(walls), statistics.median(cpus)

def run_stime(argv, ports, overhead):
    argv = [a.replace("{port}", str(ports[0])) for a in argv]
    c0, t0 = child_cpu(), time.monotonic()
    out = subprocess.run(pinned(client_cpu, argv), check=True, capture_output=True, text=True).stdout
    t1, c1 = time.monotonic(), child_cpu()
    # The progress line has one character per connection: 'r' when the
    # session was resumed, '*' (or 't', '3' for old versions) when not.
    m = re.search(r"(\d+) connections in [\d.]+s; ([\d.]+) connections/user sec", out)
    if not m:
        sys.exit(f"cannot parse s_time output:\n{out}")
    n, user_rate = int(m.group(1)), float(m.group(2))
    resumed = sum(line.count("r") for line in re.findall(r"^[*rt3]+$", out, re.M))
    wall = (t1 - t0) - overhead[0]
    cpu = (c1[0] - c0[0] + c1[1] - c0[1]) - overhead[1]
    return {"rate": n / wall, "cpu_us": cpu / n * 1e6, "user_rate": user_rate, "n": n,
            "resumed": resumed, "reused": -1}

def run_curl(argv, ports):
    r = run_svc(argv, ports)
    r["resumed"] = -1
    return r

procs, ports = {}, {}
try:
    for name in sorted({c[1] for c in cases}):
        flags, threads, count = backends[name]
        started = [start_backend(flags, threads) for _ in range(count)]
        procs[name], ports[name] = [p for p, _ in started], [port for _, port in started]
    overhead = stime_overhead() if any(c[3].startswith("s_time") for c in cases) else (0, 0)
    load0 = os.getloadavg()
    loads = []
    results = {}
    for rnd in range(rounds):
        for case, backend, svc_argv, kind, comp_argv in cases:
            port, proc = ports[backend], procs[backend]
            def svc_run():
                return run_svc(svc_argv, port)
            def comp_run():
                return run_curl(comp_argv, port) if kind.startswith("libcurl") else run_stime(comp_argv, port, overhead)
            # Alternate who goes first, so a drift in the load favours neither.
            order = [("svc", svc_run), ("comp", comp_run)]
            if rnd % 2 == 1:
                order.reverse()
            got = {}
            for who, fn in order:
                b0 = backend_cpu(proc)
                got[who] = fn()
                got[who]["server_us"] = (backend_cpu(proc) - b0) / got[who]["n"] * 1e6
            svc, comp = got["svc"], got["comp"]
            results.setdefault(case, []).append((svc, comp))
            loads.append(os.getloadavg()[0])
            print(f"round {rnd + 1} {case:<26} svc {svc['rate']:>9.0f}/s   {kind:<22} {comp['rate']:>9.0f}/s"
                  f"   load {loads[-1]:.2f}", file=sys.stderr)
    load1 = os.getloadavg()
finally:
    for ps in procs.values():
        for p in ps:
            p.stdin.close()
            p.wait(timeout=10)

def med(runs, key):
    return statistics.median(r[key] for r in runs)

print()
print(f"rounds {rounds} x {seconds} s; backends on CPU {server_cpu}, clients on CPU {client_cpu}; "
      f"load average (1 min) before {load0[0]:.2f}, after {load1[0]:.2f}, during {min(loads):.2f}..{max(loads):.2f}; "
      f"s_time start-up subtracted: {overhead[0] * 1000:.0f} ms wall, {overhead[1] * 1000:.0f} ms CPU")
conn_cases = [c for c in cases if not c[0].startswith("send-")]
send_cases = [c for c in cases if c[0].startswith("send-")]
if conn_cases:
    print()
hdr = (f"{'case':<22}{'client':<24}{'per s (wall)':>13}{'min..max':>17}{'CPU us/op':>11}{'srv us/op':>11}"
       f"{'per user-s':>12}{'resumed/reused':>16}{'x (wall)':>10}{'x (CPU)':>9}")
if conn_cases:
    print(hdr)
for case, backend, svc_argv, kind, comp_argv in conn_cases:
    runs = results[case]
    rows = [("svc", [s for s, c in runs]), (kind, [c for s, c in runs])]
    svc_rate, comp_rate = med(rows[0][1], "rate"), med(rows[1][1], "rate")
    svc_cpu, comp_cpu = med(rows[0][1], "cpu_us"), med(rows[1][1], "cpu_us")
    for i, (client, rs) in enumerate(rows):
        rates = [r["rate"] for r in rs]
        spread = f"{min(rates):.0f}..{max(rates):.0f}"
        n = sum(r["n"] for r in rs)
        flags = ""
        if rs[0]["resumed"] >= 0:
            flags = f"{sum(r['resumed'] for r in rs) / n * 100:.0f}% res"
        elif rs[0]["reused"] >= 0:
            flags = f"{sum(r['reused'] for r in rs) / n * 100:.1f}% reu"
        ratio = f"{svc_rate / comp_rate:.2f}" if i == 0 else ""
        cratio = f"{comp_cpu / svc_cpu:.2f}" if i == 0 else ""
        print(f"{case if i == 0 else '':<22}{client:<24}{med(rs, 'rate'):>13.0f}{spread:>17}{med(rs, 'cpu_us'):>11.1f}{med(rs, 'server_us'):>11.1f}"
              f"{med(rs, 'user_rate'):>12.0f}{flags:>16}{ratio:>10}{cratio:>9}")

if send_cases:
    print()
    print("send mode: 3 backends (svc-test-backend --threads 1 each), sequential keepalive GETs per client thread")
    print()
    print(f"{'case':<26}{'client':<22}{'thr':>4}{'req/s (wall)':>13}{'min..max':>15}{'p50 us':>9}{'p99 us':>9}"
          f"{'CPU us/req':>11}{'srv us/req':>11}{'reused':>9}{'svc/curl':>10}{'x (CPU)':>9}")
for case, backend, svc_argv, kind, comp_argv in send_cases:
    runs = results[case]
    thr = 2 if "--threads" in svc_argv else 1
    rows = [("svc", [s for s, c in runs]), (kind, [c for s, c in runs])]
    svc_rate, comp_rate = med(rows[0][1], "rate"), med(rows[1][1], "rate")
    svc_cpu, comp_cpu = med(rows[0][1], "cpu_us"), med(rows[1][1], "cpu_us")
    label = "svc (max_requests 0)" if "--max-requests" in svc_argv else "svc (default 100)"
    if "--spin-us" in svc_argv:
        label = "svc (no read spin)"
    if svc_argv[0] == "raw":
        label = "raw sockets (bound)"
    for i, (client, rs) in enumerate(rows):
        rates = [r["rate"] for r in rs]
        spread = f"{min(rates):.0f}..{max(rates):.0f}"
        n = sum(r["n"] for r in rs)
        reu = f"{sum(r['reused'] for r in rs) / n * 100:.1f}%" if rs[0]["reused"] >= 0 else "-"
        ratio = f"{svc_rate / comp_rate:.2f}" if i == 0 else ""
        cratio = f"{comp_cpu / svc_cpu:.2f}" if i == 0 else ""
        print(f"{case if i == 0 else '':<26}{label if i == 0 else client:<22}{thr:>4}{med(rs, 'rate'):>13.0f}{spread:>15}"
              f"{med(rs, 'p50'):>9.1f}{med(rs, 'p99'):>9.1f}{med(rs, 'cpu_us'):>11.1f}{med(rs, 'server_us'):>11.1f}"
              f"{reu:>9}{ratio:>10}{cratio:>9}")

print()
print("x (wall), svc/curl: svc rate / competitor rate, wall clock, medians. x (CPU): competitor CPU per op /")
print("svc CPU per op (client process only, user+sys; > 1 means svc is cheaper). srv us/op: the")
print("backend's CPU per op during that client's run (10 ms clock ticks, so coarse for short runs).")
print("send-*-nospin: svc with read_spin_us 0 (max_requests 0), every wait for a reply sleeps.")
print("send-plain-bound: not svc but blocking send+recv on raw sockets (2 system calls, no parsing): the")
print("upper limit for a client that sleeps while it waits; svc's read spin goes past it.")
print("p50/p99: median over the rounds of each run's per-request latency percentiles (all threads pooled).")
EOF
