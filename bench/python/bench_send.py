"""Send-mode speed of the Python binding against the usual Python HTTP clients.

Three svc-test-backend processes (--threads 1 --body ok, a Release build)
serve plain HTTP and three serve TLS on loopback. Each client does sequential keep-alive GETs of the same
path, round-robin over the three backends:

* svc:      a new Request per GET (set_upstream, [set_scheme,
            set_tls_verify_store,] send), the engine balancing over an
            upstream of the three backends;
* urllib3:  one PoolManager, urls[i % 3];
* httpx:    one Client, urls[i % 3];
* requests: one Session, urls[i % 3].

Every client verifies the TLS backends against the test CA and reads the
whole body. Each (client, transport) runs a warm-up, then ROUNDS rounds of N
requests; the median round is reported in microseconds per request. Also
measured: the pick round trip (engine.request(), set_upstream, pick) and,
with --breakdown, where the time of one svc send goes.

    python3 bench_send.py [-n 3000] [--rounds 3] [--warmup 300] [--json FILE] [--breakdown]

Binaries: $SVC_TEST_BACKEND_BIN and $SVC_TEST_PKI_BIN, else
build/release/tests/svc-test-{backend,pki} of this checkout (run.sh builds
them). A Debug backend answering with its JSON info spent ~250 µs of every
request, the same for every client, and so hid most of the clients' own
differences.
"""

from __future__ import annotations

import argparse
import json
import os
import selectors
import signal
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import svc

REPO = Path(__file__).resolve().parents[2]


def binary(env: str, name: str) -> str:
    path = os.environ.get(env) or str(REPO / "build" / "release" / "tests" / name)
    if not Path(path).is_file():
        sys.exit(f"bench_send: {name} not found at {path}: build it (cmake --preset release && "
                 f"cmake --build --preset release --target svc_test_pki svc_test_backend) or set {env}")
    return path


class Backend:
    def __init__(self, name: str, args: list[str]) -> None:
        self.proc = subprocess.Popen(
            [binary("SVC_TEST_BACKEND_BIN", "svc-test-backend"), "--name", name, "--threads", "1", "--body", "ok",
             "--exit-on-stdin-eof", "--parent-pid", str(os.getpid()), *args],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )
        assert self.proc.stdout is not None
        line = b""
        with selectors.DefaultSelector() as sel:
            sel.register(self.proc.stdout, selectors.EVENT_READ)
            while not line.endswith(b"\n"):
                if not sel.select(10):
                    sys.exit(f"bench_send: backend {name} did not start")
                chunk = os.read(self.proc.stdout.fileno(), 256)
                if not chunk:
                    sys.exit(f"bench_send: backend {name} exited: {self.proc.stderr.read()!r}")  # type: ignore[union-attr]
                line += chunk
        self.port = int(line.split()[1])

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(10)


def interleaved_us(runs: dict[str, Callable[[int], None]], n: int, rounds: int, warmup: int) -> dict[str, float]:
    """Median µs per request of each run; the rounds are interleaved (round 1
    of every run, then round 2, ...) so that a change in machine load hits
    every client alike."""
    for fn in runs.values():
        fn(warmup)
    times: dict[str, list[float]] = {k: [] for k in runs}
    for _ in range(rounds):
        for k, fn in runs.items():
            t0 = time.perf_counter()
            fn(n)
            times[k].append((time.perf_counter() - t0) / n * 1e6)
            print(f"  {k:16s} {times[k][-1]:8.1f} µs/request", file=sys.stderr)
    return {k: statistics.median(v) for k, v in times.items()}


def median_us(fn: Callable[[int], None], n: int, rounds: int, warmup: int) -> float:
    fn(warmup)
    times = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        fn(n)
        times.append((time.perf_counter() - t0) / n * 1e6)
    return statistics.median(times)


# ----- the clients ---------------------------------------------------------------


def raw_client(ports: list[int], ca: str, tls: bool) -> Callable[[int], None]:
    """The floor: one keep-alive socket per backend, a fixed request, the
    response read up to its Content-Length. No HTTP library at all."""
    import socket

    socks = []
    ctx = ssl.create_default_context(cafile=ca)
    for port in ports:
        s = socket.create_connection(("127.0.0.1", port))
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        socks.append(ctx.wrap_socket(s, server_hostname="127.0.0.1") if tls else s)
    wire = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"

    def run(n: int) -> None:
        for i in range(n):
            s = socks[i % 3]
            s.sendall(wire)
            buf = s.recv(65536)
            while b"\r\n\r\n" not in buf:
                buf += s.recv(65536)
            head, _, body = buf.partition(b"\r\n\r\n")
            length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
            while len(body) < length:
                body += s.recv(65536)

    return run



def svc_client(engine: svc.Engine, upstream: str, tls: bool, store: svc.TrustStore | None) -> Callable[[int], None]:
    def run(n: int) -> None:
        for _ in range(n):
            r = engine.request()
            r.set_upstream(upstream)
            if tls:
                r.set_scheme("https")
                r.set_tls_verify_store(store)  # type: ignore[arg-type]
            res = r.send("GET", "/")
            r.close()
            if res.status != 200:
                raise RuntimeError(f"svc: status {res.status}")

    return run


def urllib3_client(urls: list[str], ca: str) -> Callable[[int], None]:
    import urllib3

    pm = urllib3.PoolManager(cert_reqs="CERT_REQUIRED", ca_certs=ca)

    def run(n: int) -> None:
        for i in range(n):
            res = pm.request("GET", urls[i % 3])
            if res.status != 200 or not res.data:
                raise RuntimeError(f"urllib3: status {res.status}")

    return run


def httpx_client(urls: list[str], ca: str) -> Callable[[int], None]:
    import httpx

    client = httpx.Client(verify=ssl.create_default_context(cafile=ca))

    def run(n: int) -> None:
        for i in range(n):
            res = client.get(urls[i % 3])
            if res.status_code != 200 or not res.content:
                raise RuntimeError(f"httpx: status {res.status_code}")

    return run


def requests_client(urls: list[str], ca: str) -> Callable[[int], None]:
    import requests

    session = requests.Session()

    def run(n: int) -> None:
        for i in range(n):
            # verify per call: a session's verify loses to $REQUESTS_CA_BUNDLE
            res = session.get(urls[i % 3], verify=ca)
            if res.status_code != 200 or not res.content:
                raise RuntimeError(f"requests: status {res.status_code}")

    return run


# ----- pick and breakdown ----------------------------------------------------------------


def pick_round_trip_us(engine: svc.Engine, n: int, rounds: int) -> float:
    def run(k: int) -> None:
        request = engine.request
        for _ in range(k):
            r = request()
            r.set_upstream("pick")
            r.pick()

    return median_us(run, n, rounds, n // 10)


def breakdown(engine: svc.Engine, n: int) -> dict[str, float]:
    """µs per step of one plain svc send, each timed separately over n sends."""
    steps = {"request()": 0.0, "set_upstream": 0.0, "send": 0.0, "close": 0.0}
    pc = time.perf_counter
    for _ in range(n):
        t0 = pc()
        r = engine.request()
        t1 = pc()
        r.set_upstream("plain")
        t2 = pc()
        r.send("GET", "/")
        t3 = pc()
        r.close()
        t4 = pc()
        steps["request()"] += t1 - t0
        steps["set_upstream"] += t2 - t1
        steps["send"] += t3 - t2
        steps["close"] += t4 - t3
    return {k: v / n * 1e6 for k, v in steps.items()}


# ----- main ---------------------------------------------------------------------------------


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-n", type=int, default=3000, help="requests per round (default 3000)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--warmup", type=int, default=300)
    ap.add_argument("--picks", type=int, default=100_000, help="pick round trips per round")
    ap.add_argument("--json", help="also write the results to this file")
    ap.add_argument("--breakdown", action="store_true", help="time the steps of one svc send")
    args = ap.parse_args()

    pki = Path(tempfile.mkdtemp(prefix="svc-bench-pki-"))
    subprocess.run([binary("SVC_TEST_PKI_BIN", "svc-test-pki"), str(pki)], check=True, capture_output=True)
    ca = str(pki / "ca.pem")
    tls = ["--tls", f"{pki / 'server-chain.pem'},{pki / 'server.key'}"]
    backends: list[Backend] = []
    results: dict[str, Any] = {"n": args.n, "rounds": args.rounds, "warmup": args.warmup, "us_per_request": {}}
    try:
        plain = [Backend(f"p{i}", []) for i in range(3)]
        backends += plain
        secure = [Backend(f"t{i}", tls) for i in range(3)]
        backends += secure

        store = svc.TrustStore()
        store.load_file(ca)

        def make_engine(options: dict[str, Any]) -> svc.Engine:
            e = svc.Engine({"tls": {"trust": "none"}, **options})
            e.upsert_upstream({"name": "plain"})
            e.upsert_upstream({"name": "tls"})
            e.upsert_upstream({"name": "pick"})
            for b in plain:
                e.add_target("plain", f"127.0.0.1:{b.port}")
            for b in secure:
                e.add_target("tls", f"127.0.0.1:{b.port}")
            for i in range(3):
                e.add_target("pick", f"10.0.0.{i + 1}:8000")
            return e

        # Like the other clients, keep each connection for the whole run; the
        # Kong default (keepalive.max_requests 100) is measured on its own row.
        engine = make_engine({"keepalive": {"max_requests": 1_000_000}})
        kong_engine = make_engine({})
        # The same without the read spin: what svc costs when every wait sleeps.
        sleep_engine = make_engine({"keepalive": {"max_requests": 1_000_000}, "read_spin_us": 0})

        urls = {
            "plain": [f"http://127.0.0.1:{b.port}/" for b in plain],
            "tls": [f"https://127.0.0.1:{b.port}/" for b in secure],
        }
        ports = {"plain": [b.port for b in plain], "tls": [b.port for b in secure]}
        clients: dict[str, Callable[[str], Callable[[int], None]]] = {
            "svc": lambda t: svc_client(engine, t, t == "tls", store),
            "svc max_requests=100": lambda t: svc_client(kong_engine, t, t == "tls", store),
            "svc read_spin_us=0": lambda t: svc_client(sleep_engine, t, t == "tls", store),
            "urllib3": lambda t: urllib3_client(urls[t], ca),
            "httpx": lambda t: httpx_client(urls[t], ca),
            "requests": lambda t: requests_client(urls[t], ca),
            "raw socket": lambda t: raw_client(ports[t], ca, t == "tls"),
        }
        runs = {f"{name}/{t}": make(t) for name, make in clients.items() for t in ("plain", "tls")}
        medians = interleaved_us(runs, args.n, args.rounds, args.warmup)
        table: dict[str, dict[str, float]] = {
            name: {t: medians[f"{name}/{t}"] for t in ("plain", "tls")} for name in clients
        }
        results["us_per_request"] = table
        results["pick_round_trip_us"] = pick_round_trip_us(engine, args.picks, args.rounds)
        if args.breakdown:
            results["svc_send_breakdown_us"] = breakdown(engine, args.n)
        engine.close()
        kong_engine.close()
    finally:
        for b in backends:
            b.stop()

    print(f"\nsequential keep-alive GETs, round-robin over 3 backends, median of {args.rounds} rounds "
          f"of {args.n} (after {args.warmup} warm-up)\n")
    print("| client | plain µs/req | plain req/s | svc speed-up | TLS µs/req | TLS req/s | svc speed-up |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, row in table.items():
        cells = []
        for t in ("plain", "tls"):
            us = row[t]
            cells += [f"{us:.1f}", f"{1e6 / us:,.0f}", f"{us / table['svc'][t]:.2f}×"]
        print(f"| {name} | " + " | ".join(cells) + " |")
    print("\nsvc: keepalive.max_requests 1000000, like the other clients' unbounded keep-alive; "
          "svc max_requests=100: the engine default (Kong's), a new connection every 100 requests; "
          "svc read_spin_us=0: every wait for a reply sleeps at once, as the other clients' do")
    print("raw socket: no HTTP library, blocking recv: the floor for a client that sleeps while it waits")
    print(f"\npick round trip (engine.request(), set_upstream, pick): {results['pick_round_trip_us']:.2f} µs")
    if args.breakdown:
        print("svc send breakdown (µs): " + ", ".join(
            f"{k} {v:.1f}" for k, v in results["svc_send_breakdown_us"].items()))
    targets = {
        "svc >= 2x urllib3 (plain)": table["urllib3"]["plain"] / table["svc"]["plain"] >= 2,
        "svc >= 2x urllib3 (TLS)": table["urllib3"]["tls"] / table["svc"]["tls"] >= 2,
        "svc >= 3x httpx (plain)": table["httpx"]["plain"] / table["svc"]["plain"] >= 3,
        "svc >= 3x httpx (TLS)": table["httpx"]["tls"] / table["svc"]["tls"] >= 3,
        "svc >= 3x requests (plain)": table["requests"]["plain"] / table["svc"]["plain"] >= 3,
        "svc >= 3x requests (TLS)": table["requests"]["tls"] / table["svc"]["tls"] >= 3,
        "pick round trip < 2 µs": results["pick_round_trip_us"] < 2,
    }
    results["targets"] = targets
    print("\n" + "\n".join(f"{'met   ' if ok else 'MISSED'} {name}" for name, ok in targets.items()))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
