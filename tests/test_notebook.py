"""examples/notebooks/quickstart.ipynb, executed top to bottom by a real Jupyter kernel (nbclient)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

NOTEBOOK = Path(__file__).resolve().parents[1] / "examples" / "notebooks" / "quickstart.ipynb"


@pytest.fixture(scope="module")
def executed() -> list:
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    client = nbclient.NotebookClient(notebook, timeout=120, kernel_name="python3",
                                     resources={"metadata": {"path": str(NOTEBOOK.parent)}})
    client.execute()
    return [cell for cell in notebook.cells if cell.cell_type == "code"]


def _outputs(cell, kind: str) -> list:
    return [o["data"][kind] for o in cell.get("outputs", []) if "data" in o and kind in o["data"]]


def test_no_cell_raises(executed) -> None:
    errors = [o for cell in executed for o in cell.get("outputs", []) if o.get("output_type") == "error"]
    assert errors == []


def test_first_call_returns_the_score(executed) -> None:
    text = _outputs(executed[2], "text/plain")[0]
    assert "'ratio': 50.0" in text and "'suspicious': True" in text


def test_metrics_and_statistics_render_as_html_tables(executed) -> None:
    metrics_html = _outputs(executed[4], "text/html")[0]
    assert "<table" in metrics_html and "last call: 64 record(s)" in metrics_html and "execute" in metrics_html
    stats_html = _outputs(executed[5], "text/html")[0]
    assert "rolling per-step latency" in stats_html and "p95_ms" in stats_html and "preprocess" in stats_html


def test_the_plot_is_an_image(executed) -> None:
    assert _outputs(executed[6], "image/png"), "the latency plot should be shown inline"


def test_packflow_run_dead_letters_the_bad_line(executed) -> None:
    printed = "".join(o.get("text", "") for o in executed[7]["outputs"] if o.get("output_type") == "stream")
    assert "exit code 3 | records in 9 out 8 dead-lettered 1" in printed
    dead = _outputs(executed[7], "text/plain")[0]
    assert "'source': 9" in dead and "'record': {'bytes_in': 'lots', 'bytes_out': 3}" in dead


def test_notebook_is_committed_without_outputs() -> None:
    notebook = json.loads(NOTEBOOK.read_text())
    assert all(not cell.get("outputs") for cell in notebook["cells"] if cell["cell_type"] == "code")
