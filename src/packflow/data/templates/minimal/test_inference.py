"""Tests for this project: `pytest` from the project directory (pytest is not in requirements.txt)."""

from pathlib import Path

import pytest

from packflow import PackflowProject
from packflow.testing import check_backend

PROJECT = PackflowProject(Path(__file__).resolve().parent)


@pytest.fixture(scope="module")
def backend():
    """The backend as packflow.yaml configures it (same loader as `packflow run .`)."""
    return PROJECT.load_backend()


@pytest.fixture(scope="module")
def samples():
    """The records in sample_inputs.jsonl (or the file packflow.yaml names under extra.sample_inputs)."""
    return PROJECT.load_sample_inputs()


def test_check_io_on_sample_inputs(backend, samples):
    outputs = backend.check_io(samples)
    assert len(outputs) == len(samples)


def test_packflow_conformance_checks(backend, samples):
    check_backend(backend, samples)


# def test_known_output(backend):
#     assert backend({"text": "two words"}) == {"word_count": 2}
