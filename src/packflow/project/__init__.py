"""Packflow projects: create from a template, validate, export as a reproducible archive."""

from __future__ import annotations

from packflow.project.core import PackflowProject
from packflow.project.files import EXCLUDED_DIRS, EXCLUDED_PATTERNS
from packflow.project.report import Check, ValidationReport

__all__ = ["Check", "PackflowProject", "ValidationReport"]

#: packflow 0.4.1 names: what export leaves out, and the modes of created files and directories.
EXPORT_EXCLUDE_DIRS = set(EXCLUDED_DIRS)
EXPORT_EXCLUDE_PATTERNS = set(EXCLUDED_PATTERNS)
FILE_PERMISSIONS = 0o644
DIR_PERMISSIONS = 0o755
