"""The Kafka options of ``packflow stream`` and the driver they build (see docs/kafka.md).

``packflow stream`` reads Redis unless ``--kafka-bootstrap`` is given. The broker-neutral options
(``--input-stream``, ``--output-stream``, ``--dead-letter-stream``, ``--group``, ``--consumer``,
``--batch-size``, ``--max-wait-ms``, ``--max-pending``, ``--start-from``, ``--max-deliveries``,
``--input-mode``, ``--output-mode``, ``--exit-when-idle``, metrics and status) mean the same on both.
"""

from __future__ import annotations

import logging
import os
import socket
from typing import Any, Callable

import click

__all__ = ["build_kafka_driver", "kafka_options"]

_OPTIONS = [
    click.option("--kafka-bootstrap", default=None, metavar="HOST:PORT[,...]", help="Read and write Kafka (bootstrap.servers) instead of Redis."),
    click.option("--kafka-config", multiple=True, metavar="KEY=VALUE", help="A librdkafka setting (repeatable; prefix consumer./producer. to target one client)."),
    click.option("--kafka-config-file", default=None, metavar="PATH", help="librdkafka settings: key=value lines or a .json object."),
    click.option("--exactly-once", is_flag=True, default=False, help="Kafka: outputs, dead letters and offsets in one transaction per batch."),
    click.option("--transactional-id", default=None, help="Kafka --exactly-once: the producer's transactional.id [default: packflow-GROUP-CONSUMER]."),
    click.option("--kafka-meta-field", default=None, metavar="FIELD", help="Kafka: give each record FIELD = {topic, partition, offset, timestamp, key, headers}."),
    click.option("--output-partitioner", type=click.Choice(["input", "key"]), default="input", show_default=True, help="Kafka: output partition = input partition, or by key."),
]


def kafka_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """Add the Kafka options to a click command."""
    for option in reversed(_OPTIONS):
        func = option(func)
    return func


def _settings(opts: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any], Any]:
    """(consumer settings, producer settings, redactor) from the defaults, the file and the pairs."""
    from packflow.runtime.stream.kafka_config import KafkaSettingsError, Redactor, load_settings

    user = load_settings(opts["kafka_config_file"], opts["kafka_config"])
    redactor = Redactor(user)
    kafka_log = logging.getLogger("packflow.stream.kafka")
    kafka_log.addFilter(redactor)
    consumer_name = opts["consumer"] or f"{socket.gethostname()}-{os.getpid()}"
    shared = {"bootstrap.servers": opts["kafka_bootstrap"], "client.id": f"packflow-{consumer_name}", "logger": kafka_log}
    common = {k: v for k, v in user.items() if not k.startswith(("consumer.", "producer."))}
    consumer = {
        **shared, "group.id": opts["group"], "enable.auto.offset.store": False,
        "auto.offset.reset": "earliest" if opts["start_from"] == "begin" else "latest",
        "isolation.level": "read_committed",
        **common, **_prefixed(user, "consumer."), "enable.auto.commit": False,
    }  # fmt: skip
    if str(user.get("enable.auto.commit", user.get("consumer.enable.auto.commit", "false"))).lower() == "true":
        raise KafkaSettingsError("enable.auto.commit=true cannot be used: packflow commits offsets itself, after the outputs are written.")
    producer = {**shared, "enable.idempotence": True, "acks": "all", "linger.ms": 5, **common, **_prefixed(user, "producer.")}
    if opts["exactly_once"]:
        producer["transactional.id"] = opts["transactional_id"] or f"packflow-{opts['group']}-{consumer_name}"
    return consumer, producer, redactor


def _prefixed(settings: dict[str, str], prefix: str) -> dict[str, str]:
    return {k[len(prefix) :]: v for k, v in settings.items() if k.startswith(prefix)}


def build_kafka_driver(runner: Any, opts: dict[str, Any]) -> Any:
    """A StreamDriver reading and writing Kafka, its topics checked (start-up errors exit 2)."""
    from packflow.runtime.stream import DriverOptions, StreamDriver

    consumer, producer, redactor = _settings(opts)
    logging.getLogger("packflow.stream").debug("kafka consumer settings: %s", redactor.shown(consumer))
    source, sink = _clients(consumer, producer, redactor, opts)
    options = DriverOptions(
        batch_size=opts["batch_size"], max_wait_ms=opts["max_wait_ms"], max_pending=opts["max_pending"],
        exit_when_idle=opts["exit_when_idle"],
    )  # fmt: skip
    return StreamDriver(runner, source, sink, options)


def _clients(consumer: dict[str, Any], producer: dict[str, Any], redactor: Any, opts: dict[str, Any]) -> tuple[Any, Any]:
    from packflow.runtime.stream._kafka import KafkaStartError, ck
    from packflow.runtime.stream._kafka_txn import TransactionalKafkaSink
    from packflow.runtime.stream.kafka import KafkaSink, KafkaSource

    dead = opts["dead_letter_stream"] or f"{opts['input_stream']}.dead"
    sink_class = TransactionalKafkaSink if opts["exactly_once"] else KafkaSink
    try:
        source = KafkaSource(
            consumer, opts["input_stream"], input_mode=opts["input_mode"], max_deliveries=opts["max_deliveries"],
            meta_field=opts["kafka_meta_field"],
        )  # fmt: skip
        sink = sink_class(
            producer, opts["output_stream"], dead, output_mode=opts["output_mode"], partitioner=opts["output_partitioner"],
            metadata=source.consumer,
        )  # fmt: skip
        sink.open()  # topics checked before joining the group
        source.open()
    except (ck.KafkaException, ValueError, TypeError) as exc:  # a librdkafka setting it refused
        raise KafkaStartError(f"Invalid Kafka settings: {redactor(str(exc))}") from None
    except KafkaStartError as exc:
        raise KafkaStartError(redactor(str(exc))) from None
    return source, sink
