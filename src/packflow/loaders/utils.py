"""Helpers shared by the loaders."""

from __future__ import annotations

__all__ = ["inference_backend_parts"]


def inference_backend_parts(path: str) -> list[str]:
    """Split ``'pkg.module:Name'`` into ``['pkg.module', 'Name']``.

    Raises ``ValueError`` when the target does not have exactly one colon with text on both sides.
    """
    parts = path.split(":") if isinstance(path, str) else []
    if len(parts) != 2 or not all(p.strip() for p in parts):
        raise ValueError(
            f"Backend target {path!r} must look like 'module:ClassName' (exactly one colon), "
            "e.g. 'inference:Backend'."
        )
    return [parts[0].strip(), parts[1].strip()]
