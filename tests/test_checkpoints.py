from __future__ import annotations

import json
import os
import pickle

import pytest
import torch

from freqbench.architectures import create_model
from freqbench.checkpoints import CheckpointInfo, load_checkpoint, load_state_dict, save_checkpoint
from freqbench.errors import UserError


def _saved(tmp_path):
    info = CheckpointInfo.for_dataset("smallcnn", "fashion-mnist", recipe="natural")
    model = info.build().eval()
    path = save_checkpoint(model, tmp_path / "model.safetensors", info)
    return model, path


def test_round_trip_gives_identical_outputs(tmp_path):
    model, path = _saved(tmp_path)
    loaded, _ = load_checkpoint(path)
    x = torch.rand(4, 1, 28, 28)
    with torch.no_grad():
        assert torch.equal(model(x), loaded(x))
    sidecar = json.loads(path.with_suffix(".json").read_text())
    assert sidecar["architecture"] == "smallcnn" and sidecar["dataset"] == "fashion-mnist"
    assert sidecar["mean"] == [pytest.approx(0.2860)] and sidecar["recipe"] == "natural"
    assert sidecar["provenance"]["freqbench"] and len(sidecar["sha256"]) == 64
    assert not loaded.training
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temp files


def test_changed_weights_are_detected(tmp_path):
    _, path = _saved(tmp_path)
    with open(path, "r+b") as f:
        f.seek(-4, os.SEEK_END)
        f.write(b"\x00\x01\x02\x03")
    with pytest.raises(UserError, match="sha256"):
        load_checkpoint(path)


def test_pt_state_dict_is_loaded_safely(tmp_path):
    model = create_model("smallcnn", 10, 1, image_size=28)
    torch.save({"state_dict": model.state_dict()}, tmp_path / "m.pt")
    state = load_state_dict(tmp_path / "m.pt")
    assert all(torch.equal(state[k], v) for k, v in model.state_dict().items())


class _RunsCode:
    def __reduce__(self):
        return (os.system, ("echo pwned > /tmp/freqbench-pwned",))


def test_malicious_pickle_is_refused(tmp_path):
    path = tmp_path / "evil.pt"
    with open(path, "wb") as f:
        pickle.dump({"state_dict": _RunsCode()}, f)
    with pytest.raises(UserError, match="refusing to load"):
        load_state_dict(path)
    assert not os.path.exists("/tmp/freqbench-pwned")


def test_missing_sidecar_and_unknown_keys(tmp_path):
    _, path = _saved(tmp_path)
    sidecar = path.with_suffix(".json")
    data = json.loads(sidecar.read_text())
    sidecar.write_text(json.dumps({**data, "archtecture": "x"}))
    with pytest.raises(UserError, match="archtecture"):
        load_checkpoint(path)
    sidecar.unlink()
    with pytest.raises(UserError, match="sidecar"):
        load_checkpoint(path)
