"""Spark adapter in local mode (local[2]): same outputs, dead letters, once-per-process init, streaming."""

from __future__ import annotations

import json

import pytest

pa = pytest.importorskip("pyarrow")

from packflow.loaders.target import load_target  # noqa: E402
from packflow.runtime import Runner  # noqa: E402

pytestmark = [pytest.mark.spark, pytest.mark.cluster]

spark_df = pytest.importorskip("packflow.runtime.integrations.spark_df")


def _run(df, target, **kwargs):
    metrics = spark_df.SparkMetrics()
    result = spark_df.map_dataframe(df, target, metrics=metrics, **kwargs).persist()
    try:
        outputs, dead = spark_df.split_results(result)
        out_rows = [row.asDict(recursive=True) for row in outputs.collect()]
        dead_rows = [row.asDict() for row in dead.collect()]
    finally:
        result.unpersist()
    return out_rows, dead_rows, metrics.summary()


@pytest.mark.parametrize("project", ["identity_project", "rowsum_project", "records_project"])
def test_same_outputs_as_plain_call_and_runner(spark, records, records_jsonl, project, request):
    target = request.getfixturevalue(project)
    backend = load_target(target)
    plain = backend(records)
    assert Runner(backend, max_batch_size=500).process_batch(records) == plain
    df = spark.read.json(records_jsonl)  # nested JSON objects become struct columns
    outputs, dead, summary = _run(df, target, batch_size=500)
    assert dead == []
    assert outputs == plain
    assert summary["records_in"] == summary["records_out"] == len(records)


@pytest.mark.parametrize("project", ["identity_project", "rowsum_project"])
def test_poison_records_are_dead_lettered_with_their_record(spark, poisoned, project, request):
    records, bad = poisoned
    df = _df(spark, records)
    outputs, dead, summary = _run(df, request.getfixturevalue(project), batch_size=200)
    assert len(outputs) == len(records) - len(bad)
    assert sorted(json.loads(d["record"])["id"] for d in dead) == sorted(bad)
    assert {(d["step"], d["error_type"]) for d in dead} == {("execute", "ValueError")}
    assert summary["dead_letters_by_step"] == {"execute": len(bad)}
    assert summary["records_in"] == len(records)


def test_initialize_runs_once_per_executor_process_not_per_batch(spark, records, records_jsonl, identity_project,
                                                                 tmp_path, helpers):
    log = tmp_path / "init.log"
    df = spark.read.json(records_jsonl).repartition(8)
    outputs, _, summary = _run(df, identity_project, batch_size=100, backend_kwargs={"init_log": str(log)},
                               output_schema=df.schema)
    pids = helpers.init_pids(log)
    assert len(outputs) == len(records)
    assert summary["batches"] >= 100  # 8 tasks, >= 100 backend batches
    assert 1 <= len(pids) <= 2 and len(pids) == len(set(pids))  # local[2]: at most one per Python worker


def test_archive_target_is_shipped_and_verified(spark, records, identity_archive):
    df = _df(spark, records[:2000]).repartition(2)
    outputs, dead, summary = _run(df, identity_archive, batch_size=250)
    assert sorted(outputs, key=lambda r: r["id"]) == records[:2000] and dead == []
    assert summary["records_out"] == 2000


def test_two_archives_with_the_same_file_name_in_one_session(spark, records, rowsum_project, tmp_path, helpers):
    from pathlib import Path

    archive = helpers.build_archive(Path(rowsum_project), tmp_path / "clustertest-0.1.0.zip")  # same name
    outputs, dead, _ = _run(_df(spark, records[:500]), str(archive), batch_size=100)
    assert dead == [] and sorted(r["sum"] for r in outputs) == sorted(
        r["features"]["a"] + r["features"]["b"] + r["features"]["c"] for r in records[:500])


def test_structured_streaming_in_and_out(spark, poisoned, identity_project, tmp_path):
    records, bad = poisoned
    source = tmp_path / "in"
    source.mkdir()
    for part in range(4):
        chunk = records[part * 500 : (part + 1) * 500]
        (source / f"part-{part}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in chunk), encoding="utf-8")
    schema = _df(spark, records[:5]).schema
    stream = spark.readStream.schema(schema).option("maxFilesPerTrigger", 1).json(str(source))
    metrics = spark_df.SparkMetrics()
    result = spark_df.map_dataframe(stream, identity_project, output_schema=schema, batch_size=128, metrics=metrics)
    assert result.isStreaming
    query = (result.writeStream.format("memory").queryName("packflow_stream_out")
             .trigger(availableNow=True).option("checkpointLocation", str(tmp_path / "ckpt")).start())
    assert query.awaitTermination(180)
    table = spark.table("packflow_stream_out")
    outputs, dead = spark_df.split_results(table)
    assert sorted(r["id"] for r in outputs.collect()) == sorted(set(range(2000)) - bad)
    assert sorted(json.loads(r["record"])["id"] for r in dead.collect()) == sorted(bad)
    assert metrics.summary()["records_in"] == 2000 and metrics.summary()["dead_letters"] == len(bad)


def test_streaming_without_schema_is_a_clear_error(spark, identity_project, tmp_path):
    from packflow.exceptions import ConfigurationError

    stream = spark.readStream.schema("id long").json(str(tmp_path))
    with pytest.raises(ConfigurationError, match="output_schema= or sample_records="):
        spark_df.map_dataframe(stream, identity_project)


def _df(spark, records):
    """A DataFrame with nested struct columns, built through JSON like real inputs."""
    rdd = spark.sparkContext.parallelize([json.dumps(r) for r in records], 4)
    return spark.read.json(rdd)
