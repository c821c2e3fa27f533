"""Run any packflow backend on Ray Data or Spark, unchanged (extras ``packflow[ray]``, ``packflow[spark]``).

Nothing heavy is imported until a name is used: ``map_dataset`` imports Ray, ``map_dataframe``
imports PySpark, ``run_with_engine`` imports whichever engine it is asked for.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = [
    "RayMetrics",
    "SparkMetrics",
    "map_dataframe",
    "map_dataset",
    "run_with_engine",
    "split_dataframe_results",
    "split_dataset_results",
]

_LAZY = {
    "RayMetrics": ("packflow.runtime.integrations.ray_data", "RayMetrics"),
    "map_dataset": ("packflow.runtime.integrations.ray_data", "map_dataset"),
    "split_dataset_results": ("packflow.runtime.integrations.ray_data", "split_results"),
    "SparkMetrics": ("packflow.runtime.integrations.spark_df", "SparkMetrics"),
    "map_dataframe": ("packflow.runtime.integrations.spark_df", "map_dataframe"),
    "split_dataframe_results": ("packflow.runtime.integrations.spark_df", "split_results"),
    "run_with_engine": ("packflow.runtime.integrations.engine", "run_with_engine"),
}


def __getattr__(name: str) -> Any:
    try:
        module_name, attr = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module 'packflow.runtime.integrations' has no attribute {name!r}") from None
    return getattr(importlib.import_module(module_name), attr)
