"""Shared fixtures of the Python suite: engines, the throwaway test PKI, test
backends (svc-test-backend processes on loopback), and a recorder for events
that arrive on engine threads."""

from __future__ import annotations

import os
import selectors
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Callable

import pytest

import svc

REPO = Path(__file__).resolve().parents[2]
# Engines created without dns.servers ask 127.0.0.1:1, where nothing answers:
# no lookup of the suite ever leaves loopback.
os.environ.setdefault("SVC_DNS_SERVERS", "127.0.0.1:1")
# Helper processes (test backend, PKI tool, dnsmasq) are not under test: when
# the suite runs with the sanitizer runtime preloaded (scripts/test-python-asan.sh),
# they start without it.
HELPER_ENV = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"}
WAIT_SECONDS = 10.0  # bound of every wait for an engine-thread event


@pytest.fixture
def engine() -> Iterator[svc.Engine]:
    e = svc.Engine()
    yield e
    e.close()


@pytest.fixture
def engine_a(engine: svc.Engine) -> svc.Engine:
    """An engine with upstream "a" holding target 10.0.0.1:8000."""
    engine.upsert_upstream({"name": "a"})
    engine.add_target("a", "10.0.0.1")
    return engine


def _pki_binary() -> Path:
    env = os.environ.get("SVC_TEST_PKI_BIN")
    if env:
        return Path(env)
    return REPO / "build" / "dev" / "tests" / "svc-test-pki"


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The directory of the throwaway PKI written by svc-test-pki
    ($SVC_TEST_PKI_BIN, else build/dev/tests/svc-test-pki)."""
    binary = _pki_binary()
    if not binary.is_file():
        pytest.fail(f"svc-test-pki not found at {binary}: build the tests or set SVC_TEST_PKI_BIN")
    out = tmp_path_factory.mktemp("pki")
    subprocess.run([str(binary), str(out)], check=True, capture_output=True, timeout=60, env=HELPER_ENV)
    return out


def _backend_binary() -> Path:
    env = os.environ.get("SVC_TEST_BACKEND_BIN")
    if env:
        return Path(env)
    return REPO / "build" / "dev" / "tests" / "svc-test-backend"


@pytest.fixture(scope="session")
def self_signed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory holding self-signed.pem and self-signed.key, written by
    ``svc-test-backend --write-self-signed DIR``."""
    binary = _backend_binary()
    if not binary.is_file():
        pytest.fail(f"svc-test-backend not found at {binary}: build the tests or set SVC_TEST_BACKEND_BIN")
    out = tmp_path_factory.mktemp("self-signed")
    subprocess.run(
        [str(binary), "--write-self-signed", str(out)], check=True, capture_output=True, timeout=60, env=HELPER_ENV
    )
    for name in ("self-signed.pem", "self-signed.key"):
        if not (out / name).is_file():
            pytest.fail(f"svc-test-backend --write-self-signed did not write {out / name}")
    return out


class Backend:
    """One svc-test-backend process (tests/support/backend.md).

    It is started with ``--exit-on-stdin-eof`` (we keep its stdin open) and
    ``--parent-pid`` (this process), so it never outlives pytest; ``stop()``
    sends SIGTERM and waits."""

    def __init__(self, name: str, args: list[str]) -> None:
        binary = _backend_binary()
        if not binary.is_file():
            pytest.fail(f"svc-test-backend not found at {binary}: build the tests or set SVC_TEST_BACKEND_BIN")
        self.name = name
        self.proc = subprocess.Popen(
            [str(binary), "--name", name, "--exit-on-stdin-eof", "--parent-pid", str(os.getpid()), *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=HELPER_ENV,
        )
        try:
            line = self._read_line(WAIT_SECONDS)
            if not line.startswith("LISTENING "):
                raise RuntimeError(f"svc-test-backend {args}: no LISTENING line: {line!r}")
            self.port = int(line.split()[1])
        except BaseException:
            self.stop()
            raise

    def _read_line(self, timeout: float) -> str:
        assert self.proc.stdout is not None
        deadline = time.monotonic() + timeout
        data = b""
        with selectors.DefaultSelector() as sel:
            sel.register(self.proc.stdout, selectors.EVENT_READ)
            while not data.endswith(b"\n"):
                left = deadline - time.monotonic()
                if left <= 0 or not sel.select(left):
                    raise RuntimeError("svc-test-backend: no LISTENING line in time")
                chunk = os.read(self.proc.stdout.fileno(), 256)
                if not chunk:
                    err = self.proc.stderr.read().decode(errors="replace") if self.proc.stderr else ""
                    raise RuntimeError(f"svc-test-backend exited before listening: {err.strip()}")
                data += chunk
        return data.decode()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(WAIT_SECONDS)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(WAIT_SECONDS)
        for f in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            if f is not None:
                f.close()


BackendFactory = Callable[..., Backend]


@pytest.fixture
def backends() -> Iterator[BackendFactory]:
    """``backends(name="b", *args)`` starts a backend with extra command-line
    options; all are stopped at the end of the test."""
    started: list[Backend] = []

    def start(*args: str, name: str = "backend") -> Backend:
        b = Backend(name, list(args))
        started.append(b)
        return b

    yield start
    for b in started:
        b.stop()


def tls_args(pki: Path) -> list[str]:
    return ["--tls", f"{pki / 'server-chain.pem'},{pki / 'server.key'}"]


@pytest.fixture
def plain_backend(backends: BackendFactory) -> Backend:
    return backends(name="plain")


@pytest.fixture
def tls_backend(backends: BackendFactory, pki: Path) -> Backend:
    return backends(*tls_args(pki), name="tls")


@pytest.fixture
def mtls_backend(backends: BackendFactory, pki: Path) -> Backend:
    return backends(*tls_args(pki), "--client-ca", str(pki / "ca.pem"), name="mtls")


def dead_port() -> int:
    """A loopback port with nothing listening (bound, then closed)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Recorder:
    """Collects callback calls made on engine threads; waits are bounded."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []
        self._cond = threading.Condition()

    def __call__(self, *args: Any) -> None:
        with self._cond:
            self.calls.append(args)
            self._cond.notify_all()

    def wait_until(self, predicate: Callable[[list[tuple[Any, ...]]], bool]) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: predicate(self.calls), timeout=WAIT_SECONDS)

    def wait_count(self, n: int) -> bool:
        return self.wait_until(lambda calls: len(calls) >= n)

    def snapshot(self) -> list[tuple[Any, ...]]:
        with self._cond:
            return list(self.calls)


class HealthEvents:
    """Health events of one engine, with a barrier like the C suite's: events
    are delivered in order, so once an event of upstream "barrier" arrives,
    every earlier event has been delivered."""

    def __init__(self, engine: svc.Engine) -> None:
        self.engine = engine
        self.recorder = Recorder()
        self._flip = False
        engine.upsert_upstream(
            {"name": "barrier", "healthchecks": {"passive": {"unhealthy": {"tcp_failures": 1}}}}
        )
        engine.add_target("barrier", "10.0.0.250")
        engine.on_health(self.recorder)

    @property
    def events(self) -> list[tuple[str, str, str, bool]]:
        return [c for c in self.recorder.snapshot() if c[0] != "barrier"]  # type: ignore[misc]

    def barrier(self) -> None:
        want = sum(1 for c in self.recorder.snapshot() if c[0] == "barrier") + 1
        self._flip = not self._flip
        self.engine.set_target_health("barrier", "10.0.0.250", not self._flip)
        assert self.recorder.wait_until(lambda calls: sum(1 for c in calls if c[0] == "barrier") >= want)


@pytest.fixture
def health_events(engine: svc.Engine) -> HealthEvents:
    return HealthEvents(engine)


def pick_once(engine: svc.Engine, upstream: str) -> str:
    """One fresh request's first pick, reported OK, as "ip:port"."""
    with engine.request() as r:
        r.set_upstream(upstream)
        peer = r.pick()
        r.report(svc.Outcome.OK)
        return f"{peer.ip}:{peer.port}"


def _free_dns_port() -> int:
    """A loopback port free for both UDP and TCP right now."""
    for _ in range(20):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
            u.bind(("127.0.0.1", 0))
            port = int(u.getsockname()[1])
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as t:
                try:
                    t.bind(("127.0.0.1", port))
                except OSError:
                    continue
                return port
    pytest.fail("no loopback port free for both UDP and TCP")


class Dnsmasq:
    """A dnsmasq process answering for svc.test on a loopback port, with the
    records given (tests/support/dnsmasq.h is the C++ twin). ``records``
    are tuples: ("A", name, ip, ttl) for A/AAAA by the address, and
    ("SRV", name, target, port, priority, weight, ttl)."""

    def __init__(self, tmp: Path) -> None:
        self.dir = tmp
        self.proc: subprocess.Popen[bytes] | None = None
        self.port = 0

    @property
    def server(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self, records: list[tuple[Any, ...]]) -> None:
        """Starts dnsmasq with ``records`` on a fresh port, or on the port it
        had before (a restart: the engine under test knows that one). Another
        socket can take the port between the check and dnsmasq's bind (UDP or
        TCP, it binds both): a few tries cover that."""
        error = ""
        for _ in range(5):
            fresh = self.port == 0
            if fresh:
                self.port = _free_dns_port()
            error = self._launch(records)
            if not error:
                return
            if fresh:
                self.port = 0
            else:
                time.sleep(0.1)
        pytest.fail(error)

    def _launch(self, records: list[tuple[Any, ...]]) -> str:
        """Runs dnsmasq on self.port until it answers; returns "" or why not."""
        binary = next((p for p in ("/usr/sbin/dnsmasq", "/usr/bin/dnsmasq") if Path(p).is_file()), None)
        if binary is None:
            pytest.fail("dnsmasq not found: install dnsmasq-base (scripts/install-deps.sh does)")
        lines, srv_ttl = [], 3600
        for r in records:
            if r[0] == "A":
                lines.append(f"host-record={r[1]},{r[2]},{r[3]}")
            else:
                lines.append(f"srv-host={r[1]},{r[2]},{r[3]},{r[4]},{r[5]}")
                srv_ttl = min(srv_ttl, r[6])
        (self.dir / "dnsmasq.conf").write_text("\n".join(lines) + "\n")
        self.proc = subprocess.Popen(
            [binary, "--keep-in-foreground", f"--conf-file={self.dir / 'dnsmasq.conf'}", f"--port={self.port}",
             "--listen-address=127.0.0.1", "--bind-interfaces", "--no-resolv", "--no-hosts", "--no-poll",
             "--local=/svc.test/", f"--local-ttl={srv_ttl}", "--user=", f"--pid-file={self.dir / 'dnsmasq.pid'}",
             f"--log-facility={self.dir / 'dnsmasq.log'}"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=HELPER_ENV,
        )
        # Ready once it answers on UDP (any answer will do).
        query = b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x05probe\x03svc\x04test\x00\x00\x01\x00\x01"
        deadline = time.monotonic() + WAIT_SECONDS
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.settimeout(0.05)
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    why = self.proc.stderr.read().decode(errors="replace") if self.proc.stderr else ""
                    self.stop()
                    return f"dnsmasq on port {self.port} exited: {why}"
                try:
                    s.sendto(query, ("127.0.0.1", self.port))
                    s.recvfrom(512)
                    return ""
                except OSError:
                    time.sleep(0.02)
        self.stop()
        return f"dnsmasq did not answer on port {self.port} within {WAIT_SECONDS} s"

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(WAIT_SECONDS)
        if self.proc is not None and self.proc.stderr is not None:
            self.proc.stderr.close()
        self.proc = None

    def set_records(self, records: list[tuple[Any, ...]]) -> None:
        self.stop()
        self.start(records)


@pytest.fixture
def dnsmasq(tmp_path: Path) -> Iterator[Dnsmasq]:
    d = Dnsmasq(tmp_path)
    yield d
    d.stop()
