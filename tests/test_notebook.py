"""The example notebook, top to bottom, in a real Jupyter kernel (ipykernel + nbclient), on the real MNIST,
with the step count turned down through its `parameters` cell."""

import json
from pathlib import Path

import pytest

nbclient = pytest.importorskip("nbclient")
nbformat = pytest.importorskip("nbformat")

NOTEBOOK = Path(__file__).parents[1] / "examples" / "exercise.ipynb"


def outputs(cell) -> dict:
    """Every output's data by mime type, joined: {'text/html': '...', 'image/png': '...', 'text/plain': '...'}."""
    got: dict[str, str] = {}
    for out in cell.get("outputs", []):
        for mime, value in out.get("data", {}).items():
            got[mime] = got.get(mime, "") + (value if isinstance(value, str) else json.dumps(value))
        if out.get("output_type") == "stream":
            got["stream"] = got.get("stream", "") + out["text"]
    return got


@pytest.mark.slow
def test_example_notebook_runs_in_a_kernel(mnist_dir, tmp_path):
    nb = nbformat.read(NOTEBOOK, as_version=4)
    params = [c for c in nb.cells if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(params) == 1, "the notebook has one cell tagged 'parameters'"
    params[0].source = 'SETTINGS = {"max_steps": 200, "threads": 1}'
    client = nbclient.NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": tmp_path}})
    client.execute()  # raises CellExecutionError on the first cell that fails

    by_source = {c.source.splitlines()[0]: outputs(c) for c in nb.cells if c.cell_type == "code" and c.source}
    summary = by_source["mnistlab.summary(Net())"]
    assert "<table" in summary["text/html"] and "conv1.0" in summary["text/html"] and "RF" in summary["text/html"]
    assert "Parameters: 6,554" in summary["text/plain"]  # print(summary) and the CLI: the same text
    check = by_source["mnistlab.check(Net(), max_params=8000)"]
    assert "Verdict: PASS" in check["text/plain"] and "<table" in check["text/html"]
    run_html = by_source["model = Net()"]["text/html"]
    assert "test accuracy" in run_html and "data:image/png;base64," in run_html  # the curves, inline
    assert "image/png" in by_source["run.misclassified(limit=48)"]
    assert "image/png" in by_source["run.confusion()"]

    (run_dir,) = [p.parent for p in (tmp_path / "runs").glob("*/model.json")]
    meta = json.loads((run_dir / "model.json").read_text())
    assert meta["name"] == "__main__:Net" and meta["source"]["origin"] == "notebook"
    assert "class Net(nn.Module)" in (run_dir / "model.py").read_text()
    rows = (run_dir / "metrics.csv").read_text().splitlines()
    assert len(rows) == 2  # 200 steps: one (partial) epoch
    assert (run_dir / "report.md").is_file()

    # The notebook's class, read back in another process from the run's copy of its source, opted in.
    import torch

    from mnistlab import load_model
    from mnistlab.errors import MnistlabError

    with pytest.raises(MnistlabError, match="trust_code"):
        load_model(run_dir)
    model = load_model(run_dir, trust_code=True)
    assert type(model).__name__ == "Net" and sum(p.numel() for p in model.parameters()) == 6554
    assert model(torch.zeros(3, 1, 28, 28)).shape == (3, 10)
