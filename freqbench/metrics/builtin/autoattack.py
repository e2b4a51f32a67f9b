"""AutoAttack robust accuracy (Croce and Hein, ICML 2020) with the ``pyautoattack`` package.

The attacks are pyautoattack's own objects, configured by its ``standard`` version; this
module runs them in the same order, on the same batches of still-robust points, with the
same per-call seeds as ``AutoAttack.run_standard_evaluation``, so the robust flags are
identical to a direct call (the tests check it). It adds what that call lacks here:

- a resumable state: pyautoattack 0.2.0's own ``state_path`` cannot be restored (it saves
  the attack set as a string, and its resume path uses an unset variable), so progress is
  saved after every batch to a JSON file of ours, and a killed run continues exactly;
- the number of points each attack broke;
- the warnings of pyautoattack's sanity checks, with an ``unreliable`` flag where they point
  at gradient masking or randomness, as RobustBench flags such evaluations.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import warnings
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from freqbench import atomic
from freqbench.errors import UserError
from freqbench.metrics.counts import fraction_problems
from freqbench.metrics.degenerate_predictions import prediction_problems
from freqbench.metrics.presentation import Column, Presentation
from freqbench.metrics.spec import (
    COUNT,
    FRACTION,
    FieldContext,
    Flag,
    MetricResult,
    MetricSpec,
    ProtocolField,
    Shard,
    format_eps,
    percent,
    shard_range,
)
from freqbench.threat_models import DEFAULT, bounded_names, get_threat_model

if TYPE_CHECKING:  # torch and pyautoattack are imported when the metric runs
    import torch
    from pyautoattack import AutoAttack
    from torch import nn

    from freqbench.data import LabeledImages

STATE_FORMAT = "freqbench-autoattack-state/1"
# Words in pyautoattack's check warnings that mean the robust accuracy may be overestimated.
_UNRELIABLE_SIGNS = (
    "randomized",  # check_randomized: outputs change between identical calls
    "gradient",  # check_zero_gradients: masked or obfuscated gradients
    "square",  # check_square_sr: a black-box attack beat the white-box ones
    "dynamic",  # check_dynamic: the forward pass changes with the input
    "probabilit",  # check_range_output: outputs look like probabilities (softmax inside)
)


class _WarningCollector(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage().strip())


@contextlib.contextmanager
def _collect_warnings(logger: logging.Logger) -> Iterator[list[str]]:
    collector = _WarningCollector()
    logger.addHandler(collector)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            yield collector.messages
        finally:
            logger.removeHandler(collector)
            collector.messages.extend(
                str(w.message) for w in caught if "autoattack" in w.filename.replace("\\", "/")
            )


def _perturb(adversary: AutoAttack, attack: str, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """One attack on one batch, set up exactly as ``run_standard_evaluation`` sets it up."""
    if attack in ("apgd-ce", "apgd-dlr"):
        adversary.apgd.loss = attack.removeprefix("apgd-")
        adversary.apgd.seed = adversary.get_seed()
        return adversary.apgd.perturb(x, y)
    if attack == "apgd-t":
        adversary.apgd_targeted.seed = adversary.get_seed()
        return adversary.apgd_targeted.perturb(x, y)
    if attack in ("fab", "fab-t"):
        adversary.fab.targeted = attack == "fab-t"
        if attack == "fab-t":
            adversary.fab.n_restarts = 1
        adversary.fab.seed = adversary.get_seed()
        return adversary.fab.perturb(x, y)
    if attack == "square":
        adversary.square.seed = adversary.get_seed()
        return adversary.square.perturb(x, y)
    raise UserError(f"unknown AutoAttack attack '{attack}'")


class _State:
    """Progress of one evaluation, saved after every batch so that a kill loses one batch."""

    def __init__(self, path: Path | None, settings: dict[str, Any]):
        self.path, self.settings = path, settings
        self.clean_flags: list[bool] | None = None
        self.flags: list[bool] | None = None
        self.done: list[str] = []
        self.current: dict[str, Any] | None = None  # attack in progress: indices, next batch
        self.broken_by: dict[str, int] = {}

    @classmethod
    def open(cls, path: Path | None, settings: dict[str, Any]) -> _State:
        state = cls(path, settings)
        if path is None or not path.exists():
            return state
        saved = json.loads(path.read_text())
        if saved.get("format") != STATE_FORMAT or saved.get("settings") != settings:
            raise UserError(
                f"{path} holds the state of a different AutoAttack run (model inputs, eps, "
                "seed or batch size differ): delete it or pass another state path"
            )
        for key in ("clean_flags", "flags", "done", "current", "broken_by"):
            setattr(state, key, saved[key])
        return state

    @staticmethod
    def saved_batch_size(path: Path | None) -> int | None:
        """The batch size a saved run attacked with, so that a resumed run keeps it."""
        if path is None or not path.exists():
            return None
        try:
            size = json.loads(path.read_text())["settings"]["batch_size"]
        except (OSError, ValueError, KeyError, TypeError):
            return None  # unreadable: _State.open says what is wrong with it
        return size if isinstance(size, int) and size >= 1 else None

    def save(self) -> None:
        if self.path is not None:
            atomic.write_json(self.path, {"format": STATE_FORMAT, "settings": self.settings, **{
                k: getattr(self, k) for k in ("clean_flags", "flags", "done", "current", "broken_by")
            }})  # fmt: skip


def _warn_if_degenerate(predicted: torch.Tensor, labels: torch.Tensor, classes: int) -> None:
    """Say before the attacks run when the clean predictions show a model that has not
    learned: its robust accuracy will be high and mean nothing."""
    import torch

    counts = torch.bincount(predicted, minlength=classes).tolist()
    accuracy = float((predicted == labels.cpu()).float().mean()) if len(labels) else 0.0
    found = prediction_problems(accuracy, counts, classes)
    if found:
        warnings.warn(
            f"freqbench: AutoAttack on a degenerate model ({'; '.join(found)}): its robust "
            "accuracy will say nothing about robustness",
            stacklevel=3,
        )


def passes_per_image(adversary: AutoAttack, attack: str) -> int:
    """Forward passes one image costs ``attack`` at most (it stops early on broken points):
    counted in pyautoattack 0.2.0's loops, so that progress moves inside an attack and the
    time left comes from the work left."""
    if attack in ("apgd-ce", "apgd-dlr"):
        apgd = adversary.apgd
        return 1 + apgd.n_restarts * (_iterations(apgd) + _runs(apgd))
    if attack == "apgd-t":
        apgd = adversary.apgd_targeted
        return 1 + apgd.n_target_classes * apgd.n_restarts * (_iterations(apgd) + 1 + _runs(apgd))
    if attack in ("fab", "fab-t"):
        fab = adversary.fab
        runs = fab.n_target_classes if attack == "fab-t" else fab.n_restarts
        return 1 + runs * (2 * fab.n_iter + 3)
    if attack == "square":
        return 3 + adversary.square.n_restarts * adversary.square.n_queries
    raise UserError(f"unknown AutoAttack attack '{attack}'")


def _runs(apgd: Any) -> int:
    """APGD runs per restart: one, or three with shrinking radii (``use_largereps``, the L1
    version's schedule: 3, 2 then 1 times eps over 30%, 30% and 40% of the iterations)."""
    return 3 if apgd.use_largereps else 1


def _iterations(apgd: Any) -> int:
    """APGD's iterations per restart; the three runs of ``use_largereps`` share the
    iterations it was built with (``n_iter`` is overwritten by each run)."""
    return apgd.n_iter_orig if apgd.use_largereps else apgd.n_iter


def _fingerprint(images: torch.Tensor, labels: torch.Tensor) -> str:
    digest = hashlib.sha256(images.numpy().tobytes())
    digest.update(labels.numpy().tobytes())
    return digest.hexdigest()[:16]


def robust_flags(
    model: nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    *,
    norm: str,
    eps: float,
    seed: int,
    batch_size: int,
    device: str,
    state_path: Path | None = None,
    version: str = "standard",
    progress: bool = False,
    predicted: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor, dict[str, int], list[str]]:
    """Run AutoAttack; return clean and robust flags per image, points broken per attack,
    warnings. ``predicted``: the model's clean predictions of ``images`` when known already."""
    import torch
    from pyautoattack import AutoAttack, checks

    from freqbench.prediction import predict
    from freqbench.progress import Progress

    with torch.no_grad():
        adversary = AutoAttack(model, norm=norm, eps=eps, version=version, device=device, seed=seed)
        settings = {
            "norm": norm,
            "eps": eps,
            "seed": seed,
            "batch_size": batch_size,
            "version": version,
            "attacks": list(adversary.attacks_to_run),
            "data": _fingerprint(images, labels),
        }
        state = _State.open(state_path, settings)
        head_x, head_y = images[:batch_size].to(device), labels[:batch_size].to(device)
        if state.flags is None:  # a fresh run: say first when the model has not learned
            if predicted is None:
                predicted = predict(model, images, batch_size, device)
            _warn_if_degenerate(predicted, labels, model(head_x[:1]).shape[1])
        with _collect_warnings(adversary.logger) as messages:
            if version != "rand":
                checks.check_randomized(
                    adversary.get_logits, head_x, head_y, bs=batch_size, logger=adversary.logger
                )
            n_classes = checks.check_range_output(
                adversary.get_logits, head_x, logger=adversary.logger
            )
            checks.check_dynamic(model, head_x, False, logger=adversary.logger)
            checks.check_n_classes(
                n_classes,
                adversary.attacks_to_run,
                adversary.apgd_targeted.n_target_classes,
                adversary.fab.n_target_classes,
                logger=adversary.logger,
            )
            if state.flags is None:
                state.clean_flags = (predicted == labels.cpu()).tolist()
                state.flags = list(state.clean_flags)
                state.save()
            flags = torch.tensor(state.flags, dtype=torch.bool)
            accuracy_after = {"clean": float(flags.float().mean())}
            for attack in adversary.attacks_to_run:
                if attack in state.done:
                    continue
                if state.current is None or state.current["attack"] != attack:
                    state.current = {
                        "attack": attack,
                        "indices": flags.nonzero().flatten().tolist(),
                        "next": 0,
                    }
                indices = torch.tensor(state.current["indices"], dtype=torch.long)
                starts = range(state.current["next"] * batch_size, len(indices), batch_size)
                passes = passes_per_image(adversary, attack)
                with Progress(
                    len(indices) * passes, f"AutoAttack {attack} on {len(indices)} images",
                    "passes", enabled=progress,
                ) as bar:  # fmt: skip
                    bar.advance_to(min(starts.start, len(indices)) * passes)  # resumed
                    for start in starts:
                        batch = indices[start : start + batch_size]
                        x, y = images[batch].to(device), labels[batch].to(device)
                        # Each forward pass inside the attack moves the bar, image by image.
                        counting = model.register_forward_pre_hook(
                            lambda module, args: bar.update(len(args[0]))
                        )
                        try:
                            adversarial = _perturb(adversary, attack, x, y)
                        finally:
                            counting.remove()
                        broken = (model(adversarial).argmax(1) != y).cpu()
                        flags[batch[broken]] = False
                        state.broken_by[attack] = state.broken_by.get(attack, 0) + int(broken.sum())
                        state.flags, state.current["next"] = flags.tolist(), start // batch_size + 1
                        state.save()
                        bar.advance_to((start + len(batch)) * passes)  # finished early: all done
                        bar.note(f"{int(flags.sum())} robust")
                state.broken_by.setdefault(attack, 0)
                state.done.append(attack)
                state.current = None
                state.save()
                accuracy_after[attack] = float(flags.float().mean())
            checks.check_square_sr(accuracy_after, logger=adversary.logger)
        clean = torch.tensor(state.clean_flags, dtype=torch.bool)
        broken_by = {attack: state.broken_by.get(attack, 0) for attack in adversary.attacks_to_run}
        return clean, flags, broken_by, messages


#: Share of the GPU's free memory AutoAttack's batch may fill: APGD keeps several copies of a
#: batch (best points, momentum, gradients) beside the model's activations.
MEMORY_SHARE = 0.5


def fitted_batch_size(bytes_per_image: float, free_bytes: int, requested: int) -> int:
    """The requested batch, or fewer images when ``requested`` x ``bytes_per_image`` would
    not fit in :data:`MEMORY_SHARE` of ``free_bytes`` (at least 1)."""
    fits = int(MEMORY_SHARE * free_bytes // max(bytes_per_image, 1.0))
    return max(1, min(requested, fits))


def attack_batch_size(model: nn.Module, images: torch.Tensor, requested: int, device: str) -> int:
    """AutoAttack's batch on ``device``: on a GPU, the largest up to ``requested`` that fits
    its free memory, from the peak memory of one forward and input-gradient pass over two
    images (an overestimate per image: it includes the pass's fixed workspace); elsewhere
    ``requested``. A batch too large for the GPU would stop the run with an out-of-memory
    error; a smaller one changes which images share a random start, so the block says which
    batch size was used."""
    import torch

    if torch.device(device).type != "cuda" or len(images) == 0:
        return requested
    torch.cuda.empty_cache()  # memory cached for earlier blocks counts as used otherwise
    probe = images[:2].to(device).requires_grad_(True)
    torch.cuda.synchronize(device)
    torch.cuda.reset_peak_memory_stats(device)
    before = torch.cuda.memory_allocated(device)
    with torch.enable_grad():
        (gradient,) = torch.autograd.grad(model(probe).sum(), probe)
    del gradient
    per_image = (torch.cuda.max_memory_allocated(device) - before) / len(probe)
    free, _ = torch.cuda.mem_get_info(device)
    return fitted_batch_size(per_image, free, requested)


def autoattack_accuracy(
    model: nn.Module,
    data: LabeledImages,
    *,
    norm: str = DEFAULT,
    eps: float | None = None,
    seed: int = 0,
    batch_size: int = 500,
    device: str = "cpu",
    state_path: str | Path | None = None,
    version: str = "standard",
    progress: bool = True,
    shard: Shard | None = None,
    clean_predictions: torch.Tensor | None = None,
) -> MetricResult:
    """Robust accuracy on ``data`` (the first test images); eps defaults to the dataset's.

    With ``shard=(i, n)`` only the i-th of n contiguous image ranges is attacked, seeded from
    ``seed`` and i (see :func:`shard_seed`); :func:`merge` joins the parts. The points
    attacked are those the shared ``clean_predictions`` get right (predicted here when the
    metric is called on its own).
    """
    threat_model = get_threat_model(norm)
    if not threat_model.bounded:
        raise UserError(
            f"AutoAttack attacks in a norm ball; '{norm}' is not one (bounded threat models: "
            f"{', '.join(bounded_names())})"
        )
    eps = threat_model.eps(data.info) if eps is None else float(eps)
    if eps < 0:
        raise UserError(f"eps must be >= 0, got {eps}")
    part = shard_range(len(data), shard)
    attacked = data.take(part.start, part.stop)  # a streamed set: only this shard's images
    images, labels = attacked.images, attacked.labels
    state = Path(state_path) if state_path else None
    used = _State.saved_batch_size(state) or attack_batch_size(model, images, batch_size, device)
    if used < batch_size:
        warnings.warn(
            f"AutoAttack runs {used} images at a time, not --batch-size {batch_size}: more "
            "did not fit the GPU's free memory",
            stacklevel=2,
        )
    clean, flags, broken, messages = robust_flags(
        model,
        images,
        labels,
        norm=threat_model.attack_norm,
        eps=eps,
        seed=shard_seed(seed, shard),
        batch_size=used,
        device=device,
        version=version,
        progress=progress,
        state_path=state,
        predicted=None if clean_predictions is None else clean_predictions[part.start : part.stop],
    )
    values = {
        "robust_accuracy": float(flags.float().mean()) if len(flags) else 0.0,
        "clean_accuracy": float(clean.float().mean()) if len(clean) else 0.0,
        "robust_correct": int(flags.sum()),
        "clean_correct": int(clean.sum()),
        "n": len(labels),
        "norm": norm,
        "eps": eps,
        "version": version,
        "seed": seed,
        "batch_size": used,
        "broken_by": broken,
        "warnings": messages,
        "unreliable": any(sign in m.lower() for m in messages for sign in _UNRELIABLE_SIGNS),
    }
    return MetricResult(values, {"robust_flags": flags.numpy(), "clean_flags": clean.numpy()})


def shard_seed(seed: int, shard: Shard | None) -> int:
    """The AutoAttack seed of a shard: the run's seed when there is one part, else a seed drawn
    from (seed, part index), so that parts do not repeat each other's random restarts."""
    if shard is None or shard[1] == 1:
        return seed
    import numpy as np

    return int(np.random.SeedSequence([seed, shard[0]]).generate_state(1)[0] % 2**31)


def merge(parts: list[MetricResult]) -> MetricResult:
    """One block from image-range parts, in order: flags joined, broken points summed."""
    import numpy as np

    flags = np.concatenate([p.arrays["robust_flags"] for p in parts])
    clean = np.concatenate([p.arrays["clean_flags"] for p in parts])
    first = parts[0].values
    messages = list(dict.fromkeys(m for p in parts for m in p.values["warnings"]))
    sizes = [p.values["batch_size"] for p in parts]
    values = {
        **first,
        # one number when every shard attacked with the same batch, else each shard's
        "batch_size": sizes[0] if len(set(sizes)) == 1 else sizes,
        "robust_accuracy": float(np.mean(flags, dtype=np.float32)),
        "clean_accuracy": float(np.mean(clean, dtype=np.float32)),
        "robust_correct": int(flags.sum()),
        "clean_correct": int(clean.sum()),
        "n": len(flags),
        "broken_by": {k: sum(p.values["broken_by"][k] for p in parts) for k in first["broken_by"]},
        "warnings": messages,
        "unreliable": any(p.values["unreliable"] for p in parts),
    }
    return MetricResult(values, {"robust_flags": flags, "clean_flags": clean})


def _check(block: Mapping[str, Any]) -> list[str]:
    """Both accuracies are their counts over ``n``, and the points each attack broke are the
    clean points it did not leave robust."""
    n = block.get("n")
    found = [
        *fraction_problems("robust_accuracy", block.get("robust_accuracy"), n, block.get("robust_correct")),
        *fraction_problems("clean_accuracy", block.get("clean_accuracy"), n, block.get("clean_correct")),
    ]  # fmt: skip
    broken = block.get("broken_by")
    if found or not isinstance(broken, Mapping) or not isinstance(n, int):
        return found
    clean, robust = round(block["clean_accuracy"] * n), round(block["robust_accuracy"] * n)
    if sum(broken.values()) != clean - robust:
        found.append(
            f"broken_by: the attacks broke {sum(broken.values())} points, but {clean} clean "
            f"and {robust} robust of n = {n} make {clean - robust}"
        )
    return found


def _headline(block: dict[str, Any]) -> list[tuple[str, str]]:
    flag = "  UNRELIABLE" if block["unreliable"] else ""
    broken = ", ".join(f"{k} {v}" for k, v in block["broken_by"].items())
    return [
        (
            f"AutoAttack {block['norm']} eps={format_eps(block['eps'])}",
            f"{percent(block['robust_accuracy'])}  (n={block['n']}){flag}",
        ),
        ("  points broken by", broken),
    ]


QUICK_N = 200
#: AutoAttack images where a dataset's card states no standard count.
DEFAULT_N = 1000


def _standard_n(context: FieldContext) -> int:
    """The dataset card's standard count (RobustBench's: the whole CIFAR test set, its 5000
    ImageNet images)."""
    return context.info.standard_counts.get("autoattack_n_examples", DEFAULT_N)


SPEC = MetricSpec(
    name="autoattack",
    description="AutoAttack (standard: APGD-CE, APGD-T, FAB-T, Square) robust accuracy",
    version="1",
    compute=autoattack_accuracy,
    reads=("norm", "eps", "autoattack_n_examples", "seed", "batch_size", "shards"),
    fields=(
        ProtocolField(
            "autoattack_n_examples",
            int,
            "first N test images attacked",
            default=_standard_n,
            quick=QUICK_N,
            default_help=f"1000 on Fashion-MNIST, the whole test set on CIFAR and ImageNet; quick: {QUICK_N}",
            standard="at_least",
            minimum=1,
            count=True,
        ),
    ),
    images="autoattack_n_examples",
    needs=("clean_predictions",),
    presentation=Presentation(
        columns=(
            Column(
                "autoattack",
                "AutoAttack",
                "robust accuracy under AutoAttack (standard version)",
                ("robust_accuracy",),
                percent=True,
                higher_is_better=True,
                main=True,
                bass_delta=True,
                headline=True,
                rank_noun="AutoAttack robust accuracy",
                model_info="autoattack_acc",
                count=("n",),  # the images attacked
            ),
        ),
        headline=_headline,
    ),
    flags=(
        Flag(
            "unreliable",
            "AutoAttack's own checks flagged the evaluation (e.g. signs of gradient masking); "
            "see the warnings in the record.",
            lambda block: bool(block.get("unreliable")),
        ),
    ),
    schema={
        "type": "object",
        "required": [
            "robust_accuracy",
            "clean_accuracy",
            "n",
            "norm",
            "eps",
            "version",
            "broken_by",
            "warnings",
            "unreliable",
        ],
        "properties": {
            "robust_accuracy": FRACTION,
            "clean_accuracy": FRACTION,
            # the points robust and correct (absent from blocks made before)
            "robust_correct": COUNT,
            "clean_correct": COUNT,
            "n": COUNT,
            "norm": {"enum": list(bounded_names())},
            "eps": {"type": "number", "exclusiveMinimum": 0},
            "version": {"type": "string"},
            # the images attacked at a time: the protocol's batch_size, or fewer on a GPU
            # whose memory could not hold it (blocks before this field: the protocol's)
            "batch_size": {
                "anyOf": [
                    {"type": "integer", "minimum": 1},
                    {"type": "array", "items": {"type": "integer", "minimum": 1}},  # per shard
                ]
            },
            "broken_by": {"type": "object", "additionalProperties": COUNT},
            "warnings": {"type": "array", "items": {"type": "string"}},
            "unreliable": {"type": "boolean"},
        },
    },
    check=_check,
    merge=merge,
    units=lambda protocol, info: protocol["autoattack_n_examples"],  # images
    order=20,
)
