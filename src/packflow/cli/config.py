"""``packflow config explain``: every effective backend-config key, its value and the layer that set it."""

from __future__ import annotations

import json
from typing import Any

import click

from packflow.cli._common import setup_logging, start_or_exit
from packflow.cli._options import log_format_option, config_option

__all__ = ["config"]


@click.group("config")
def config() -> None:
    """Inspect a backend's configuration."""


@config.command("explain")
@log_format_option
@click.argument("target", default=".")
@config_option
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object (keys, unknown keys, layers).")
@start_or_exit
def explain(target: str, backend_config: dict[str, Any], as_json: bool) -> None:
    """Show each effective config key of TARGET, its value and its layer (without running initialize()).

    Layers, lowest first: model default, packflow.yaml backend_config, kwargs / --config,
    BACKEND_CONFIG_FILE_PATH. Unknown keys are listed with the closest field name.
    """
    from packflow.loaders.explain import explain_config

    setup_logging("ERROR")  # the unknown keys are listed below; the load-time warning would repeat them
    resolution = explain_config(target, **backend_config)
    if as_json:
        click.echo(json.dumps(resolution.to_dict(), indent=2, default=str))
        return
    click.echo(_table(resolution))


def _table(resolution: Any) -> str:
    sources = resolution.sources()
    width = max([len("key"), *(len(s.key) for s in sources)])
    values = [json.dumps(s.value, default=str) for s in sources]
    value_width = min(40, max([len("value"), *(len(v) for v in values)]))
    override = f" ({resolution.override_path})" if resolution.override_path else ""
    lines = [f"{type(resolution.config).__name__}: layers " + " < ".join(name for name, _ in resolution.layers) + override, "",
             f"{'key':<{width}}  {'value':<{value_width}}  layer", "-" * (width + value_width + 12)]
    for source, value in zip(sources, values):
        shown = value if len(value) <= value_width else value[: value_width - 1] + "…"
        lines.append(f"{source.key:<{width}}  {shown:<{value_width}}  {source.layer}")
    if resolution.unknown:
        lines += ["", "unknown keys (ignored):"] + [f"  {u.describe()}" for u in resolution.unknown]
    return "\n".join(lines)
