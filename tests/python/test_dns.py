"""DNS-driven targets from Python against a real DNS server (dnsmasq on a
loopback port): A and SRV answers become addresses, picks follow record
changes, and a name that never resolved raises DNSError."""

from __future__ import annotations

import time
from collections import Counter

import pytest

import svc

from conftest import WAIT_SECONDS, Dnsmasq


def picks(engine: svc.Engine, n: int) -> Counter[str]:
    out: Counter[str] = Counter()
    for _ in range(n):
        with engine.request() as r:
            r.set_upstream("u")
            p = r.pick()
            r.report(svc.Outcome.OK)
            out[f"{p.ip}:{p.port}"] += 1
    return out


def test_a_records_and_changes(dnsmasq: Dnsmasq) -> None:
    dnsmasq.start([("A", "web.svc.test", "127.0.0.11", 1), ("A", "web.svc.test", "127.0.0.12", 1)])
    with svc.Engine({"dns": {"servers": [dnsmasq.server]}}) as engine:
        engine.upsert_upstream({"name": "u"})
        engine.add_target("u", "web.svc.test:8080")
        assert picks(engine, 4) == {"127.0.0.11:8080": 2, "127.0.0.12:8080": 2}
        dnsmasq.set_records([("A", "web.svc.test", "127.0.0.13", 1)])
        deadline = time.monotonic() + WAIT_SECONDS
        while picks(engine, 2) != {"127.0.0.13:8080": 2}:
            assert time.monotonic() < deadline, "picks did not follow the new record"
            time.sleep(0.02)
        addresses = engine.health("u")["data"][0]["data"]["addresses"]
        assert [a["ip"] for a in addresses] == ["127.0.0.13"]


def test_srv_ports_weights_and_priority(dnsmasq: Dnsmasq) -> None:
    dnsmasq.start(
        [
            ("A", "a.svc.test", "127.0.0.21", 30),
            ("A", "b.svc.test", "127.0.0.22", 30),
            ("A", "c.svc.test", "127.0.0.23", 30),
            ("SRV", "api.svc.test", "a.svc.test", 9001, 10, 10, 30),
            ("SRV", "api.svc.test", "b.svc.test", 9002, 10, 30, 30),
            ("SRV", "api.svc.test", "c.svc.test", 9003, 20, 100, 30),
        ]
    )
    with svc.Engine({"dns": {"servers": [dnsmasq.server]}}) as engine:
        engine.upsert_upstream({"name": "u", "use_srv_name": True})
        engine.add_target("u", "api.svc.test")
        assert picks(engine, 400) == {"127.0.0.21:9001": 100, "127.0.0.22:9002": 300}
        for _ in range(4):
            with engine.request() as r:
                r.set_upstream("u")
                p = r.pick()
                assert p.host == {9001: "a.svc.test", 9002: "b.svc.test"}[p.port]  # use_srv_name


def test_a_name_that_never_resolved_raises_dns_error(dnsmasq: Dnsmasq) -> None:
    dnsmasq.start([("A", "other.svc.test", "127.0.0.31", 30)])
    with svc.Engine({"dns": {"servers": [dnsmasq.server]}}) as engine:
        engine.upsert_upstream({"name": "u"})
        engine.add_target("u", "late.svc.test:8000")
        assert engine.health("u")["data"][0]["health"] == "DNS_ERROR"
        with engine.request() as r:
            r.set_upstream("u")
            with pytest.raises(svc.DNSError, match="^name resolution failed$"):
                r.pick()


def test_a_resolver_address_must_be_an_address() -> None:
    with pytest.raises(svc.InvalidArgument, match="^options.dns.servers: 'resolver' is not an IP address"):
        svc.Engine({"dns": {"servers": ["resolver"]}})
