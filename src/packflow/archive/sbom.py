"""A CycloneDX software bill of materials of an archive's bundled wheels.

Written with ``cyclonedx-python-lib`` (extra ``packflow[sign]``), the OWASP CycloneDX project's own
Python library: it tracks the specification's versions and validates the document's shape, which a
hand-assembled JSON would not. Reading a summary back needs only the standard library, so
``packflow verify -v`` works on a machine without the extra.
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from packflow.archive.manifest import FileEntry
from packflow.exceptions import ArchiveError, ProjectError

__all__ = ["SBOM_NAME", "summarize_sbom", "write_sbom"]

#: The SBOM entry of an archive exported with ``--with-wheels`` (listed in the manifest like any file).
SBOM_NAME = "sbom.cdx.json"
_WHEEL = re.compile(r"^(?P<name>[^-]+)-(?P<version>[^-]+)(-\d[^-]*)?-[^-]+-[^-]+-[^-]+\.whl$")
#: The SBOM's timestamp: fixed, so two exports of the same wheels are byte-identical (the signature
#: carries the real export time).
_FIXED_TIME = datetime(1980, 1, 1, tzinfo=timezone.utc)


def write_sbom(dest: Path, wheels: dict[str, FileEntry], project: dict[str, Any]) -> Path:
    """Write a CycloneDX 1.5 JSON SBOM: ``project`` as the application, one library per wheel with its hash."""
    try:
        from cyclonedx.model import HashAlgorithm, HashType
        from cyclonedx.model.bom import Bom
        from cyclonedx.model.component import Component, ComponentType
        from cyclonedx.output.json import JsonV1Dot5
        from packageurl import PackageURL
    except ImportError as exc:
        raise ProjectError("--with-wheels writes an SBOM with cyclonedx-python-lib: pip install 'packflow[sign]'.") from exc
    bom = Bom()
    bom.metadata.timestamp = _FIXED_TIME
    bom.metadata.component = Component(name=str(project.get("name")), version=str(project.get("version")),
                                       type=ComponentType.APPLICATION, bom_ref="project")
    for file_name, entry in sorted(wheels.items()):
        name, version = _wheel_name(file_name)
        purl = PackageURL("pypi", name.lower().replace("_", "-"), version, qualifiers={"file_name": file_name})
        bom.components.add(Component(
            name=name, version=version, type=ComponentType.LIBRARY, purl=purl, bom_ref=file_name,
            hashes=[HashType(alg=HashAlgorithm.SHA_256, content=entry.sha256)],
        ))
    text = JsonV1Dot5(bom).output_as_string(indent=2)
    data = json.loads(text)
    data["serialNumber"] = _serial(wheels)
    dest.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return dest


def _wheel_name(file_name: str) -> tuple[str, str]:
    match = _WHEEL.match(file_name)
    if not match:
        raise ProjectError(f"{file_name!r} is not a wheel file name (name-version-python-abi-platform.whl).")
    return match.group("name"), match.group("version")


def _serial(wheels: dict[str, FileEntry]) -> str:
    import uuid

    seed = "\n".join(f"{n} {e.sha256}" for n, e in sorted(wheels.items()))
    return uuid.uuid5(uuid.NAMESPACE_URL, "packflow-sbom:" + seed).urn


def summarize_sbom(raw: bytes) -> str:
    """``CycloneDX 1.5: 12 components (numpy 2.1.0, …)`` — for ``packflow verify -v``."""
    try:
        data = json.loads(raw.decode("utf-8"))
        components = [f"{c['name']} {c.get('version', '?')}" for c in data.get("components", [])]
        spec = data.get("specVersion", "?")
    except (ValueError, TypeError, KeyError, AttributeError, RecursionError) as exc:
        raise ArchiveError(f"{SBOM_NAME} is not a CycloneDX JSON document ({type(exc).__name__}: {exc}).") from exc
    shown = ", ".join(components[:8]) + (", …" if len(components) > 8 else "")
    return f"CycloneDX {spec}: {len(components)} component(s) ({shown})"
