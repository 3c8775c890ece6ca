"""Health: passive health from reports, health events delivered exactly once
to on_health, the health dicts, set_target_health, the threshold rule, and
callbacks that fail."""

from __future__ import annotations

import sys
import threading
from typing import Any

import pytest

import svc
from conftest import WAIT_SECONDS, HealthEvents, Recorder

PASSIVE = {
    "name": "hc",
    "healthchecks": {
        "passive": {"healthy": {"successes": 1}, "unhealthy": {"tcp_failures": 2, "timeouts": 2, "http_failures": 2}}
    },
}


def entry(ip: str, health: str) -> dict[str, Any]:
    return {
        "target": f"{ip}:8000",
        "weight": 100,
        "health": health,
        "data": {"addresses": [{"ip": ip, "port": 8000, "health": health, "weight": 100}]},
    }


def entries(engine: svc.Engine, upstream: str) -> dict[str, dict[str, Any]]:
    return {e["target"]: e for e in engine.health(upstream)["data"]}


def pick_until(engine: svc.Engine, upstream: str, ip: str) -> svc.Request:
    """A fresh request whose first pick is `ip` (others picked on the way are reported OK)."""
    for _ in range(100):
        r = engine.request()
        r.set_upstream(upstream)
        if r.pick().ip == ip:
            return r
        r.report(svc.Outcome.OK)
        r.close()
    raise AssertionError(f"{ip} never picked")


def report_for(engine: svc.Engine, upstream: str, ip: str, outcome: svc.Outcome, status: int = 0) -> None:
    with pick_until(engine, upstream, ip) as r:
        r.report(outcome, status)


def count_picks(engine: svc.Engine, upstream: str, n: int) -> dict[str, int]:
    counts = {"10.0.0.1": 0, "10.0.0.2": 0, "10.0.0.3": 0}
    for _ in range(n):
        with engine.request() as r:
            r.set_upstream(upstream)
            counts[r.pick().ip] += 1
            r.report(svc.Outcome.OK)
    return counts


def test_passive_health_and_events(engine: svc.Engine, health_events: HealthEvents) -> None:
    ev = health_events
    engine.upsert_upstream(PASSIVE)
    for ip in ("10.0.0.1", "10.0.0.2", "10.0.0.3"):
        engine.add_target("hc", ip)

    # initially healthy
    h = engine.health("hc")
    assert h["name"] == "hc"
    assert h["health"] == "HEALTHY"
    assert h["weight"] == {"total": 300, "available": 300, "unavailable": 0}
    assert entries(engine, "hc")["10.0.0.1:8000"] == entry("10.0.0.1", "HEALTHY")

    # one TCP failure is not enough
    report_for(engine, "hc", "10.0.0.1", svc.Outcome.TCP_FAILURE)
    ev.barrier()
    assert ev.events == []
    assert "UNHEALTHY" not in str(engine.health("hc"))

    # the second makes it unhealthy, with exactly one event
    held = pick_until(engine, "hc", "10.0.0.1")  # a try in flight on 10.0.0.1
    report_for(engine, "hc", "10.0.0.1", svc.Outcome.TCP_FAILURE)
    ev.barrier()
    assert ev.events == [("hc", "10.0.0.1:8000", "10.0.0.1:8000", False)]
    assert all(type(x) is str for x in ev.events[0][:3]) and type(ev.events[0][3]) is bool
    assert entries(engine, "hc")["10.0.0.1:8000"] == entry("10.0.0.1", "UNHEALTHY")
    h = engine.health("hc")
    assert h["weight"] == {"total": 300, "available": 200, "unavailable": 100}
    assert count_picks(engine, "hc", 100) == {"10.0.0.1": 0, "10.0.0.2": 50, "10.0.0.3": 50}

    # no second event while unhealthy
    held.report(svc.Outcome.TCP_FAILURE)
    held.close()
    with engine.request() as r:  # an explicit target feeds no upstream's health
        r.set_target("10.0.0.1", 8000)
        r.pick()
        r.report(svc.Outcome.TCP_FAILURE)
    engine.set_target_health("hc", "10.0.0.1", False)  # forcing the same state: no event
    ev.barrier()
    assert len(ev.events) == 1

    # set_target_health brings it back
    engine.set_target_health("hc", "10.0.0.1:8000", True)
    ev.barrier()
    assert ev.events[1:] == [("hc", "10.0.0.1:8000", "10.0.0.1:8000", True)]
    assert entries(engine, "hc")["10.0.0.1:8000"] == entry("10.0.0.1", "HEALTHY")
    assert count_picks(engine, "hc", 300) == {"10.0.0.1": 100, "10.0.0.2": 100, "10.0.0.3": 100}

    # a success resets the failure count
    report_for(engine, "hc", "10.0.0.2", svc.Outcome.TCP_FAILURE)
    report_for(engine, "hc", "10.0.0.2", svc.Outcome.OK)
    report_for(engine, "hc", "10.0.0.2", svc.Outcome.TCP_FAILURE)
    ev.barrier()
    assert len(ev.events) == 2

    # timeouts count separately
    report_for(engine, "hc", "10.0.0.2", svc.Outcome.TIMEOUT)
    ev.barrier()
    assert len(ev.events) == 2
    report_for(engine, "hc", "10.0.0.2", svc.Outcome.TIMEOUT)
    ev.barrier()
    assert ev.events[2:] == [("hc", "10.0.0.2:8000", "10.0.0.2:8000", False)]

    # HTTP statuses by Kong's lists; 404 is in neither and ignored
    report_for(engine, "hc", "10.0.0.3", svc.Outcome.HTTP, 500)
    report_for(engine, "hc", "10.0.0.3", svc.Outcome.HTTP, 404)
    ev.barrier()
    assert len(ev.events) == 3
    report_for(engine, "hc", "10.0.0.3", svc.Outcome.HTTP, 503)
    ev.barrier()
    assert ev.events[3:] == [("hc", "10.0.0.3:8000", "10.0.0.3:8000", False)]
    assert count_picks(engine, "hc", 20) == {"10.0.0.1": 20, "10.0.0.2": 0, "10.0.0.3": 0}

    # one address at a time; a missing port means 8000
    engine.set_target_health("hc", "10.0.0.2", True, "10.0.0.2:8000")
    engine.set_target_health("hc", "10.0.0.3", True, address="10.0.0.3")
    ev.barrier()
    assert ev.events[4:] == [
        ("hc", "10.0.0.2:8000", "10.0.0.2:8000", True),
        ("hc", "10.0.0.3:8000", "10.0.0.3:8000", True),
    ]
    assert "UNHEALTHY" not in str(engine.health("hc"))

    # health is kept across an upsert and when a target comes back
    engine.set_target_health("hc", "10.0.0.1", False)
    engine.upsert_upstream(PASSIVE)
    assert entries(engine, "hc")["10.0.0.1:8000"] == entry("10.0.0.1", "UNHEALTHY")
    engine.delete_target("hc", "10.0.0.1")
    assert "10.0.0.1:8000" not in entries(engine, "hc")
    engine.add_target("hc", "10.0.0.1")
    assert entries(engine, "hc")["10.0.0.1:8000"] == entry("10.0.0.1", "UNHEALTHY")
    engine.set_target_health("hc", "10.0.0.1", True)
    ev.barrier()
    assert ev.events[6:] == [
        ("hc", "10.0.0.1:8000", "10.0.0.1:8000", False),
        ("hc", "10.0.0.1:8000", "10.0.0.1:8000", True),
    ]


@pytest.mark.parametrize(
    ("args", "error", "message"),
    [
        (("plain", "10.0.0.1", False), svc.InvalidArgument, "no healthchecker found for plain"),
        (("hc", "10.0.0.9", False), svc.UpstreamNotFound, "could not find a Target '10.0.0.9:8000' in Upstream 'hc'"),
        (
            ("hc", "10.0.0.1", False, "10.0.0.9:8000"),
            svc.UpstreamNotFound,
            "could not find the address '10.0.0.9:8000' of Target '10.0.0.1:8000' in Upstream 'hc'",
        ),
        (
            ("hc", "10.0.0.1", False, "localhost"),
            svc.InvalidArgument,
            "address must be an IP with an optional port: given 'localhost'",
        ),
        (
            ("hc", "10.0.0.1:99999", False),
            svc.ConfigError,
            "target: Invalid target ('10.0.0.1:99999'); not a valid hostname or ip address",
        ),
    ],
)
def test_set_target_health_errors(
    engine: svc.Engine, health_events: HealthEvents, args: tuple[Any, ...], error: type[svc.Error], message: str
) -> None:
    engine.upsert_upstream(PASSIVE)
    engine.add_target("hc", "10.0.0.1")
    engine.upsert_upstream({"name": "plain"})
    engine.add_target("plain", "10.0.0.1")
    with pytest.raises(error) as info:
        engine.set_target_health(*args)
    assert type(info.value) is error and str(info.value) == message
    health_events.barrier()
    assert health_events.events == []  # nothing changed


def test_health_checks_off(engine: svc.Engine) -> None:
    engine.upsert_upstream({"name": "plain"})
    engine.add_target("plain", "10.0.0.1")
    h = engine.health("plain")
    assert h["health"] == "HEALTHCHECKS_OFF"
    assert [e["target"] for e in h["data"]] == ["10.0.0.1:8000"]
    assert "HEALTHY" not in {e["health"] for e in h["data"]}


def test_threshold(engine: svc.Engine) -> None:
    engine.upsert_upstream(
        {"name": "th", "healthchecks": {"threshold": 50, "passive": {"unhealthy": {"tcp_failures": 1}}}}
    )
    engine.add_target("th", "10.0.0.1")
    engine.add_target("th", "10.0.0.2")

    def pick() -> svc.Peer:
        with engine.request() as r:
            r.set_upstream("th")
            try:
                return r.pick()
            finally:
                assert r.tries in (0, 1)

    pick()
    engine.set_target_health("th", "10.0.0.1", False)  # 50% available, not > 50
    with pytest.raises(svc.NoPeerError, match="^failure to get a peer from the ring-balancer$"):
        pick()
    h = engine.health("th")
    assert h["health"] == "UNHEALTHY"
    assert h["weight"] == {"total": 200, "available": 100, "unavailable": 100}
    engine.set_target_health("th", "10.0.0.1", True)
    pick()
    report_for(engine, "th", "10.0.0.2", svc.Outcome.TCP_FAILURE)  # the passive failure trips it
    with pytest.raises(svc.NoPeerError):
        pick()


def test_callback_exceptions_are_reported_and_the_engine_goes_on(
    engine: svc.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[Any] = []
    reported = threading.Event()

    def hook(args: Any) -> None:
        seen.append((args.exc_type, str(args.exc_value), args.object))
        reported.set()

    monkeypatch.setattr(sys, "unraisablehook", hook)
    engine.upsert_upstream({"name": "a", "healthchecks": {"passive": {"unhealthy": {"tcp_failures": 1}}}})
    engine.add_target("a", "10.0.0.1")
    engine.add_target("a", "10.0.0.2")
    calls = Recorder()

    def failing(*args: Any) -> None:
        calls(*args)
        raise ValueError("callback failed")

    engine.on_health(failing)
    engine.set_target_health("a", "10.0.0.1", False)
    assert reported.wait(WAIT_SECONDS)
    assert seen[0][:2] == (ValueError, "callback failed")
    assert seen[0][2] is failing
    # the engine keeps working and keeps delivering events, one per transition
    with engine.request() as r:
        r.set_upstream("a")
        assert r.pick().ip == "10.0.0.2"
    engine.set_target_health("a", "10.0.0.1", True)
    assert calls.wait_count(2)
    assert calls.snapshot() == [("a", "10.0.0.1:8000", "10.0.0.1:8000", False), ("a", "10.0.0.1:8000", "10.0.0.1:8000", True)]
    assert len(seen) == 2

    # a failing log callback, too
    def bad_log(level: int, message: str) -> None:
        raise RuntimeError("log failed")

    reported.clear()
    engine.on_log(bad_log)
    engine.load_config({"_format_version": "3.0", "upstreams": [{"name": "b"}]})
    assert reported.wait(WAIT_SECONDS)
    assert any(s[0] is RuntimeError and s[1] == "log failed" for s in seen)
    engine.on_log(None)
    engine.on_health(None)


def test_callback_may_not_call_into_its_engine(engine: svc.Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "unraisablehook", lambda args: None)
    engine.upsert_upstream({"name": "a", "healthchecks": {"passive": {"unhealthy": {"tcp_failures": 1}}}})
    engine.add_target("a", "10.0.0.1")
    outcome = Recorder()

    def reentrant(*args: Any) -> None:
        try:
            engine.close()
        except RuntimeError as e:
            outcome(str(e))

    engine.on_health(reentrant)
    engine.set_target_health("a", "10.0.0.1", False)
    assert outcome.wait_count(1)
    assert outcome.snapshot() == [("an engine callback must not call into its own engine (svc.h forbids it)",)]
    assert not engine.closed
    engine.health("a")


def test_on_health_replace_and_unsubscribe(engine: svc.Engine) -> None:
    engine.upsert_upstream({"name": "a", "healthchecks": {"passive": {"unhealthy": {"tcp_failures": 1}}}})
    engine.add_target("a", "10.0.0.1")
    first, second, logs = Recorder(), Recorder(), Recorder()
    engine.on_health(first)
    engine.set_target_health("a", "10.0.0.1", False)
    assert first.wait_count(1)
    engine.on_health(second)
    engine.set_target_health("a", "10.0.0.1", True)
    assert second.wait_count(1)
    engine.on_health(None)
    engine.set_target_health("a", "10.0.0.1", False)
    # barrier: a log event posted after the health event
    engine.on_log(logs)
    engine.load_config({"_format_version": "3.0", "upstreams": [{"name": "a"}]})
    assert logs.wait_count(1)
    assert len(first.snapshot()) == 1 and len(second.snapshot()) == 1
    with pytest.raises(TypeError, match="callback must be callable or None, not int"):
        engine.on_health(5)  # type: ignore[arg-type]


def test_callables_are_kept_alive_while_registered(engine: svc.Engine) -> None:
    import gc
    import weakref

    engine.upsert_upstream({"name": "a", "healthchecks": {"passive": {"unhealthy": {"tcp_failures": 1}}}})
    engine.add_target("a", "10.0.0.1")
    done = threading.Event()

    class Handler:
        def __call__(self, *args: Any) -> None:
            done.set()

    h = Handler()
    ref = weakref.ref(h)
    engine.on_health(h)
    del h
    gc.collect()
    assert ref() is not None
    engine.set_target_health("a", "10.0.0.1", False)
    assert done.wait(WAIT_SECONDS)
    engine.on_health(None)  # the replaced callable is released
    gc.collect()
    assert ref() is None


def test_no_callback_after_close() -> None:
    e = svc.Engine()
    e.upsert_upstream({"name": "a", "healthchecks": {"passive": {"unhealthy": {"tcp_failures": 1}}}})
    e.add_target("a", "10.0.0.1")
    events = Recorder()
    e.on_health(events)
    e.set_target_health("a", "10.0.0.1", False)
    e.close()  # joins the engine thread: the counter is final
    n = len(events.snapshot())
    assert n in (0, 1)
    assert len(events.snapshot()) == n
