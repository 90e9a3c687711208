"""The example notebook runs headless, top to bottom, on the workspace."""

from __future__ import annotations

from pathlib import Path

import nbclient
import nbformat

NOTEBOOK = Path(__file__).resolve().parents[3] / "examples" / "campaign_page.ipynb"


def test_the_campaign_page_notebook_runs(workspace, monkeypatch) -> None:
    monkeypatch.setenv("SENDLENS_WORKSPACE", str(Path(workspace).resolve()))
    nb = nbformat.read(NOTEBOOK, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = []
    # Raises CellExecutionError, naming the cell, when any cell fails.
    nbclient.NotebookClient(
        nb,
        timeout=600,
        kernel_name="python3",
        resources={"metadata": {"path": str(NOTEBOOK.parent)}},
    ).execute()
    outputs = [o for cell in nb.cells if cell.cell_type == "code" for o in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(images) == 2, "the daily chart and the A/B chart"
    text = "".join(o.get("text", "") for o in outputs)
    assert "table version" in text
