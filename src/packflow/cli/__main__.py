"""``python -m packflow.cli``: the same as the ``packflow`` command."""

from packflow.cli import cli

cli(prog_name="packflow")
