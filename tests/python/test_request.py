"""Request: the kong.service setters (arguments, ranges, phases with Kong's
text), phases, explicit targets, tries and reports, closing."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import svc


@pytest.fixture
def req(engine_a: svc.Engine) -> Iterator[svc.Request]:
    r = engine_a.request()
    yield r
    r.close()


def raises(error: type[svc.Error], message: str):  # noqa: ANN201
    """pytest.raises for an svc error with exactly this message."""
    import re

    return pytest.raises(error, match="^" + re.escape(message) + "$")


def test_new_request_starts_in_access(req: svc.Request) -> None:
    assert req.phase is svc.Phase.ACCESS
    assert req.tries == 0
    assert req.scheme == "http"
    assert not req.closed


def test_set_upstream_arguments(req: svc.Request) -> None:
    with raises(svc.InvalidArgument, "host must be a string"):
        req.set_upstream("")
    with raises(svc.UpstreamNotFound, "could not find an Upstream named 'nope'"):
        req.set_upstream("nope")
    req.set_upstream("a")


def test_set_target_arguments(req: svc.Request) -> None:
    with raises(svc.InvalidArgument, "host must be a string"):
        req.set_target("", 80)
    for port in (-1, 65536, 70000):
        with raises(svc.InvalidArgument, f"port must be an integer between 0 and 65535: given {port}"):
            req.set_target("10.0.0.1", port)
    req.set_target("10.0.0.1", 0)  # Kong accepts port 0
    req.set_target("10.0.0.1", 65535)


def test_set_retries_range(req: svc.Request) -> None:
    for n in (-1, 32768):
        with raises(svc.InvalidArgument, f"retries must be an integer between 0 and 32767: given {n}"):
            req.set_retries(n)
    req.set_retries(0)
    req.set_retries(32767)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((0, 1, 1), "connect_timeout must be an integer between 1 and 2147483646: given 0"),
        ((2147483647, 1, 1), "connect_timeout must be an integer between 1 and 2147483646: given 2147483647"),
        ((1, 0, 1), "write_timeout must be an integer between 1 and 2147483646: given 0"),
        ((1, 2147483647, 1), "write_timeout must be an integer between 1 and 2147483646: given 2147483647"),
        ((1, 1, 0), "read_timeout must be an integer between 1 and 2147483646: given 0"),
        ((1, 1, 2147483647), "read_timeout must be an integer between 1 and 2147483646: given 2147483647"),
        ((-5, 0, 0), "connect_timeout must be an integer between 1 and 2147483646: given -5"),
        ((1, -5, 0), "write_timeout must be an integer between 1 and 2147483646: given -5"),
    ],
)
def test_set_timeouts_range_each_in_order(req: svc.Request, args: tuple[int, int, int], message: str) -> None:
    with raises(svc.InvalidArgument, message):
        req.set_timeouts(*args)


def test_set_timeouts_ok(req: svc.Request) -> None:
    req.set_timeouts(1, 1, 1)
    req.set_timeouts(2147483646, 2147483646, 2147483646)
    req.set_timeouts(connect=10, write=20, read=30)


def test_tls_verify_and_depth(req: svc.Request) -> None:
    for d in (-1, -100):
        with raises(svc.InvalidArgument, f"depth expects a non-negative integer but found {d}"):
            req.set_tls_verify_depth(d)
    req.set_tls_verify_depth(0)
    req.set_tls_verify_depth(100)
    req.set_tls_verify(False)
    req.set_tls_verify(True)
    req.set_tls_verify(42)  # any int, like C


def test_set_hash_key(req: svc.Request) -> None:
    req.set_hash_key("")
    req.set_hash_key(b"")
    req.set_hash_key(b"\x00\x00\x00")  # any bytes
    req.set_hash_key("user-1")
    req.set_hash_key("ключ")


def test_set_scheme(req: svc.Request) -> None:
    for bad in ("ftp", "HTTP", ""):
        with raises(svc.InvalidArgument, f"invalid scheme: {bad}"):
            req.set_scheme(bad)
    assert req.scheme == "http"  # unchanged by the failures
    for scheme in ("https", "tcp", "tls", "http"):
        req.set_scheme(scheme)
        assert req.scheme == scheme


def test_set_hash_input_arguments(req: svc.Request) -> None:
    for kind in (0, 8):
        with raises(svc.InvalidArgument, f"kind must be one of SVC_HASH_CONSUMER .. SVC_HASH_URI_CAPTURE: given {kind}"):
            req.set_hash_input(kind, "x")  # type: ignore[arg-type]
    for kind, name in ((svc.HashOn.HEADER, None), (svc.HashOn.COOKIE, ""), (svc.HashOn.QUERY_ARG, None),
                       (svc.HashOn.URI_CAPTURE, None)):  # fmt: skip
        with raises(svc.InvalidArgument, "name must be a non-empty string for this kind"):
            req.set_hash_input(kind, "x", name)
    for kind in (svc.HashOn.CONSUMER, svc.HashOn.IP, svc.HashOn.PATH):
        with raises(svc.InvalidArgument, "name must be NULL for this kind"):
            req.set_hash_input(kind, "x", "n")
    req.set_hash_input(svc.HashOn.CONSUMER, "c1")
    req.set_hash_input(svc.HashOn.IP, "10.1.1.1")
    req.set_hash_input(svc.HashOn.HEADER, "u1", "X-User")
    req.set_hash_input(svc.HashOn.COOKIE, b"s1", name="sid")
    req.set_hash_input(svc.HashOn.PATH, "/p")
    req.set_hash_input(svc.HashOn.QUERY_ARG, "v1", "q")
    req.set_hash_input(svc.HashOn.URI_CAPTURE, "7", "id")
    req.set_hash_input(svc.HashOn.HEADER, None, "X-User")  # clears
    req.set_hash_input(svc.HashOn.CONSUMER, None)


def test_set_phase_arguments(req: svc.Request) -> None:
    for phase in (svc.Phase.BALANCER, svc.Phase.LOG, 0):
        with raises(svc.InvalidArgument, f"phase must be SVC_PHASE_REWRITE or SVC_PHASE_ACCESS: given {int(phase)}"):
            req.set_phase(phase)  # type: ignore[arg-type]
    assert req.phase is svc.Phase.ACCESS


def test_rewrite_phase_allows_tls_scheme_and_hash_input_only(req: svc.Request) -> None:
    req.set_phase(svc.Phase.REWRITE)
    assert req.phase is svc.Phase.REWRITE
    msg = "function cannot be called in rewrite phase (only in: access)"
    for call in (
        lambda: req.set_upstream("a"),
        lambda: req.set_target("10.0.0.1", 80),
        lambda: req.set_retries(1),
        lambda: req.set_timeouts(1, 1, 1),
        lambda: req.set_hash_key("k"),
        lambda: req.set_retries(-1),  # the phase is checked before the argument (Kong)
    ):
        with raises(svc.PhaseError, msg) as info:
            call()
        assert info.value.code is svc.Code.EPHASE
    req.set_tls_verify(False)
    req.set_tls_verify_depth(3)
    req.set_scheme("https")
    req.set_hash_input(svc.HashOn.IP, "10.9.9.9")
    with raises(svc.InvalidArgument, "no upstream or target set: call svc_set_upstream or svc_set_target first"):
        req.pick()
    req.set_phase(svc.Phase.ACCESS)
    req.set_upstream("a")
    req.set_phase(svc.Phase.REWRITE)  # still before any try
    req.set_phase(svc.Phase.ACCESS)


def test_balancer_phase(req: svc.Request) -> None:
    req.set_upstream("a")
    assert req.pick() == svc.Peer("10.0.0.1", 8000, "10.0.0.1")
    assert req.phase is svc.Phase.BALANCER
    msg = "function cannot be called in balancer phase (only in: access)"
    for call in (
        lambda: req.set_upstream("a"),
        lambda: req.set_target("10.0.0.1", 80),
        lambda: req.set_retries(1),
        lambda: req.set_timeouts(1, 1, 1),
        lambda: req.set_hash_key("k"),
    ):
        with raises(svc.PhaseError, msg):
            call()
    with raises(svc.PhaseError, "function cannot be called in balancer phase (only in: rewrite, access)"):
        req.set_hash_input(svc.HashOn.IP, "1.1.1.1")
    for phase in (svc.Phase.ACCESS, svc.Phase.REWRITE):
        with raises(svc.PhaseError, "the phase can only be set before the first try (now in balancer phase)"):
            req.set_phase(phase)
    assert req.phase is svc.Phase.BALANCER
    req.set_tls_verify(True)
    req.set_tls_verify_depth(2)
    req.set_scheme("https")
    req.report(svc.Outcome.TCP_FAILURE)
    req.pick()  # a retry stays in balancer
    assert req.phase is svc.Phase.BALANCER


def test_explicit_target(engine: svc.Engine) -> None:
    with engine.request() as r:
        r.set_target("10.0.0.7", 8443)
        peer = r.pick()
        assert peer == ("10.0.0.7", 8443, "10.0.0.7")
        assert isinstance(peer, svc.Peer)
        assert r.tries == 1
        r.report(svc.Outcome.OK, latency_us=10)
        assert r.pick().ip == "10.0.0.7"
        assert r.tries == 2
    with engine.request() as r:
        r.set_target("localhost", 80)
        assert r.pick() == ("127.0.0.1", 80, "localhost")
    with engine.request() as r:
        r.set_target("::1", 443)
        assert r.pick()[:2] == ("::1", 443)
    with engine.request() as r:
        r.set_target("[::1]", 443)
        assert r.pick().ip == "::1"


def test_set_target_overrides_upstream_and_back(engine_a: svc.Engine) -> None:
    with engine_a.request() as r:
        r.set_upstream("a")
        r.set_target("10.0.0.8", 81)  # the last call wins
        assert r.pick().ip == "10.0.0.8"
    with engine_a.request() as r:
        r.set_target("10.0.0.8", 81)
        r.set_upstream("a")
        assert r.pick()[:2] == ("10.0.0.1", 8000)


def test_report_errors_and_once_per_pick(req: svc.Request) -> None:
    none_msg = "no try to report: call svc_request_pick first"
    with raises(svc.InvalidArgument, none_msg):
        req.report(svc.Outcome.OK)
    req.set_upstream("a")
    req.pick()
    for outcome in (4, -1):
        with raises(
            svc.InvalidArgument,
            "outcome must be one of SVC_OUTCOME_OK, SVC_OUTCOME_HTTP, SVC_OUTCOME_TCP_FAILURE, "
            f"SVC_OUTCOME_TIMEOUT: given {outcome}",
        ):
            req.report(outcome)  # type: ignore[arg-type]
    for status in (99, 1000, -1):
        with raises(
            svc.InvalidArgument,
            f"http_status must be 0 (no valid response) or between 100 and 999: given {status}",
        ):
            req.report(svc.Outcome.HTTP, status)
    req.report(svc.Outcome.HTTP, http_status=200, latency_us=1500)  # the failures did not consume the try
    with raises(svc.InvalidArgument, none_msg):
        req.report(svc.Outcome.OK)
    req.pick()
    req.report(svc.Outcome.TIMEOUT, 0, 2**32 - 1)
    req.pick()
    req.report(svc.Outcome.HTTP, 999)


def test_retries_used_up(engine_a: svc.Engine) -> None:
    with engine_a.request() as r:
        r.set_upstream("a")
        r.set_retries(2)
        for i in range(3):
            r.pick()
            assert r.tries == i + 1
        with raises(svc.NoPeerError, "no more tries: 3 tries made and retries is 2"):
            r.pick()
        assert r.tries == 3
    with engine_a.request() as r:
        r.set_target("10.0.0.5", 80)
        r.set_retries(0)
        r.pick()
        with raises(svc.NoPeerError, "no more tries: 1 tries made and retries is 0"):
            r.pick()


def test_no_route(req: svc.Request) -> None:
    with raises(svc.InvalidArgument, "no upstream or target set: call svc_set_upstream or svc_set_target first"):
        req.pick()
    assert req.phase is svc.Phase.ACCESS
    assert req.tries == 0


def test_closed_request(engine_a: svc.Engine) -> None:
    r = engine_a.request()
    r.set_upstream("a")
    r.pick()  # closing with an unreported try releases it
    r.close()
    r.close()
    assert r.closed
    calls = [
        lambda: r.set_upstream("a"),
        lambda: r.set_target("10.0.0.1", 80),
        lambda: r.set_tls_verify(True),
        lambda: r.set_tls_verify_depth(1),
        lambda: r.set_tls_verify_store(svc.TrustStore()),
        lambda: r.set_retries(1),
        lambda: r.set_timeouts(1, 1, 1),
        lambda: r.set_hash_key("k"),
        lambda: r.set_scheme("http"),
        lambda: r.scheme,
        lambda: r.set_hash_input(svc.HashOn.IP, "1.1.1.1"),
        lambda: r.set_phase(svc.Phase.ACCESS),
        lambda: r.phase,
        lambda: r.pick(),
        lambda: r.report(svc.Outcome.OK),
        lambda: r.tries,
    ]
    for call in calls:
        with raises(svc.ClosedError, "the request is closed"):
            call()
    with r:  # entering a closed request is allowed; it stays closed
        pass


def test_request_context_manager(engine_a: svc.Engine) -> None:
    with engine_a.request() as r:
        assert isinstance(r, svc.Request)
        r.set_upstream("a")
    assert r.closed
