"""The Runner's asyncio batcher: continuous batching, isolation, timeouts, drain."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest
from serve_backends import Identity, Poison

from packflow.runtime import Runner, RunnerClosedError, RunnerOverloadedError, is_dead_letter


class Recording(Identity):
    """Identity that records batch sizes and can be held on a gate."""

    def initialize(self):
        self.sizes: list[int] = []
        self.gate = threading.Event()
        self.gate.set()

    def execute(self, inputs):
        self.gate.wait(10)
        self.sizes.append(len(inputs))
        return inputs


def test_submit_and_submit_many_keep_order():
    runner = Runner(Identity())

    async def go():
        one = await runner.submit({"a": 1})
        many = await runner.submit_many([{"i": i} for i in range(100)])
        return one, many

    one, many = asyncio.run(go())
    assert one == {"a": 1} and many == [{"i": i} for i in range(100)]


def test_submissions_queued_behind_a_busy_backend_form_one_batch():
    backend = Recording()
    runner = Runner(backend, max_batch_size=64)

    async def go():
        backend.gate.clear()
        first = asyncio.ensure_future(runner.submit({"i": -1}))
        await asyncio.sleep(0.05)  # the first batch is now blocked in the backend
        rest = [asyncio.ensure_future(runner.submit({"i": i})) for i in range(30)]
        await asyncio.sleep(0.05)
        backend.gate.set()
        return await first, await asyncio.gather(*rest)

    first, rest = asyncio.run(go())
    assert first == {"i": -1} and rest == [{"i": i} for i in range(30)]
    assert backend.sizes == [1, 30]


def test_batches_respect_max_batch_size():
    backend = Recording()
    runner = Runner(backend, max_batch_size=8)

    async def go():
        backend.gate.clear()
        tasks = [asyncio.ensure_future(runner.submit({"i": i})) for i in range(20)]
        await asyncio.sleep(0.05)
        backend.gate.set()
        return await asyncio.gather(*tasks)

    assert asyncio.run(go()) == [{"i": i} for i in range(20)]
    assert max(backend.sizes) <= 8 and sum(backend.sizes) == 20


def test_a_poison_record_fails_only_its_own_submission():
    runner = Runner(Poison())

    async def go():
        return await asyncio.gather(*(runner.submit({"i": i, "poison": i == 3}) for i in range(10)))

    results = asyncio.run(go())
    assert is_dead_letter(results[3]) and results[3].step == "execute"
    assert all(r == {"i": i, "poison": False, "seen": True} for i, r in enumerate(results) if i != 3)


def test_a_lone_submission_never_waits_for_the_fill_window():
    runner = Runner(Identity())

    runner.start_async(fill_wait_ms=60_000.0)  # would hang the test if a lone record waited it out

    async def go():
        for i in range(5):
            assert await asyncio.wait_for(runner.submit({"i": i}), 5) == {"i": i}

    asyncio.run(go())


def test_timeout_drops_a_queued_submission_without_computing_it():
    backend = Recording()
    runner = Runner(backend)

    async def go():
        backend.gate.clear()
        first = asyncio.ensure_future(runner.aio.submit([{"i": 0}]))
        await asyncio.sleep(0.02)
        with pytest.raises(asyncio.TimeoutError):
            await runner.aio.submit([{"i": 1}], timeout=0.05)
        backend.gate.set()
        await first
        await runner.drain(5)

    asyncio.run(go())
    assert backend.sizes == [1]  # the timed-out record was never sent to the backend


def test_drain_finishes_queued_work_then_refuses_new_records():
    backend = Recording()
    runner = Runner(backend, max_batch_size=4)

    async def go():
        backend.gate.clear()
        tasks = [asyncio.ensure_future(runner.submit({"i": i})) for i in range(10)]
        await asyncio.sleep(0.02)
        threading.Timer(0.1, backend.gate.set).start()
        assert await runner.drain(10) is True
        with pytest.raises(RunnerClosedError):
            await runner.submit({"late": 1})
        return [t.result() for t in tasks]

    assert asyncio.run(go()) == [{"i": i} for i in range(10)]


def test_drain_reports_a_timeout():
    backend = Recording()
    runner = Runner(backend)

    async def go():
        backend.gate.clear()
        task = asyncio.ensure_future(runner.submit({"i": 0}))
        await asyncio.sleep(0.02)
        finished = await runner.drain(0.05)
        backend.gate.set()
        await task
        return finished

    assert asyncio.run(go()) is False


def test_overload_is_refused():
    backend = Recording()
    runner = Runner(backend)

    runner.start_async(max_queue=5)

    async def go():
        backend.gate.clear()
        first = asyncio.ensure_future(runner.submit_many([{"i": i} for i in range(3)]))
        await asyncio.sleep(0.02)
        queued = asyncio.ensure_future(runner.submit_many([{"i": i} for i in range(5)]))
        await asyncio.sleep(0)
        with pytest.raises(RunnerOverloadedError):
            await runner.submit({"one": "too many"})
        backend.gate.set()
        return len(await first) + len(await queued)

    assert asyncio.run(go()) == 8


def test_fill_window_under_load_builds_bigger_batches():
    backend = Recording()
    runner = Runner(backend, max_batch_size=64)

    async def client(i: int) -> None:
        for _ in range(5):
            await runner.submit({"i": i})
            await asyncio.sleep(0.001 * (i % 3))

    runner.start_async(fill_wait_ms=20.0)

    async def go():
        start = time.perf_counter()
        await asyncio.gather(*(client(i) for i in range(8)))
        return time.perf_counter() - start

    asyncio.run(go())
    assert sum(backend.sizes) == 40 and len(backend.sizes) < 40


def test_options_are_given_once_at_construction():
    runner = Runner(Identity())
    batcher = runner.start_async(max_queue=7, fill_wait_ms=3.0)
    assert runner.aio is batcher and (batcher.max_queue, batcher.fill_wait_ms) == (7, 3.0)
    with pytest.raises(RuntimeError, match="start_async"):
        runner.start_async(max_queue=8)


class ThreadNoting(Identity):
    """Identity that notes the thread of each batch; a record with ``"hang"`` blocks on a gate."""

    def initialize(self):
        self.threads: list[str] = []
        self.gate = threading.Event()

    def execute(self, inputs):
        self.threads.append(threading.current_thread().name)
        if any(r.get("hang") for r in inputs):
            self.gate.wait(10)
        return inputs


def test_the_backend_never_runs_on_the_loop_even_after_many_fast_batches():
    backend = ThreadNoting()
    runner = Runner(backend)

    async def go():
        for i in range(50):  # warm: many fast batches in a row
            await runner.submit({"i": i})
        hung = asyncio.ensure_future(runner.aio.submit([{"hang": True}], timeout=0.2))
        ticks = 0
        for _ in range(10):  # the loop keeps turning while the backend call hangs
            await asyncio.sleep(0.01)
            ticks += 1
        with pytest.raises(asyncio.TimeoutError):  # and the timeout fires while it still hangs
            await hung
        still_hanging = runner.aio.stalled_s() > 0
        backend.gate.set()
        await runner.drain(5)
        return ticks, still_hanging

    ticks, still_hanging = asyncio.run(go())
    assert ticks == 10 and still_hanging
    assert all(name == "packflow-backend" for name in backend.threads), set(backend.threads)


class Exiting(Identity):
    """Raises a BaseException named by the record's ``"raise"`` field."""

    def execute(self, inputs):
        for r in inputs:
            if r.get("raise") == "exit":
                raise SystemExit(3)
            if r.get("raise") == "interrupt":
                raise KeyboardInterrupt()
        return inputs


def test_system_exit_and_keyboard_interrupt_from_the_backend_are_per_record_errors():
    runner = Runner(Exiting())

    async def go():
        first = await runner.submit({"raise": "exit"})
        second = await runner.submit({"raise": "interrupt"})
        return first, second, await runner.submit({"ok": 1})

    first, second, after = asyncio.run(go())
    assert is_dead_letter(first) and first.error_type == "SystemExit" and first.step == "execute"
    assert is_dead_letter(second) and second.error_type == "KeyboardInterrupt"
    assert after == {"ok": 1}


class SlowPoison(Poison):
    """Poison that sleeps per call and counts its calls."""

    def initialize(self):
        self.calls = 0

    def execute(self, inputs):
        self.calls += 1
        time.sleep(0.02)
        return super().execute(inputs)


def test_results_are_released_as_isolation_clears_them_not_when_it_ends():
    backend = SlowPoison()
    runner = Runner(backend)

    async def go():
        calls_at_release: dict[int, int] = {}

        async def one(i: int) -> object:
            result = await runner.submit({"i": i, "poison": i == 15})
            calls_at_release[i] = backend.calls
            return result

        results = await asyncio.gather(*(one(i) for i in range(16)))
        return results, calls_at_release

    results, calls_at_release = asyncio.run(go())
    assert is_dead_letter(results[15]) and all(not is_dead_letter(r) for r in results[:15])
    total = backend.calls
    early = [i for i in range(15) if calls_at_release[i] < total]
    assert len(early) >= 7, f"only {early} were released before the bisection ended ({calls_at_release}, {total} calls)"


def test_an_observer_raising_system_exit_loses_no_results():
    def observer(records, results):
        raise SystemExit("observer gave up")

    runner = Runner(Identity())
    runner.start_async(on_batch=observer)

    async def go():
        return [await runner.submit({"i": i}) for i in range(3)]

    assert asyncio.run(go()) == [{"i": i} for i in range(3)]
