"""Many Python threads on one engine: exact totals, no errors; blocking calls
release the GIL; closing while other threads work is safe."""

from __future__ import annotations

import threading
from collections import Counter

import svc

THREADS = 8
PER_THREAD = 1000


def test_8_threads_x_1000_requests_exact_round_robin(engine: svc.Engine) -> None:
    engine.upsert_upstream({"name": "rr"})
    engine.add_target("rr", "10.0.0.1", 100)
    engine.add_target("rr", "10.0.0.2", 50)
    engine.add_target("rr", "10.0.0.3", 50)
    counts = [Counter[str]() for _ in range(THREADS)]
    errors: list[BaseException] = []
    start = threading.Barrier(THREADS)

    def work(i: int) -> None:
        try:
            start.wait()
            for _ in range(PER_THREAD):
                with engine.request() as r:
                    r.set_upstream("rr")
                    p = r.pick()
                    r.report(svc.Outcome.HTTP, 200, 100)
                    counts[i][p.ip] += 1
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
        assert not t.is_alive()
    assert errors == []
    total = sum(counts, Counter())
    n = THREADS * PER_THREAD
    assert total == {"10.0.0.1": n // 2, "10.0.0.2": n // 4, "10.0.0.3": n // 4}
    assert all(sum(c.values()) == PER_THREAD for c in counts)


def test_admin_and_requests_concurrently(engine: svc.Engine) -> None:
    engine.upsert_upstream({"name": "a"})
    engine.add_target("a", "10.0.0.1")
    errors: list[BaseException] = []
    stop = threading.Event()

    def admin() -> None:
        try:
            k = 0
            while not stop.is_set():
                engine.add_target("a", f"10.0.1.{k % 200 + 1}")
                engine.delete_target("a", f"10.0.1.{k % 200 + 1}")
                engine.health("a")
                engine.upsert_upstream({"name": "a"})
                k += 1
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    def picker() -> None:
        try:
            for _ in range(500):
                with engine.request() as r:
                    r.set_upstream("a")
                    r.pick()
                    r.report(svc.Outcome.OK)
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    a = threading.Thread(target=admin)
    pickers = [threading.Thread(target=picker) for _ in range(4)]
    a.start()
    for t in pickers:
        t.start()
    for t in pickers:
        t.join(120)
    stop.set()
    a.join(60)
    assert errors == []
    assert [t["target"] for t in engine.upstream("a")["targets"]] == ["10.0.0.1:8000"]


def test_close_while_other_threads_use_the_engine() -> None:
    for _ in range(5):
        e = svc.Engine()
        e.upsert_upstream({"name": "a"})
        e.add_target("a", "10.0.0.1")
        unexpected: list[BaseException] = []
        started = threading.Barrier(5)

        def work() -> None:
            started.wait()
            try:
                while True:
                    with e.request() as r:
                        r.set_upstream("a")
                        r.pick()
                        r.report(svc.Outcome.OK)
                    e.health("a")
            except svc.ClosedError:
                return  # the engine went away: the only expected error
            except BaseException as exc:  # noqa: BLE001
                unexpected.append(exc)

        threads = [threading.Thread(target=work) for _ in range(4)]
        for t in threads:
            t.start()
        started.wait()
        e.close()
        for t in threads:
            t.join(60)
            assert not t.is_alive()
        assert unexpected == []


def test_one_request_shared_by_threads_is_serialised(engine: svc.Engine) -> None:
    engine.upsert_upstream({"name": "a"})
    engine.add_target("a", "10.0.0.1")
    r = engine.request()
    r.set_upstream("a")
    r.set_retries(32767)
    errors: list[BaseException] = []

    def work() -> None:
        try:
            for _ in range(200):
                r.pick()
                r.tries  # noqa: B018
        except svc.NoPeerError:
            pass
        except svc.InvalidArgument:
            pass
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    closer = threading.Thread(target=r.close)
    closer.start()
    for t in threads + [closer]:
        t.join(60)
    assert all(isinstance(e, svc.ClosedError) for e in errors)
    assert r.closed


def test_close_releases_the_gil_for_pending_callbacks() -> None:
    # Engine.close joins the engine thread; callbacks still queued there need
    # the GIL. Were it held across svc_engine_free, close would never return.
    e = svc.Engine()
    delivered: list[str] = []
    e.on_log(lambda level, message: delivered.append(message))
    for i in range(20):
        e.load_config({"_format_version": "3.0", "upstreams": [{"name": f"u{i}"}]})
    closer = threading.Thread(target=e.close)
    closer.start()
    closer.join(30)
    assert not closer.is_alive()
    assert e.closed
    n = len(delivered)
    assert delivered.count("configuration loaded: 1 upstream(s)") == n  # none after close returned
