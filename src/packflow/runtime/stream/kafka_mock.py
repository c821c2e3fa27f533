"""A local Kafka *mock* cluster for tests, demos and benchmarks: librdkafka's built-in mock brokers.

The ``confluent-kafka`` wheel bundles librdkafka, which contains a mock cluster (brokers that speak
the Kafka protocol on loopback sockets, in memory). This module starts one through librdkafka's C
API (``ctypes``), so that a test can also take brokers down and bring them back::

    python -m packflow.runtime.stream.kafka_mock --brokers 3 --topic in:4 --topic out:4
    # prints: bootstrap.servers=127.0.0.1:41235,127.0.0.1:40113,127.0.0.1:36337
    # then reads commands on stdin, one per line:
    #   down ID | up ID | topic NAME PARTITIONS | quit   (each answered by "ok" or "error ...")

The cluster lives as long as the process; closing stdin stops it. What the mock does *not* do is
listed in ``docs/kafka.md`` (notably: offsets sent in a transaction are never stored).
"""

from __future__ import annotations

import argparse
import ctypes
import glob
import os
import sys
from typing import Any

__all__ = ["MockCluster", "main"]

_RD_KAFKA_PRODUCER = 0


def _library() -> Any:
    """librdkafka as loaded by confluent_kafka (the wheel's bundled copy, else the system's)."""
    import confluent_kafka

    root = os.path.dirname(os.path.dirname(confluent_kafka.__file__))
    candidates = glob.glob(os.path.join(root, "confluent_kafka.libs", "librdkafka*.so*"))
    candidates += glob.glob(os.path.join(root, "confluent_kafka", ".dylibs", "librdkafka*.dylib"))
    import ctypes.util

    path = candidates[0] if candidates else ctypes.util.find_library("rdkafka")
    if path is None:
        raise RuntimeError("librdkafka not found: pip install 'packflow[kafka]' (confluent-kafka wheel)")
    lib = ctypes.CDLL(path)
    vp, cp, i32 = ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int32
    signatures = {
        "rd_kafka_conf_new": ([], vp),
        "rd_kafka_conf_set": ([vp, cp, cp, cp, ctypes.c_size_t], ctypes.c_int),
        "rd_kafka_new": ([ctypes.c_int, vp, cp, ctypes.c_size_t], vp),
        "rd_kafka_destroy": ([vp], None),
        "rd_kafka_mock_cluster_new": ([vp, ctypes.c_int], vp),
        "rd_kafka_mock_cluster_destroy": ([vp], None),
        "rd_kafka_mock_cluster_bootstraps": ([vp], cp),
        "rd_kafka_mock_topic_create": ([vp, cp, ctypes.c_int, ctypes.c_int], ctypes.c_int),
        "rd_kafka_mock_broker_set_down": ([vp, i32], ctypes.c_int),
        "rd_kafka_mock_broker_set_up": ([vp, i32], ctypes.c_int),
        "rd_kafka_mock_group_initial_rebalance_delay_ms": ([vp, i32], None),
    }
    for name, (args, restype) in signatures.items():
        func = getattr(lib, name)
        func.argtypes, func.restype = args, restype
    return lib


class MockCluster:
    """``brokers`` mock brokers on loopback; ``bootstrap`` is their ``bootstrap.servers`` string."""

    def __init__(self, brokers: int = 1, rebalance_delay_ms: int = 0) -> None:
        self._lib = lib = _library()
        errstr = ctypes.create_string_buffer(512)
        conf = lib.rd_kafka_conf_new()
        lib.rd_kafka_conf_set(conf, b"log_level", b"0", errstr, len(errstr))
        self._rk = lib.rd_kafka_new(_RD_KAFKA_PRODUCER, conf, errstr, len(errstr))
        if not self._rk:
            raise RuntimeError(f"cannot create the librdkafka handle: {errstr.value.decode()}")
        self._cluster = lib.rd_kafka_mock_cluster_new(self._rk, brokers)
        if not self._cluster:
            raise RuntimeError("librdkafka could not start a mock cluster")
        self.brokers = brokers
        # Like a broker's group.initial.rebalance.delay.ms (the mock's default is 3 s; tests want 0).
        lib.rd_kafka_mock_group_initial_rebalance_delay_ms(self._cluster, rebalance_delay_ms)
        self.bootstrap: str = lib.rd_kafka_mock_cluster_bootstraps(self._cluster).decode()

    def create_topic(self, name: str, partitions: int) -> None:
        self._check(self._lib.rd_kafka_mock_topic_create(self._cluster, name.encode(), partitions, 1), "topic")

    def set_down(self, broker_id: int) -> None:
        """Close the broker's connections and refuse new ones (its partitions become unavailable)."""
        self._check(self._lib.rd_kafka_mock_broker_set_down(self._cluster, broker_id), "down")

    def set_up(self, broker_id: int) -> None:
        self._check(self._lib.rd_kafka_mock_broker_set_up(self._cluster, broker_id), "up")

    def close(self) -> None:
        if self._cluster:
            self._lib.rd_kafka_mock_cluster_destroy(self._cluster)
            self._lib.rd_kafka_destroy(self._rk)
            self._cluster = self._rk = None

    @staticmethod
    def _check(err: int, what: str) -> None:
        if err:
            raise RuntimeError(f"mock cluster {what} failed with librdkafka error code {err}")


def _serve(cluster: MockCluster) -> None:
    for line in sys.stdin:
        words = line.split()
        if not words:
            continue
        try:
            if words[0] == "quit":
                break
            if words[0] in ("down", "up"):
                (cluster.set_down if words[0] == "down" else cluster.set_up)(int(words[1]))
            elif words[0] == "topic":
                cluster.create_topic(words[1], int(words[2]))
            else:
                raise ValueError(f"unknown command {words[0]!r}")
            print("ok", flush=True)
        except (RuntimeError, ValueError, IndexError) as exc:
            print(f"error {exc}", flush=True)


def main(argv: list[str] | None = None) -> None:
    """Start a mock cluster, print its bootstrap servers, obey stdin commands until EOF or ``quit``."""
    parser = argparse.ArgumentParser(prog="python -m packflow.runtime.stream.kafka_mock")
    parser.add_argument("--brokers", type=int, default=1)
    parser.add_argument("--rebalance-delay-ms", type=int, default=0, help="group.initial.rebalance.delay.ms")
    parser.add_argument("--topic", action="append", default=[], help="NAME:PARTITIONS, created at start")
    args = parser.parse_args(argv)
    cluster = MockCluster(args.brokers, args.rebalance_delay_ms)
    for spec in args.topic:
        name, _, partitions = spec.rpartition(":")
        cluster.create_topic(name or spec, int(partitions) if name else 1)
    print(f"bootstrap.servers={cluster.bootstrap}", flush=True)
    try:
        _serve(cluster)
    finally:
        cluster.close()


if __name__ == "__main__":
    main()
