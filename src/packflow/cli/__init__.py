"""The ``packflow`` command line: a thin layer over the library.

Commands are imported only when invoked, so ``packflow --help`` stays fast and a command's
optional dependencies (uvicorn, redis, …) are never imported by another command.
"""

from __future__ import annotations

import importlib
import importlib.util
from typing import Any

import click

from packflow._version import __version__

__all__ = ["cli"]

#: command name -> "module:attribute" of its click command.
COMMANDS = {
    "create": "packflow.cli.project:create",
    "validate": "packflow.cli.project:validate",
    "export": "packflow.cli.project:export",
    "verify": "packflow.cli.archive:verify",
    "install": "packflow.cli.archive:install",
    "run": "packflow.cli.run:run",
    "serve": "packflow.cli.serve:serve",
    "stream": "packflow.cli.stream:stream",
    "replay": "packflow.cli.replay:replay",
    "config": "packflow.cli.config:config",
    "keygen": "packflow.cli.archive:keygen",
}


class _LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        available = [name for name, ref in COMMANDS.items() if _module_exists(ref)]
        return sorted({*available, *super().list_commands(ctx)})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        ref = COMMANDS.get(cmd_name)
        if ref is None or not _module_exists(ref):
            return super().get_command(ctx, cmd_name)
        module_name, attr = ref.split(":")
        command: Any = getattr(importlib.import_module(module_name), attr)
        return command

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except click.UsageError as exc:  # with --log-format json, a usage error is a JSON line too
            from packflow.cli._common import json_logs, say

            if not json_logs():
                raise
            say(f"Error: {exc.format_message()}", "ERROR")
            ctx.exit(exc.exit_code)


def _module_exists(ref: str) -> bool:
    return importlib.util.find_spec(ref.split(":")[0]) is not None


@click.group(cls=_LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="packflow")
def cli() -> None:
    """Command-line tools for creating, managing, and packaging Packflow inference projects.

    Create, validate, export and run packflow inference backends.
    """
