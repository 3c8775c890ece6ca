"""Active health checks from Python: probes against the real test backend,
the exact number of probes before each transition, https probes with SNI,
verification and the upstream's client certificate, and events in order."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import pytest

import svc

from conftest import WAIT_SECONDS, Backend, BackendFactory, dead_port, tls_args

CERT_ID = "4e3ad2e4-0bc4-4638-8e34-c84a417ba39b"


class Probes:
    """Health events and active-probe log lines, in delivery order."""

    def __init__(self, engine: svc.Engine) -> None:
        self.lines: list[str] = []
        self._cond = threading.Condition()
        engine.on_health(self._health)
        engine.on_log(self._log)

    def _health(self, upstream: str, target: str, address: str, healthy: bool) -> None:
        self._add(f"{'HEALTHY' if healthy else 'UNHEALTHY'} {address}")

    def _log(self, level: int, message: str) -> None:
        if message.startswith("active probe of"):
            self._add(message)

    def _add(self, line: str) -> None:
        with self._cond:
            self.lines.append(line)
            self._cond.notify_all()

    def wait(self, line: str) -> None:
        with self._cond:
            assert self._cond.wait_for(lambda: line in self.lines, timeout=WAIT_SECONDS), self.lines[-5:]

    def wait_count(self, part: str, n: int) -> None:
        with self._cond:
            ok = self._cond.wait_for(lambda: sum(part in x for x in self.lines) >= n, timeout=WAIT_SECONDS)
            assert ok, self.lines[-5:]

    def count_before(self, part: str, line: str) -> int:
        with self._cond:
            end = self.lines.index(line)
            return sum(part in x for x in self.lines[:end])

    def events(self) -> list[str]:
        with self._cond:
            return [x for x in self.lines if x.startswith(("HEALTHY ", "UNHEALTHY "))]


def probe(kind: str = "http", **unhealthy: int) -> dict[str, Any]:
    return {
        "type": kind,
        "timeout": 0.5,
        "healthy": {"interval": 0.05, "successes": 1},
        "unhealthy": {"interval": 0.05, **unhealthy},
    }


def admin(engine: svc.Engine, backend: Backend, tls: bool = False) -> dict[str, Any]:
    with engine.request() as r:
        r.set_target("127.0.0.1", backend.port)
        if tls:
            r.set_scheme("https")
            r.set_tls_verify(False)
        return json.loads(r.send("GET", "/_admin/info").body)["admin"]


def address_health(engine: svc.Engine, address: str) -> str:
    for t in engine.health("u")["data"]:
        for a in t["data"]["addresses"]:
            if f"{a['ip']}:{a['port']}" == address:
                return str(a["health"])
    return "absent"


def test_tcp_probes_eject_after_tcp_failures_and_restore_after_successes(
    engine: svc.Engine, backends: BackendFactory
) -> None:
    probes = Probes(engine)
    port = dead_port()
    address = f"127.0.0.1:{port}"
    b = backends("--listen", address, name="b")
    active = probe("tcp", tcp_failures=3)
    active["healthy"]["successes"] = 2
    engine.upsert_upstream({"name": "u", "healthchecks": {"active": active}})
    engine.add_target("u", address)
    probes.wait_count("connected (SUCCESS)", 1)
    b.stop()
    down = f"UNHEALTHY {address}"
    probes.wait(down)
    assert probes.count_before("(TCP)", down) == 3
    assert address_health(engine, address) == "UNHEALTHY"
    with engine.request() as r:
        r.set_upstream("u")
        with pytest.raises(svc.NoPeerError):
            r.pick()

    backends("--listen", address, name="b")
    up = f"HEALTHY {address}"
    probes.wait(up)
    assert probes.count_before("connected (SUCCESS)", up) - probes.count_before("connected (SUCCESS)", down) == 2
    assert probes.events() == [down, up]


def test_http_probes_count_statuses_and_ignore_those_in_neither_list(
    engine: svc.Engine, plain_backend: Backend
) -> None:
    probes = Probes(engine)
    engine.upsert_upstream({"name": "u", "healthchecks": {"active": probe(http_failures=2)}})
    engine.add_target("u", plain_backend.address)
    probes.wait_count("status 200 (SUCCESS)", 1)
    admin_path = "/_admin/status/418"
    with engine.request() as r:
        r.set_target("127.0.0.1", plain_backend.port)
        r.send("GET", admin_path)
    probes.wait_count("status 418 is in neither active list: ignored", 3)
    assert probes.events() == []
    with engine.request() as r:
        r.set_target("127.0.0.1", plain_backend.port)
        r.send("GET", "/_admin/status/500")
    down = f"UNHEALTHY {plain_backend.address}"
    probes.wait(down)
    assert probes.count_before("status 500 (HTTP)", down) == 2


def test_the_probe_request_carries_path_headers_and_host(engine: svc.Engine, plain_backend: Backend) -> None:
    probes = Probes(engine)
    active = probe(http_failures=1)
    active.update({"http_path": "/status/200", "headers": {"X-Probe": ["a", "b"]}})
    engine.upsert_upstream({"name": "u", "host_header": "svc.test", "healthchecks": {"active": active}})
    engine.add_target("u", plain_backend.address)
    probes.wait_count("status 200 (SUCCESS)", 1)
    last = admin(engine, plain_backend)["last"]
    assert (last["target"], last["headers"]["host"], last["headers"]["x-probe"]) == ("/status/200", "svc.test", "a, b")


def test_https_probes_send_the_sni_verify_it_and_present_the_client_certificate(
    backends: BackendFactory, pki: Path
) -> None:
    tls = backends(*tls_args(pki), name="tls")
    mtls = backends(*tls_args(pki), "--client-ca", str(pki / "ca.pem"), name="mtls")
    with svc.Engine({"tls": {"trust": "none", "ca_file": str(pki / "ca.pem")}}) as engine:
        probes = Probes(engine)
        active = probe("https", tcp_failures=1)
        active["https_sni"] = "localhost"
        engine.load_config(
            {
                "_format_version": "3.0",
                "certificates": [
                    {"id": CERT_ID, "cert": (pki / "client.pem").read_text(), "key": (pki / "client.key").read_text()}
                ],
                "upstreams": [
                    {
                        "name": "u",
                        "client_certificate": {"id": CERT_ID},
                        "healthchecks": {"active": active},
                        "targets": [{"target": tls.address}, {"target": mtls.address}],
                    }
                ],
            }
        )
        probes.wait_count("status 200 (SUCCESS)", 4)  # both backends, the mTLS one included
        assert admin(engine, tls, tls=True)["last"]["sni"] == "localhost"
        assert probes.events() == []

        # The same probes naming a host the certificate does not cover.
        active["https_sni"] = "wrong.test"
        engine.upsert_upstream({"name": "u", "client_certificate": {"id": CERT_ID}, "healthchecks": {"active": active}})
        down = f"UNHEALTHY {tls.address}"
        probes.wait(down)
        assert probes.count_before(f"'127.0.0.1({tls.address})': TLS handshake", down) == 1
        assert "certificate does not match 'wrong.test'" in [x for x in probes.lines if tls.address in x and "TLS" in x][0]


def test_bad_probe_settings_are_rejected_with_their_reason(engine: svc.Engine) -> None:
    with pytest.raises(svc.ConfigError) as e:
        engine.upsert_upstream({"name": "u", "client_certificate": {"id": CERT_ID}})
    assert str(e.value) == (
        f"client_certificate: invalid reference 'client_certificate: {CERT_ID}' (no such entry in 'certificates')"
    )
    with pytest.raises(svc.ConfigError) as e:
        engine.upsert_upstream({"name": "u", "healthchecks": {"active": {"type": "grpcs", "healthy": {"interval": 1}}}})
    assert str(e.value) == "healthchecks.active.type: 'grpcs' probes are not supported; use http, https or tcp"
    with pytest.raises(svc.InvalidArgument) as e:
        svc.Engine({"tls": {"ca_file": "/nonexistent/ca.pem"}})
    assert str(e.value) == "options.tls.ca_file: cannot load '/nonexistent/ca.pem': No such file or directory"


def test_probes_stop_when_the_upstream_is_deleted(engine: svc.Engine, plain_backend: Backend) -> None:
    probes = Probes(engine)
    engine.upsert_upstream({"name": "u", "healthchecks": {"active": probe(http_failures=1)}})
    engine.add_target("u", plain_backend.address)
    probes.wait_count("status 200 (SUCCESS)", 2)
    engine.delete_upstream("u")
    time.sleep(0.1)  # a probe in flight may still land
    before = admin(engine, plain_backend)["requests"]
    time.sleep(0.3)
    assert admin(engine, plain_backend)["requests"] == before + 1
