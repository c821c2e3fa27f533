"""Ray Data adapter in local mode (ray.init(num_cpus=2)): same outputs, dead letters, once-per-actor init."""

from __future__ import annotations

import json

import pytest

pa = pytest.importorskip("pyarrow")

from packflow.loaders.target import load_target  # noqa: E402
from packflow.runtime import Runner  # noqa: E402

pytestmark = [pytest.mark.ray, pytest.mark.cluster]

ray_data = pytest.importorskip("packflow.runtime.integrations.ray_data")


def _run(ray_session, records, target, **kwargs):
    ds = ray_session.data.from_arrow(pa.Table.from_pylist(records)).repartition(8)
    metrics = ray_data.RayMetrics()
    kwargs.setdefault("num_cpus", 0.5)  # leave CPU for the read/repartition tasks
    result = ray_data.map_dataset(ds, target, metrics=metrics, **kwargs)
    outputs, dead = ray_data.split_results(result)
    out_rows, dead_rows = outputs.take_all(), dead.take_all()
    summary = metrics.summary()
    metrics.close()
    return out_rows, dead_rows, summary


@pytest.mark.parametrize("project", ["identity_project", "rowsum_project", "records_project"])
def test_same_outputs_as_plain_call_and_runner(ray_session, records, project, request):
    target = request.getfixturevalue(project)
    backend = load_target(target)
    plain = backend(records)
    via_runner = Runner(backend, max_batch_size=500).process_batch(records)
    outputs, dead, summary = _run(ray_session, records, target, batch_size=500, concurrency=2)
    assert plain == via_runner
    assert dead == []
    assert outputs == plain
    assert summary["records_in"] == summary["records_out"] == len(records)
    assert summary["steps"]["execute"]["count"] == summary["backend_calls"] >= len(records) // 500


@pytest.mark.parametrize("project", ["identity_project", "rowsum_project"])
def test_poison_records_are_dead_lettered_with_their_record(ray_session, poisoned, project, request):
    records, bad = poisoned
    outputs, dead, summary = _run(ray_session, records, request.getfixturevalue(project), batch_size=200, concurrency=2)
    assert len(outputs) == len(records) - len(bad)
    assert sorted(json.loads(d["record"])["id"] for d in dead) == sorted(bad)
    assert {d["step"] for d in dead} == {"execute"}
    assert all("ValueError" == d["error_type"] for d in dead)
    assert summary["dead_letters"] == len(bad) and summary["dead_letters_by_step"] == {"execute": len(bad)}
    assert summary["records_in"] == len(records)


def test_initialize_runs_once_per_actor_not_per_batch(ray_session, records, identity_project, tmp_path, helpers):
    log = tmp_path / "init.log"
    schema = pa.Table.from_pylist(records[:10]).schema
    outputs, _, summary = _run(ray_session, records, identity_project, batch_size=100, concurrency=2,
                               backend_kwargs={"init_log": str(log)}, output_schema=schema)
    pids = helpers.init_pids(log)
    assert len(outputs) == len(records)
    assert summary["batches"] >= 100
    assert len(pids) == 2 and len(set(pids)) == 2
    assert summary["workers"] == 2


def test_archive_target_is_shipped_and_verified(ray_session, records, identity_archive):
    outputs, dead, summary = _run(ray_session, records[:2000], identity_archive, batch_size=250, concurrency=2)
    assert outputs == records[:2000] and dead == []
    assert summary["records_out"] == 2000


def test_status_columns_keep_every_row(ray_session, poisoned, identity_project):
    records, bad = poisoned
    ds = ray_session.data.from_arrow(pa.Table.from_pylist(records))
    rows = ray_data.map_dataset(ds, identity_project, batch_size=300, concurrency=1).take_all()
    assert len(rows) == len(records)
    statuses = [r["_packflow_status"] for r in rows]
    assert [i for i, s in enumerate(statuses) if s == "dead_letter"] == sorted(bad)
    assert all(rows[i]["_packflow_dead_letter"] is None for i in range(len(rows)) if i not in bad)


def test_an_actor_pool_larger_than_the_cluster_is_refused_not_left_waiting(ray_session, records, identity_project):
    ds = ray_session.data.from_arrow(pa.Table.from_pylist(records[:10]))
    with pytest.raises(ray_data.ActorPoolTooLargeError, match=r"concurrency=4, num_cpus=1\) needs 4 CPUs .* has 2"):
        ray_data.map_dataset(ds, identity_project, concurrency=4, num_cpus=1)
    assert isinstance(ray_data.ActorPoolTooLargeError("x"), ValueError)
