"""Stream drivers: a broker-neutral Source/Sink interface, the driver loop, and Redis Streams.

``packflow.runtime.stream.base`` and ``.driver`` need no broker client; ``.redis`` needs
``pip install 'packflow[redis]'`` and is imported only when used.
"""

from packflow.runtime.stream.base import Batch, Rejected, Sink, SinkCounts, Source
from packflow.runtime.stream.driver import DriverOptions, DriverStats, StreamDriver, StreamUnavailableError

__all__ = [
    "Batch",
    "DriverOptions",
    "DriverStats",
    "Rejected",
    "Sink",
    "SinkCounts",
    "Source",
    "StreamDriver",
    "StreamUnavailableError",
]
