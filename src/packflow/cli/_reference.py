"""The option tables of ``docs/cli.md``, generated from the click definitions so they cannot drift.

``python -m packflow.cli._reference --write docs/cli.md`` rewrites the generated part of the page
(between the two marker comments); ``tests/cli/test_reference.py`` fails when it is stale.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

__all__ = ["BEGIN", "END", "render_reference", "update_page"]

BEGIN = "<!-- BEGIN GENERATED: python -m packflow.cli._reference --write docs/cli.md -->"
END = "<!-- END GENERATED -->"


def render_reference() -> str:
    """One section per command: its first help line and a table of every option with its default."""
    from packflow.cli import cli

    ctx = click.Context(cli, info_name="packflow")
    sections = []
    for name in cli.list_commands(ctx):
        command = cli.get_command(ctx, name)
        if command is not None:
            sections.append(_section(name, command))
    return "\n".join(sections)


def _section(name: str, command: click.Command) -> str:
    usage = " ".join(p.human_readable_name for p in command.params if isinstance(p, click.Argument))
    title = f"packflow {name} {usage}".rstrip()
    lines = [f"### `{title}`", "", (command.help or "").strip().splitlines()[0], "",
             "| option | default | meaning |", "| --- | --- | --- |"]
    for param in command.params:
        if isinstance(param, click.Option) and not param.hidden:
            lines.append(f"| {_flags(param)} | {_default(param)} | {_cell(param.help or '')} |")
    return "\n".join(lines) + "\n"


def _flags(option: click.Option) -> str:
    names = [*option.opts, *option.secondary_opts]
    return ", ".join(f"`{n}`" for n in names)


def _default(option: click.Option) -> str:
    if option.is_flag and not option.secondary_opts:
        return "off"
    if option.required:
        return "required"
    default = option.default
    if callable(default) or default is None or "Sentinel" in repr(default) or default == ():
        return "–"
    if default == "":
        return '`""`'
    if option.is_flag:
        return f"`{option.opts[0] if default else option.secondary_opts[0]}`"
    if isinstance(default, (list, tuple)):
        return ", ".join(f"`{d}`" for d in default) or "–"
    return f"`{default}`"


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def update_page(page: Path) -> bool:
    """Rewrite the generated part of ``page``; True when it changed."""
    text = page.read_text(encoding="utf-8")
    head, _, rest = text.partition(BEGIN)
    _, _, tail = rest.partition(END)
    new = f"{head}{BEGIN}\n{render_reference()}{END}{tail}"
    if new == text:
        return False
    page.write_text(new, encoding="utf-8")
    return True


if __name__ == "__main__":  # pragma: no cover - a maintenance command
    if sys.argv[1:2] == ["--write"] and len(sys.argv) == 3:
        print("updated" if update_page(Path(sys.argv[2])) else "up to date")
    else:
        print(render_reference())
