"""Pick mode: exact balancer results (round-robin, consistent hashing, least
connections, latency), retries that never repeat a tried peer, weight 0."""

from __future__ import annotations

from collections import Counter

import pytest

import svc
from conftest import pick_once

RR = ["10.0.0.1:8000", "10.0.0.2:8000", "10.0.0.3:8000"]
CH = ["10.0.0.1:8000", "10.0.0.2:8000", "10.0.0.3:8000", "10.0.0.4:8000"]


def peer_str(p: svc.Peer) -> str:
    return f"{p.ip}:{p.port}"


@pytest.fixture
def rr(engine: svc.Engine) -> svc.Engine:
    engine.upsert_upstream({"name": "rr"})
    engine.add_target("rr", "10.0.0.1", 100)
    engine.add_target("rr", "10.0.0.2", 50)
    engine.add_target("rr", "10.0.0.3", 50)
    return engine


def test_round_robin_100_50_50_is_exactly_2_1_1_per_cycle_of_4(rr: svc.Engine) -> None:
    total: Counter[str] = Counter()
    for _cycle in range(100):
        cycle = Counter(pick_once(rr, "rr") for _ in range(4))
        assert cycle == {RR[0]: 2, RR[1]: 1, RR[2]: 1}
        total += cycle
    assert total == {RR[0]: 200, RR[1]: 100, RR[2]: 100}


def test_round_robin_retry_never_repeats_a_tried_peer(rr: svc.Engine) -> None:
    for _ in range(8):  # from several cursor positions
        with rr.request() as r:
            r.set_upstream("rr")
            seen = []
            for _k in range(3):
                seen.append(peer_str(r.pick()))
                r.report(svc.Outcome.TCP_FAILURE)
            assert sorted(seen) == RR
            assert peer_str(r.pick()) in RR  # every peer tried: a repeat is allowed
            assert r.tries == 4


@pytest.fixture
def ch(engine: svc.Engine) -> svc.Engine:
    engine.upsert_upstream({"name": "ch", "algorithm": "consistent-hashing"})
    engine.upsert_upstream({"name": "hdr", "hash_on": "header", "hash_on_header": "x-user"})
    for t in CH:
        engine.add_target("ch", t)
        engine.add_target("hdr", t)
    return engine


def _pick_with_key(engine: svc.Engine, upstream: str, key: str | bytes) -> str:
    with engine.request() as r:
        r.set_upstream(upstream)
        r.set_hash_key(key)
        p = peer_str(r.pick())
        r.report(svc.Outcome.OK)
        return p


def test_consistent_hashing_same_key_same_peer(ch: svc.Engine) -> None:
    used = set()
    for k in range(40):
        key = f"user-{k}"
        first = _pick_with_key(ch, "ch", key)
        assert first in CH
        for _ in range(4):
            assert _pick_with_key(ch, "ch", key) == first
        assert _pick_with_key(ch, "ch", key.encode()) == first  # str and its UTF-8 bytes hash alike
        used.add(first)
    assert len(used) >= 2  # 40 keys do not all land on one of 4 equal targets


def test_consistent_hashing_retry_moves_to_an_untried_peer(ch: svc.Engine) -> None:
    for k in range(10):
        with ch.request() as r:
            r.set_upstream("ch")
            r.set_hash_key(f"retry-{k}")
            seen = []
            for _ in range(4):
                seen.append(peer_str(r.pick()))
                r.report(svc.Outcome.TCP_FAILURE)
            assert sorted(seen) == CH


def test_consistent_hashing_hash_key_equals_hash_on_header(ch: svc.Engine) -> None:
    for k in range(20):
        key = f"alice-{k}"
        with ch.request() as a, ch.request() as b, ch.request() as c:
            a.set_upstream("hdr")
            a.set_hash_input(svc.HashOn.HEADER, key, "X-User")  # names are case-insensitive
            b.set_upstream("hdr")
            b.set_hash_key(key)
            c.set_upstream("hdr")
            c.set_hash_input(svc.HashOn.HEADER, "someone else", "x-user")
            c.set_hash_key(key)  # overrides hash_on
            pa, pb, pc = a.pick(), b.pick(), c.pick()
            assert pa == pb == pc


def test_consistent_hashing_header_stickiness(ch: svc.Engine) -> None:
    def pick(value: str) -> str:
        with ch.request() as r:
            r.set_upstream("hdr")
            r.set_hash_input(svc.HashOn.HEADER, value, "x-user")
            return peer_str(r.pick())

    for k in range(20):
        first = pick(f"bob-{k}")
        assert all(pick(f"bob-{k}") == first for _ in range(3))


def test_least_connections_order(engine: svc.Engine) -> None:
    engine.upsert_upstream({"name": "lc", "algorithm": "least-connections"})
    engine.add_target("lc", "10.0.0.1", 100)
    engine.add_target("lc", "10.0.0.2", 30)
    # Kong's key (connections + 1) / weight, lowest first:
    # A 1/100, 2/100, 3/100 < B 1/30 < A 4/100
    held = [engine.request() for _ in range(5)]
    for r in held:
        r.set_upstream("lc")
    assert [r.pick().ip for r in held] == ["10.0.0.1", "10.0.0.1", "10.0.0.1", "10.0.0.2", "10.0.0.1"]
    # A has 4, B 1: releasing three of A makes A (2/100) beat B (2/30)
    for r in held[:3]:
        r.report(svc.Outcome.OK)
    assert pick_once(engine, "lc") == "10.0.0.1:8000"
    held[3].report(svc.Outcome.OK)
    held[4].close()  # closing releases the pending try
    again = [engine.request() for _ in range(4)]
    for r in again:
        r.set_upstream("lc")
    assert [r.pick().ip for r in again] == ["10.0.0.1", "10.0.0.1", "10.0.0.1", "10.0.0.2"]
    for r in again + held:
        r.close()
    with engine.request() as r:
        r.set_upstream("lc")
        assert r.pick().ip == "10.0.0.1"
        r.report(svc.Outcome.TCP_FAILURE)
        assert r.pick().ip == "10.0.0.2"  # the retry takes the untried peer
        r.report(svc.Outcome.TCP_FAILURE)
        assert r.pick().ip == "10.0.0.1"  # both tried: the best again


def test_latency_retries_elsewhere(engine: svc.Engine) -> None:
    names = ["10.0.0.1:8000", "10.0.0.2:8000"]
    engine.upsert_upstream({"name": "lat", "algorithm": "latency"})
    for t in names:
        engine.add_target("lat", t)
    for _ in range(20):
        with engine.request() as r:
            r.set_upstream("lat")
            first = peer_str(r.pick())
            r.report(svc.Outcome.OK, 0, 1000)
            second = peer_str(r.pick())
            r.report(svc.Outcome.OK, 0, 1000)
            assert {first, second} == set(names)


@pytest.mark.parametrize("algorithm", ["round-robin", "consistent-hashing", "least-connections", "latency"])
def test_weight_zero_and_empty(engine: svc.Engine, algorithm: str) -> None:
    engine.upsert_upstream({"name": "w", "algorithm": algorithm})
    for add in (None, ("10.0.0.9", 0)):
        if add:
            engine.add_target("w", *add)
        with engine.request() as r:
            r.set_upstream("w")
            with pytest.raises(svc.NoPeerError, match="^failure to get a peer from the ring-balancer$"):
                r.pick()
            assert r.tries == 0
    engine.add_target("w", "10.0.0.1", 100)
    engine.add_target("w", "10.0.0.2", 100)
    for _ in range(50):
        assert pick_once(engine, "w") != "10.0.0.9:8000"
    with engine.request() as r:
        r.set_upstream("w")
        r.set_hash_key("k")
        for attempt in range(6):
            if algorithm == "latency" and attempt == 2:
                # Latency ends the retries once both usable peers were tried (Kong).
                with pytest.raises(svc.NoPeerError, match="^failure to get a peer from the ring-balancer$"):
                    r.pick()
                break
            assert peer_str(r.pick()) != "10.0.0.9:8000"
            r.report(svc.Outcome.TCP_FAILURE)


def test_peer_hosts(engine: svc.Engine) -> None:
    engine.upsert_upstream({"name": "named"})
    engine.add_target("named", "localhost:8081")
    engine.upsert_upstream({"name": "ip"})
    engine.add_target("ip", "10.0.0.1:81")
    engine.upsert_upstream({"name": "v6"})
    engine.add_target("v6", "[::1]:8443")
    engine.upsert_upstream({"name": "hh", "host_header": "localhost:8443"})
    engine.add_target("hh", "10.0.0.1")

    def pick(upstream: str) -> svc.Peer:
        with engine.request() as r:
            r.set_upstream(upstream)
            return r.pick()

    assert pick("named") == ("127.0.0.1", 8081, "localhost")
    assert pick("ip") == ("10.0.0.1", 81, "10.0.0.1")
    v6 = pick("v6")
    assert v6 == ("::1", 8443, "[::1]")
    assert pick("hh") == ("10.0.0.1", 8000, "localhost")


def test_pick_follows_target_changes(engine: svc.Engine) -> None:
    engine.upsert_upstream({"name": "a"})
    engine.add_target("a", "10.0.0.1")
    with engine.request() as r:
        r.set_upstream("a")
        engine.delete_target("a", "10.0.0.1")
        engine.add_target("a", "10.0.0.2")
        assert r.pick().ip == "10.0.0.2"
    with engine.request() as r:
        r.set_upstream("a")
        engine.delete_upstream("a")
        # svc.h says SVC_ECLOSED when the upstream is gone; the C suite accepts either
        with pytest.raises((svc.ClosedError, svc.UpstreamNotFound)):
            r.pick()
        assert r.tries == 0
        engine.upsert_upstream({"name": "a"})
        engine.add_target("a", "10.0.0.3")
        assert r.pick().ip == "10.0.0.3"
