"""The examples run as a new user would run them, on tiny data."""
import importlib.util
from pathlib import Path

import supernet as S

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def load(name):
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_custom_sequence_supernet_is_searched_through_the_python_api():
    example = load("sequence_classification")
    out = example.main(["--epochs", "2", "--train", "256"])
    model = example.MotifNet()
    assert S.validate_architecture(model, out["architecture"]) == out["architecture"]
    assert len(out["history"]) == 2 and "reward" in out["history"][-1]
    assert 0.0 <= out["child_accuracy"] <= 1.0
