"""The autoattack metric against a direct pyautoattack call, and its resume after a kill.

Full-strength AutoAttack takes minutes on a CPU once points survive APGD-CE, so most tests
use the ``small_budget`` fixture (conftest), which shrinks every attack's budget the same
way for both sides: the comparison stays exact while all four attacks run.
"""

from __future__ import annotations

import pytest
from pyautoattack import AutoAttack

from freqbench.checkpoints import load_checkpoint
from freqbench.data import load_dataset
from freqbench.errors import UserError
from freqbench.metrics import get_metric
from freqbench.metrics.builtin import autoattack as aa_metric

EPS = 8 / 255


@pytest.fixture(scope="module")
def model_and_data(synthetic_checkpoint):
    model, _ = load_checkpoint(synthetic_checkpoint)
    return model, load_dataset("synthetic", "test", n_examples=32)


def _direct_flags(model, data, eps, batch_size, norm="Linf"):
    direct = AutoAttack(model, norm=norm, eps=eps, version="standard", device="cpu", seed=0)
    _, y_adv = direct.run_standard_evaluation(data.images, data.labels, batch_size=batch_size)
    return (y_adv == data.labels).numpy()


def test_full_strength_equals_direct_call(model_and_data):
    """eps large enough that APGD-CE breaks every point: full budget, still fast."""
    model, data = model_and_data
    result = get_metric("autoattack").compute(model, data, eps=16 / 255, seed=0, batch_size=16)
    flags = _direct_flags(model, data, 16 / 255, 16)
    assert (result.arrays["robust_flags"] == flags).all()
    assert result.values["robust_accuracy"] == pytest.approx(flags.mean())


def test_every_attack_runs_and_flags_equal_direct_call(model_and_data, small_budget):
    model, data = model_and_data
    result = get_metric("autoattack").compute(model, data, eps=EPS, seed=0, batch_size=8)
    flags = _direct_flags(model, data, EPS, 8)
    assert (result.arrays["robust_flags"] == flags).all()
    assert result.values["robust_accuracy"] == pytest.approx(flags.mean())
    clean_correct = int((model(data.images).argmax(1) == data.labels).sum())
    # Every clean-correct point is either robust or broken by exactly one attack.
    assert flags.sum() + sum(result.values["broken_by"].values()) == clean_correct
    assert result.values["clean_accuracy"] == pytest.approx(clean_correct / 32)
    assert list(result.values["broken_by"]) == ["apgd-ce", "apgd-t", "fab-t", "square"]
    assert 0 < flags.sum() < clean_correct  # some points broken, some survive every attack
    assert result.values["batch_size"] == 8  # on the CPU: the batch asked for


def test_l1_flags_on_a_tiny_model_equal_direct_call(small_budget):
    """The same on a linear model of 3 x 8 x 8 images, fast enough for every run: labels
    are the model's own predictions, so every point is attacked."""
    import torch
    from torch import nn

    from freqbench.data import LabeledImages, get_dataset_info

    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, 10)).eval()
    images = torch.rand(12, 3, 8, 8)
    with torch.no_grad():
        labels = model(images).argmax(1)
    data = LabeledImages(images, labels, get_dataset_info("synthetic"))
    eps = 0.5
    result = get_metric("autoattack").compute(model, data, norm="L1", eps=eps, seed=0, batch_size=4)
    flags = _direct_flags(model, data, eps, 4, norm="L1")
    assert (result.arrays["robust_flags"] == flags).all()
    assert result.values["robust_accuracy"] == pytest.approx(flags.mean())
    assert 0 < flags.sum() < len(flags), flags  # some points broken, some survive


@pytest.mark.slow
def test_l1_flags_equal_direct_call(model_and_data, small_budget):
    """AutoAttack's L1 version (l1-APGD with its shrinking-radius schedule, 5 restarts):
    the same attacks in the same order as pyautoattack's own call, the same robust points."""
    model, data = model_and_data[0], model_and_data[1].first(16)
    eps = 1.0
    result = get_metric("autoattack").compute(model, data, norm="L1", eps=eps, seed=0, batch_size=8)
    flags = _direct_flags(model, data, eps, 8, norm="L1")
    assert (result.arrays["robust_flags"] == flags).all()
    assert result.values["robust_accuracy"] == pytest.approx(flags.mean())
    assert result.values["norm"] == "L1"
    assert list(result.values["broken_by"]) == ["apgd-ce", "apgd-t", "fab-t", "square"]
    clean_correct = int((model(data.images).argmax(1) == data.labels).sum())
    assert 0 < flags.sum() < clean_correct  # some points broken, some survive every attack


def test_l1_eps_defaults_to_the_dataset_cards(model_and_data, small_budget):
    model, data = model_and_data
    result = get_metric("autoattack").compute(model, data.first(4), norm="L1", seed=0, batch_size=4)
    assert result.values["eps"] == 12.0  # synthetic's card: CIFAR-10's L1 radius


@pytest.mark.parametrize(
    ("per_image", "free", "requested", "expected"),
    [
        (100e6, 80e9, 500, 400),  # half of 80 GB holds 400 images of 100 MB
        (100e6, 200e9, 500, 500),  # room for more: the batch asked for
        (100e6, 50e6, 500, 1),  # room for none: one at a time
        (0.0, 1e9, 64, 64),  # a model that needs nothing measurable
    ],
)
def test_the_attack_batch_is_what_half_the_free_gpu_memory_holds(
    per_image, free, requested, expected
):
    assert aa_metric.fitted_batch_size(per_image, int(free), requested) == expected


def test_a_resumed_run_keeps_the_batch_size_it_was_saved_with(model_and_data, tmp_path):
    """A state saved at batch 4 (as a GPU fitting its memory leaves it) is resumed at 4, not
    refused as another run, and the block says 4."""
    model, data = model_and_data
    state = tmp_path / "state.json"
    metric = get_metric("autoattack")
    first = metric.compute(
        model, data, eps=16 / 255, batch_size=4, state_path=state, progress=False
    )
    with pytest.warns(UserWarning, match="runs 4 images at a time, not --batch-size 8"):
        again = metric.compute(
            model, data, eps=16 / 255, batch_size=8, state_path=state, progress=False
        )
    assert again.values["batch_size"] == 4
    assert (again.arrays["robust_flags"] == first.arrays["robust_flags"]).all()


@pytest.mark.skipif(not __import__("torch").cuda.is_available(), reason="no CUDA device")
def test_the_attack_batch_on_a_gpu_shrinks_with_its_free_memory(model_and_data, monkeypatch):
    import torch

    model, data = model_and_data
    model = model.to("cuda")
    roomy = aa_metric.attack_batch_size(model, data.images, 10**9, "cuda")
    total = torch.cuda.mem_get_info()[1]
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda device=None: (2**20, total))
    tight = aa_metric.attack_batch_size(model, data.images, 10**9, "cuda")
    assert 1 <= tight < roomy < 10**9


def test_resume_after_kill_mid_attack(model_and_data, small_budget, tmp_path, monkeypatch):
    model, data = model_and_data
    metric = get_metric("autoattack").compute
    uninterrupted = metric(model, data, eps=EPS, seed=0, batch_size=4)
    state = tmp_path / "aa.state.json"
    perturb, calls = aa_metric._perturb, []

    def killed_on_third_batch(adversary, attack, x, y):
        calls.append(attack)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return perturb(adversary, attack, x, y)

    monkeypatch.setattr(aa_metric, "_perturb", killed_on_third_batch)
    with pytest.raises(KeyboardInterrupt):
        metric(model, data, eps=EPS, seed=0, batch_size=4, state_path=state)
    monkeypatch.setattr(aa_metric, "_perturb", perturb)
    assert state.exists()
    resumed = metric(model, data, eps=EPS, seed=0, batch_size=4, state_path=state)
    assert (resumed.arrays["robust_flags"] == uninterrupted.arrays["robust_flags"]).all()
    assert resumed.values["broken_by"] == uninterrupted.values["broken_by"]
    with pytest.raises(UserError, match="different AutoAttack run"):
        metric(model, data, eps=EPS / 2, seed=0, batch_size=4, state_path=state)


def test_bad_norm_and_eps(model_and_data):
    model, data = model_and_data
    with pytest.raises(UserError, match="Linf, L2, L1"):
        get_metric("autoattack").compute(model, data, norm="corruptions")
    with pytest.raises(UserError, match="unknown threat model 'L3'"):
        get_metric("autoattack").compute(model, data, norm="L3")
    with pytest.raises(UserError, match="eps"):
        get_metric("autoattack").compute(model, data, eps=-0.1)


@pytest.mark.parametrize("norm", ["Linf", "L1"])
def test_progress_counts_every_forward_pass_of_each_attack(small_budget, norm):
    """A constant classifier survives every attack, so each attack spends its whole budget:
    the passes counted by a hook on the model equal passes_per_image per image, exactly."""
    import torch
    from torch import nn

    from freqbench.metrics.builtin.autoattack import _perturb, passes_per_image

    model = nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, 10)).eval()
    with torch.no_grad():
        model[1].weight.zero_()
        model[1].bias.copy_(torch.eye(10)[3] * 5)  # always class 3, whatever the input
    counted = []
    model.register_forward_pre_hook(lambda module, args: counted.append(len(args[0])))
    x, y = torch.rand(6, 3, 8, 8), torch.full((6,), 3)
    adversary = AutoAttack(model, norm=norm, eps=0.01, version="standard", device="cpu", seed=0)
    for attack in adversary.attacks_to_run:
        counted.clear()
        with torch.no_grad():
            _perturb(adversary, attack, x, y)
        assert sum(counted) == len(x) * passes_per_image(adversary, attack), attack
