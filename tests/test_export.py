"""Export: a child of every built-in space (and of a space written in Python) to ONNX and TorchScript, each file
loaded back (onnxruntime, torch.jit) and its outputs compared with the PyTorch child's on a batch."""
import json

import pytest
import torch

from supernet import create_space, decisions, freeze, random_architecture, save_architecture, use_running_stats
from enas.search.export import example_inputs, export, export_child

from conftest import compose_config

pytest.importorskip("onnxruntime")
pytest.importorskip("onnxscript")

SPACES = [("nb201", {"C": 4, "N": 1}), ("micro", {"num_layers": 2, "out_channels": 8, "num_nodes": 3}),
          ("macro", {"num_layers": 4, "out_channels": 8}), ("rnn", {"vocab_size": 50, "hidden": 16, "num_nodes": 4})]


@pytest.mark.parametrize("name, kwargs", SPACES)
def test_a_child_of_every_built_in_space_exports_to_files_that_compute_what_it_computes(tmp_path, name, kwargs):
    torch.manual_seed(0)
    space = create_space(name, **kwargs)
    child = use_running_stats(freeze(space, random_architecture(decisions(space)))).eval()
    report = export_child(child, example_inputs(child), tmp_path)
    assert set(report) == {"onnx", "torchscript"}
    for fmt, result in report.items():
        assert result["within_tolerance"] and result["max_abs_diff"] < 1e-4, (fmt, result)
    assert json.loads((tmp_path / "export.json").read_text()) == report
    if name == "rnn":  # the files take and return the hidden state
        import onnxruntime

        session = onnxruntime.InferenceSession(str(tmp_path / "child.onnx"))
        assert len(session.get_inputs()) == 2 and len(session.get_outputs()) == 2


def test_enas_export_writes_the_trained_child_of_an_enas_train_run(tmp_path):
    from enas.search import retrain

    space = create_space("nb201", C=4, N=1)
    arch_file = tmp_path / "architecture.json"
    save_architecture(arch_file, random_architecture(decisions(space)), space={"name": "nb201", "kwargs": {"C": 4, "N": 1}})
    retrain(compose_config("train", ["data=embedded", "debug=cpu_tiny_train", "space=nb201", "space.C=4", "space.N=1",
                                     f"architecture={arch_file}"], tmp_path / "train"))
    report = export(compose_config("export", [f"run={tmp_path / 'train'}"], tmp_path / "export"))
    assert all(r["within_tolerance"] for r in report.values())
    trained = torch.load(tmp_path / "train" / "checkpoints" / "last.pt", weights_only=True)["model"]
    scripted = torch.jit.load(str(tmp_path / "export" / "child.pt"))
    assert all(torch.equal(v, trained[k]) for k, v in scripted.state_dict().items())  # the trained weights

    fresh = export(compose_config("export", [f"architecture={arch_file}"], tmp_path / "fresh"))
    assert all(r["within_tolerance"] for r in fresh.values())
    with pytest.raises(ValueError, match="needs one of run="):
        export(compose_config("export", [], tmp_path / "none"))


def test_a_users_own_space_exports_too(tmp_path):
    from collections import OrderedDict

    from torch import nn
    from supernet import LayerChoice

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = LayerChoice(OrderedDict(small=nn.Conv1d(2, 4, 3, padding=1), large=nn.Conv1d(2, 4, 5, padding=2)),
                                    label="conv")
            self.head = nn.Linear(4, 3)

        def forward(self, x):
            return self.head(self.conv(x).mean(-1))

    child = freeze(Net(), {"conv": "large"}).eval()
    report = export_child(child, (torch.randn(2, 2, 16),), tmp_path)
    assert all(r["within_tolerance"] for r in report.values())
