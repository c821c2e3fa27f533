"""Packflow projects: create from a template, validate, export as a reproducible archive."""

from __future__ import annotations

from packflow.project.core import PackflowProject
from packflow.project.report import Check, ValidationReport

__all__ = ["Check", "PackflowProject", "ValidationReport"]
