"""The trainer: SGD over in-memory tensors, per-epoch evaluation, logs and resumable state.

Batches are index permutations over tensors already on the device, with no per-item
DataLoader, and the step does nothing the recipe does not need (loss and accuracy are
accumulated on the device, not synchronised per step), so the trainer runs at the speed of
a bare training loop. After each epoch it measures clean and PGD-10 accuracy on a fixed test
slice, appends a line to ``train_log.jsonl`` and saves the resume state.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from freqbench import atomic
from freqbench.checkpoints import CheckpointInfo, save_checkpoint
from freqbench.config import TrainConfig
from freqbench.data import iterate_batches
from freqbench.errors import PluginError, UserError
from freqbench.prediction import n_correct
from freqbench.progress import Progress
from freqbench.recipes import recipe_source
from freqbench.recipes.attacks import cross_entropy_objective, pgd
from freqbench.recipes.base import RecipeOutput
from freqbench.registry import plugin_code
from freqbench.training.data import TrainingData, load_training_data, mixup
from freqbench.training.schedule import learning_rate
from freqbench.training.setup import RunSpec, resolve
from freqbench.training.state import RunDir, RunGenerators

EVAL_PGD_STEPS = 10
POSTFIX_EVERY = 50  # steps between progress-bar loss updates (each one synchronises)
FINITE_CHECK_EVERY = 50  # steps between checks that the loss is finite (each one synchronises)

StepCallback = Callable[[int, int], None]  # (epoch, global step), after each optimizer step


class TrainingDiverged(UserError):
    """The loss became NaN or infinite: the run stops, and no model is written."""


@dataclass
class TrainResult:
    """Where a run's files are, and its last epoch's metrics."""

    out_dir: Path
    checkpoint: Path
    log: Path
    state: Path
    config: dict[str, Any]
    metrics: dict[str, Any]
    seconds: float
    reused: bool = False  # the run in out_dir was complete: nothing was trained


def evaluate(
    model: nn.Module,
    images: Tensor,
    labels: Tensor,
    *,
    eps: float,
    batch_size: int,
    seed: int,
    p: float = math.inf,
) -> dict[str, float | None]:
    """Clean and PGD-10 accuracy (eps in the ball of norm ``p``, step eps / 4, random start)
    in eval mode.

    The attack draws from its own seeded generator, so evaluating never changes the
    training run's random streams.
    """
    if len(labels) == 0:
        return {"test_acc": None, "pgd10_acc": None, "eval_n": 0}
    was_training = model.training
    model.eval()
    generator = torch.Generator(device=images.device).manual_seed(seed)
    clean = robust = 0
    for x, y in iterate_batches(images, labels, batch_size):
        clean += n_correct(model, x, y, len(y), x.device)
        x_adv = pgd(
            model,
            x,
            cross_entropy_objective(y),
            p=p,
            eps=eps,
            step_size=eps / 4,
            steps=EVAL_PGD_STEPS,
            start="uniform",
            generator=generator,
        )
        robust += n_correct(model, x_adv, y, len(y), x.device)
    model.train(was_training)
    return {
        "test_acc": clean / len(labels),
        "pgd10_acc": robust / len(labels),
        "eval_n": len(labels),
    }


class _Trainer:
    """The state of one run while it trains; :func:`train` is the public entry point."""

    def __init__(self, spec: RunSpec, run: RunDir, data: TrainingData, info: CheckpointInfo):
        config = spec.config
        self.spec, self.run, self.data, self.info = spec, run, data, info
        self.model = info.build().to(spec.device)
        self.optimizer = torch.optim.SGD(
            self.model.parameters(),
            lr=config.lr,
            momentum=config.momentum,
            weight_decay=config.weight_decay,
        )
        self.generators = RunGenerators(config.seed, spec.device)
        self.steps_per_epoch = math.ceil(len(data.train_labels) / config.batch_size)
        self.epoch = 0
        self.step = 0

    def load(self, state: dict[str, Any]) -> None:
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.generators.load_state_dict(state["rng"])
        self.epoch, self.step = state["epoch"], state["scheduler"]["step"]

    def save(self) -> None:
        self.run.save_state(
            {
                "epoch": self.epoch,
                "config": self.spec.as_dict(),
                "model": self.model.state_dict(),
                "optimizer": self.optimizer.state_dict(),
                "scheduler": {"name": self.spec.config.schedule, "step": self.step},
                "rng": self.generators.state_dict(),
            }
        )

    def train_epoch(self, progress: bool | None, callback: StepCallback | None) -> dict[str, Any]:
        config, data, model, optimizer = self.spec.config, self.data, self.model, self.optimizer
        generators = self.generators
        total_steps = config.epochs * self.steps_per_epoch
        num_classes = self.info.num_classes
        epoch = self.epoch + 1
        model.train()
        order = torch.randperm(len(data.train_labels), generator=generators.data)
        order = order.to(data.train_labels.device)
        loss_sum = torch.zeros((), device=data.train_labels.device)
        correct = torch.zeros((), dtype=torch.long, device=data.train_labels.device)
        bar = Progress(
            self.steps_per_epoch, f"epoch {epoch}/{config.epochs}", "batches", progress is not False
        )
        lr = config.lr
        step_losses: list[Tensor] = []  # per-step losses since the last finite check
        first_step = self.step  # global steps done before this epoch
        start = time.perf_counter()
        for index in order.split(config.batch_size):
            x = data.train_images.index_select(0, index)
            y = data.train_labels.index_select(0, index)
            targets = y
            if config.mixup_alpha > 0:
                x, targets, y = mixup(x, y, num_classes, config.mixup_alpha, generators.data)
            lr = learning_rate(config.schedule, config.lr, self.step, total_steps)
            for group in optimizer.param_groups:
                group["lr"] = lr
            out = self._loss(x, targets)
            optimizer.zero_grad(set_to_none=True)
            out.loss.backward()
            optimizer.step()
            loss = out.loss.detach()
            loss_sum += loss * len(index)
            correct += (out.logits.detach().argmax(1) == y).sum()
            step_losses.append(loss)
            self.step += 1
            bar.update()
            if self.step % FINITE_CHECK_EVERY == 0:
                self._check_finite(step_losses, epoch, first_step, lr, bar)
            if bar.enabled and self.step % POSTFIX_EVERY == 0:
                bar.note(f"loss {loss_sum.item() / (bar.done * config.batch_size):.3f}")
            if callback is not None:
                callback(epoch, self.step)
        n = len(order)
        loss, accuracy = loss_sum.item() / n, correct.item() / n  # waits for the device
        if not math.isfinite(loss):
            self._check_finite(step_losses, epoch, first_step, lr, bar)
        if not all(bool(p.isfinite().all()) for p in model.parameters()):
            bar.close()  # the last step's update made them so: its loss was still finite
            raise TrainingDiverged(
                f"training diverged in epoch {epoch}: the weights became NaN or infinite at "
                f"step {self.step - first_step} of {self.steps_per_epoch} (step {self.step} "
                f"overall; learning rate {lr:g} at that step, --lr {config.lr:g}). No model "
                "was written; lower --lr (or check the data) and train again"
            )
        seconds = time.perf_counter() - start
        bar.close()
        self.epoch = epoch
        return {
            "epoch": epoch,
            "loss": loss,
            "train_acc": accuracy,
            "lr": lr,
            "seconds": round(seconds, 3),
            "images_per_second": round(n / seconds, 1),
        }

    def _loss(self, x: Tensor, targets: Tensor) -> RecipeOutput:
        """The recipe's loss of one batch, checked against the recipe contract: a plugin that
        raises, exits, or returns anything but a finite scalar loss with a gradient and one
        row of logits per image is a :class:`PluginError` naming its package (the loss is
        synchronised to check it is finite at the run's first step only)."""
        name = self.spec.config.recipe
        source = recipe_source(name)
        what = f"recipe '{name}'" + (f" (plugin package {source})" if source else "")
        with plugin_code(f"recipe '{name}'", source):
            out = self.spec.recipe.loss(self.model, x, targets, self.generators.step)
        if not isinstance(out, RecipeOutput):
            got = "None" if out is None else f"a {type(out).__name__}"
            raise PluginError(f"{what} returned {got} from loss(), not a RecipeOutput")
        loss, logits = out.loss, out.logits
        if not isinstance(loss, Tensor) or loss.ndim != 0:
            shape = (
                f"a tensor of shape {tuple(loss.shape)}"
                if isinstance(loss, Tensor)
                else (f"a {type(loss).__name__}")
            )
            raise PluginError(f"{what}: its loss is {shape}, not a scalar tensor")
        if not loss.requires_grad:
            raise PluginError(
                f"{what}: its loss has no gradient (it does not depend on the model's weights)"
            )
        expected = (len(x), self.info.num_classes)
        if not isinstance(logits, Tensor) or tuple(logits.shape) != expected:
            shape = tuple(logits.shape) if isinstance(logits, Tensor) else type(logits).__name__
            raise PluginError(f"{what}: its logits are {shape}, expected {expected}")
        if self.step == 0 and not bool(torch.isfinite(loss)):
            raise PluginError(
                f"{what}: its loss is {float(loss.detach())} at the first step, before any update"
            )
        return out

    def _check_finite(
        self, losses: list[Tensor], epoch: int, first_step: int, lr: float, bar: Progress
    ) -> None:
        """Stop with :class:`TrainingDiverged` at the first NaN or infinite loss in ``losses``
        (the steps since the last check, which end at ``self.step``); then forget them."""
        if not losses:
            return
        finite = torch.isfinite(torch.stack(losses))
        if bool(finite.all()):
            losses.clear()
            return
        index = int((~finite).nonzero()[0])
        value = float(losses[index])
        step = self.step - len(losses) + index + 1  # 1-based, counted over the whole run
        bar.close()
        raise TrainingDiverged(
            f"training diverged in epoch {epoch}, step {step - first_step} of "
            f"{self.steps_per_epoch} (step {step} overall): the loss is {value} (learning "
            f"rate {lr:g} at that step, --lr {self.spec.config.lr:g}). No model was written; "
            "lower --lr (or check the data) and train again"
        )

    def evaluate(self) -> dict[str, Any]:
        start = time.perf_counter()
        metrics = evaluate(
            self.model,
            self.data.test_images,
            self.data.test_labels,
            eps=self.spec.eps,
            p=self.spec.p,
            batch_size=self.spec.config.batch_size,
            seed=self.spec.config.seed,
        )
        return {**metrics, "eval_seconds": round(time.perf_counter() - start, 3)}


def train(
    config: TrainConfig,
    out_dir: str | Path,
    *,
    resume: bool = False,
    overwrite: bool = False,
    progress: bool | None = None,
    callback: StepCallback | None = None,
) -> TrainResult:
    """Train ``config`` into ``out_dir`` and save ``model.safetensors`` with its sidecar.

    ``resume`` continues the run saved in ``out_dir`` (a no-op when it is complete);
    ``overwrite`` replaces it. ``progress`` (unless False): a bar on a terminal, a log line
    every 30 s elsewhere (:mod:`freqbench.progress`). ``callback(epoch, step)`` runs after
    every optimizer step.
    """
    began = time.perf_counter()
    spec = resolve(config)
    resolved = spec.as_dict()
    run = RunDir(Path(out_dir))
    saved = run.prepare(resolved, resume=resume, overwrite=overwrite)
    reused = saved is not None and saved["epoch"] == config.epochs and run.checkpoint.exists()
    if not reused:
        _train(spec, run, saved, progress, callback)
    log = run.read_log()
    return TrainResult(
        out_dir=run.root,
        checkpoint=run.checkpoint,
        log=run.log,
        state=run.state,
        config=resolved,
        metrics=log[-1] if log else {},
        seconds=time.perf_counter() - began,
        reused=reused,
    )


def _train(
    spec: RunSpec,
    run: RunDir,
    saved: dict[str, Any] | None,
    progress: bool | None,
    callback: StepCallback | None,
) -> None:
    config, resolved = spec.config, spec.as_dict()
    torch.manual_seed(config.seed)
    info = CheckpointInfo.for_dataset(
        config.architecture,
        config.dataset,
        recipe=config.recipe,
        bass_mode=spec.recipe.bass_mode,
        config=resolved,
    )
    trainer = _Trainer(spec, run, load_training_data(spec), info)
    created = not run.root.exists()
    run.root.mkdir(parents=True, exist_ok=True)
    if saved is not None:
        trainer.load(saved)
        run.truncate_log(trainer.epoch)
    atomic.write_json(run.config, resolved)
    try:
        while trainer.epoch < config.epochs:
            record = trainer.train_epoch(progress, callback)
            record.update(trainer.evaluate())
            run.append_log(record)
            trainer.save()
    except PluginError:
        if saved is None and not run.state.exists():  # nothing worth keeping was written
            _remove_run(run, created)
        raise
    except TrainingDiverged as exc:
        if saved is None and not run.state.exists():  # nothing worth keeping was written
            _remove_run(run, created)
            raise
        raise TrainingDiverged(
            f"{exc} (epochs 1-{trainer.epoch} stay saved in {run.state}: pass --overwrite to "
            "start over)"
        ) from None
    save_checkpoint(trainer.model, run.checkpoint, info)


def _remove_run(run: RunDir, created: bool) -> None:
    """Delete the files of a run that saved no state (and its folder, when this call made it)."""
    for path in run.files():
        path.unlink(missing_ok=True)
    if created and not any(run.root.iterdir()):
        run.root.rmdir()
