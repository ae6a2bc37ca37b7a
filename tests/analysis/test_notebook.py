"""analysis/results.ipynb runs top to bottom on a generated experiment."""

from __future__ import annotations
from support import REPO_ROOT

from pathlib import Path

import nbclient
import nbformat
import pytest

from analysis.store.export import export_experiment
from support.fake_experiment import standard_trials, write_fake_experiment

NOTEBOOK = REPO_ROOT / "analysis" / "results.ipynb"


def test_results_notebook_executes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    experiment = write_fake_experiment(tmp_path, "selu_sweep", standard_trials())
    export_experiment([experiment], experiment)
    monkeypatch.setenv("RESULTS_DIR", str(experiment))  # the kernel inherits the environment
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    client = nbclient.NotebookClient(
        notebook, kernel_name="python3", timeout=120, resources={"metadata": {"path": str(NOTEBOOK.parents[1])}}
    )
    client.execute()  # raises CellExecutionError on the first failing cell

    outputs = [output for cell in notebook.cells if cell.cell_type == "code" for output in cell.outputs]
    assert not [output for output in outputs if output.output_type == "error"]
    text = "\n".join(str(output.get("text", "")) + str(output.get("data", {}).get("text/plain", ""))
                     + str(output.get("data", {}).get("text/markdown", "")) for output in outputs)
    assert "12 trials" in text and "selu is better than relu" in text
    assert "compared at the full budget (4 epochs); 4 trial(s) cut short" in text
    images = [output["data"]["image/png"] for output in outputs if "image/png" in output.get("data", {})]
    assert len(images) == 4  # comparisons, learning curves, hyperparameters, compute


def test_results_notebook_reads_the_tables_from_object_storage(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """RESULTS_DIR an s3:// URI (a loopback server; endpoint and fake keys in the environment)."""
    pytest.importorskip("moto.server", reason="needs moto's server: pip install 'moto[server]'")
    from support.s3 import FAKE_SECRET, s3_server

    experiment = write_fake_experiment(tmp_path, "selu_sweep", standard_trials())
    with s3_server() as server:
        uri = server.upload_tree(experiment, "actsweep")
        export_experiment([uri])
        monkeypatch.setenv("RESULTS_DIR", uri)  # the kernel inherits the environment, the server's too
        notebook = nbformat.read(NOTEBOOK, as_version=4)
        client = nbclient.NotebookClient(
            notebook, kernel_name="python3", timeout=120, resources={"metadata": {"path": str(NOTEBOOK.parents[1])}}
        )
        client.execute()

    outputs = [output for cell in notebook.cells if cell.cell_type == "code" for output in cell.outputs]
    assert not [output for output in outputs if output.output_type == "error"]
    text = "\n".join(str(output.get("text", "")) + str(output.get("data", {}).get("text/plain", ""))
                     + str(output.get("data", {}).get("text/markdown", "")) for output in outputs)
    assert "12 trials" in text and "selu is better than relu" in text and FAKE_SECRET not in text
    assert len([output for output in outputs if "image/png" in output.get("data", {})]) == 4
