"""The Runner: micro-batching by size and time, streaming map, counters and snapshots."""

from __future__ import annotations

import asyncio
import json
import threading
import time

import pytest

from packflow.runtime import Runner, is_dead_letter
from packflow.runtime.batching import iter_batches


def test_rejects_bad_settings(kit):
    with pytest.raises(ValueError, match="max_batch_size must be >= 1"):
        Runner(kit.Doubler(), max_batch_size=0)
    with pytest.raises(ValueError, match="max_wait_ms must be a finite number >= 0"):
        Runner(kit.Doubler(), max_wait_ms=-1)
    with pytest.raises(ValueError, match="on_error must be 'isolate' or 'fail'"):
        Runner(kit.Doubler(), on_error="ignore")  # type: ignore[arg-type]


def test_process_batch_chunks_by_max_batch_size(kit):
    runner = Runner(kit.Doubler(), max_batch_size=4)
    results = runner.process_batch(kit.make_records(10))
    assert [r["y"] for r in results] == [2 * i for i in range(10)]
    snap = runner.snapshot()
    assert snap.batches == 3 and snap.backend_calls == 3
    assert snap.batch_sizes["2"] == 1 and snap.batch_sizes["4"] == 2


def test_process_single_record(kit):
    runner = Runner(kit.Doubler())
    assert runner.process({"id": 1, "x": 5}) == {"id": 1, "y": 10}
    assert is_dead_letter(runner.process({"id": 2, "x": 1, "poison": True}))


def test_process_batch_counted_reports_dead_letters(kit):
    runner = Runner(kit.Doubler(), max_batch_size=4)
    results, dead = runner.process_batch_counted(kit.make_records(10, poison=[1, 9]))
    assert dead == 2 and sum(map(is_dead_letter, results)) == 2
    assert runner.process_batch_counted(kit.make_records(3))[1] == 0


def test_map_streams_a_generator_in_order_with_bounded_batches(kit):
    consumed = []

    def source():
        for record in kit.make_records(50, poison=[7, 30]):
            consumed.append(record["id"])
            yield record

    runner = Runner(kit.Doubler(), max_batch_size=8, max_wait_ms=0)
    stream = runner.map(source())
    first = next(stream)
    assert first == {"id": 0, "y": 0}
    assert len(consumed) == 8  # only one batch has been read so far
    rest = list(stream)
    assert len(rest) == 49
    assert [is_dead_letter(r) for r in [first, *rest]].count(True) == 2
    assert rest[6].record["id"] == 7 and rest[29].record["id"] == 30


def test_max_wait_flushes_a_partial_batch_of_a_slow_iterator(kit):
    release = threading.Event()

    def slow():
        yield {"id": 0, "x": 1}
        yield {"id": 1, "x": 2}
        release.wait(5)  # the producer stalls; the two records must not wait for it
        yield {"id": 2, "x": 3}

    runner = Runner(kit.Doubler(), max_batch_size=100, max_wait_ms=30)
    started = time.monotonic()
    stream = runner.map(slow())
    assert next(stream) == {"id": 0, "y": 2}
    assert next(stream) == {"id": 1, "y": 4}
    assert time.monotonic() - started < 2.0
    release.set()
    assert list(stream) == [{"id": 2, "y": 6}]
    assert runner.snapshot().batch_sizes["2"] == 1


def test_iter_batches_raises_the_producers_error_after_its_records():
    def broken():
        yield 1
        raise RuntimeError("source failed")

    batches = iter_batches(broken(), 10, max_wait_ms=5)
    assert next(batches) == [1]
    with pytest.raises(RuntimeError, match="source failed"):
        next(batches)


def test_snapshot_counts_and_step_statistics(kit):
    runner = Runner(kit.Doubler(), max_batch_size=10)
    runner.process_batch(kit.make_records(10, poison=[4]))
    runner.process_batch(kit.make_records(3))
    runner.record_dead_letter("decode", 2)
    snap = runner.snapshot()
    assert (snap.records_in, snap.records_out, snap.dead_letters) == (15, 12, 3)
    assert snap.dead_letters_by_step == {"execute": 1, "decode": 2}
    assert snap.batches == 2
    assert snap.batch_sizes["4"] == 1 and snap.batch_sizes["16"] == 1
    assert set(snap.steps) == {"preprocess", "execute", "total"}
    assert snap.steps["execute"]["errors"] >= 1
    assert snap.steps["total"]["count"] == snap.backend_calls - snap.steps["total"]["errors"]
    for key in ("count", "mean_ms", "p50_ms", "p95_ms", "p99_ms"):
        assert key in snap.steps["total"]
    json.dumps(snap.to_dict())


def test_encode_failures_move_records_from_out_to_dead(kit):
    runner = Runner(kit.Doubler())
    runner.process_batch(kit.make_records(4))
    runner.record_dead_letter("encode", 1)
    snap = runner.snapshot()
    assert (snap.records_in, snap.records_out, snap.dead_letters) == (4, 3, 1)


def test_async_submissions_are_batched_and_isolated(kit):
    runner = Runner(kit.Doubler(), max_batch_size=16)

    async def main():
        results = await asyncio.gather(*(runner.submit(r) for r in kit.make_records(20, poison=[11])))
        assert await runner.drain(5)
        return results

    results = asyncio.run(main())
    assert [r["id"] if not is_dead_letter(r) else r.record["id"] for r in results] == list(range(20))
    assert is_dead_letter(results[11]) and sum(map(is_dead_letter, results)) == 1
