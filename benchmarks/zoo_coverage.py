"""Coverage of RobustBench's zoo: which published entries freqbench builds, loads and runs.

For every entry with weights of every board (robustbench's model_dicts, through
freqbench.published.zoo): its architecture is built on torch's meta device to count its
parameters; an entry over --max-params is skipped (CPU time and memory), as is one whose
weights come from timm's or torchvision's hub when the machine is offline. The others get
seeded random weights, saved in robustbench's layout (ImageNet entries: first without
robustbench's normalization wrapper, which its loader adds back, then with it), and go through
`zoo run` (freqbench.grid.zoo_run, robustbench's own loader) with --metrics clean,filters on
--n-images synthetic images in the dataset's real file layout. One line per entry as it ends;
then per board: entries, skipped, ran, failed (with the first line of each message), and the
measured wall time per entry that ran, as entries per hour on this machine. For a GPU
projection, each entry that ran also times one forward and backward pass of a batch of 8
images on this machine's device: with the protocol's counts, that says how many passes a
standard evaluation takes. Run:

    python benchmarks/zoo_coverage.py [--boards cifar10/Linf,imagenet/Linf] [--max-params 50e6]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import pickle
import shutil
import statistics
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np


def _cifar_files(root: Path, dataset: str, n: int) -> None:
    folder, test, labels = {
        "cifar10": ("cifar-10-batches-py", "test_batch", b"labels"),
        "cifar100": ("cifar-100-python", "test", b"fine_labels"),
    }[dataset]
    (root / folder).mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    classes = 10 if dataset == "cifar10" else 100
    batch = {b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
             labels: rng.integers(0, classes, n).tolist()}  # fmt: skip
    (root / folder / test).write_bytes(pickle.dumps(batch))


def _imagenet_files(root: Path, n: int) -> None:
    from PIL import Image

    from freqbench.data.imagenet import robustbench_subset

    rng = np.random.default_rng(0)
    for name in robustbench_subset()[:n]:
        path = root / "val" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        pixels = rng.integers(0, 256, (256, 320, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(path, format="JPEG", quality=90)


def _constructor(dataset: str, threat_model: str, name: str):
    from robustbench.model_zoo import model_dicts
    from robustbench.model_zoo.enums import BenchmarkDataset, ThreatModel

    threat = ThreatModel(threat_model.replace("_3d", ""))
    return model_dicts[BenchmarkDataset(dataset)][threat][name]["model"]


def _parameters(build) -> int:
    import torch

    with torch.device("meta"):
        model = build()
    return sum(p.numel() for p in model.parameters())


class MixtureLayout(Exception):
    """robustbench reads this entry's files into parts of its own (MixedNUTS, Bai2023): the
    benchmark does not write random weights for them."""


def _save_random(build, files: list[Path], unwrap: bool) -> object:
    """Seeded random weights in every file robustbench reads; returns the model."""
    import torch

    torch.manual_seed(0)
    model = build()
    members = getattr(model, "models", None)
    if len(files) > 1 and members is None:
        raise MixtureLayout(f"a mixture of {len(files)} files without .models")
    if len(files) > 1:
        states = [m.state_dict() for m in members]
    else:
        inner = getattr(model, "model", None) if unwrap else None
        states = [(inner if inner is not None else model).state_dict()]
    for path, state in zip(files, states, strict=False):
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save(state, path)
    return model


def _pass_seconds(model, size: int, device: str) -> float:
    """Wall time of one forward and backward pass of 8 images (the smaller of 2, after one)."""
    import torch

    model = model.to(device).eval()
    x = torch.rand(8, 3, size, size, device=device, requires_grad=True)
    times = []
    for _ in range(3):
        start = time.perf_counter()
        model(x).sum().backward()
        if device == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return min(times[1:])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--boards", help="comma list of dataset/threat_model (default: all)")
    parser.add_argument("--max-params", type=float, default=50e6)
    parser.add_argument("--n-images", type=int, default=4)
    parser.add_argument(
        "--per-board", type=int, help="run only the first K entries of each board that fit "
        "--max-params, in RobustBench's order (the others are counted as sampled out)",
    )  # fmt: skip
    parser.add_argument("--no-pass-timing", action="store_true")
    args = parser.parse_args()

    import os

    import torch

    from freqbench.compat import import_robustbench, quiet_third_party_warnings
    from freqbench.grid.zoo_run import run_zoo
    from freqbench.protocol import Protocol
    from freqbench.published import published_entries, rank_as_robustbench
    from freqbench.published.zoo import zoo_weights

    quiet_third_party_warnings()
    import_robustbench()
    device = "cuda" if torch.cuda.is_available() else "cpu"
    work = Path(tempfile.mkdtemp(prefix="bench-zoo-"))
    models = work / "models"
    os.environ["FREQBENCH_MODEL_DIR"] = str(models)
    boards = sorted({(e.dataset, e.threat_model) for e in published_entries()})
    if args.boards:
        wanted = set(args.boards.split(","))
        boards = [b for b in boards if f"{b[0]}/{b[1]}" in wanted]
    data = {}
    for dataset in sorted({d for d, _ in boards}):
        data[dataset] = work / "data" / dataset
        if dataset == "imagenet":
            _imagenet_files(data[dataset], args.n_images)
        else:
            _cifar_files(data[dataset], dataset, args.n_images)
    print(f"device {device}; {torch.get_num_threads()} threads; work folder {work}")
    summary = {}
    for dataset, threat_model in boards:
        counts: Counter[str] = Counter()
        seconds, passes, messages = [], [], defaultdict(list)
        for entry in rank_as_robustbench(published_entries(dataset, threat_model)):
            weights = zoo_weights(dataset, threat_model, entry.name)
            if weights is None:
                continue
            counts["entries"] += 1
            label = f"{dataset}/{threat_model}/{entry.name}"
            if not weights.files:
                counts["skipped: hub"] += 1
                print(f"{label}: skipped, weights from {weights.source}'s hub")
                continue
            build = _constructor(dataset, threat_model, entry.name)
            try:
                size = _parameters(build)
            except Exception as exc:  # a constructor that cannot build on the meta device
                size = None
                meta_error = f"{type(exc).__name__}: {exc}"
            else:
                meta_error = ""
            if size is not None and size > args.max_params:
                counts["skipped: size"] += 1
                print(f"{label}: skipped, {size / 1e6:.0f}M parameters")
                continue
            if args.per_board is not None and counts["ran"] + counts["failed"] >= args.per_board:
                counts["sampled out"] += 1
                continue
            files = [models / f for f in weights.files]
            outcome = None
            for unwrap in (True, False) if dataset == "imagenet" else (False,):
                try:
                    model = _save_random(build, files, unwrap)
                except MixtureLayout as exc:
                    outcome = ("skipped: mixture", str(exc), 0.0)
                    break
                except Exception as exc:  # robustbench's constructor failed
                    outcome = ("failed", f"build: {type(exc).__name__}: {exc}", 0.0)
                    break
                out = work / "records" / dataset / threat_model
                with contextlib.redirect_stdout(io.StringIO()):
                    result = run_zoo(
                        dataset, threat_model, out, entries=[entry.name],
                        metrics=("clean", "filters"), progress=False, device=device,
                        data_dir=data[dataset],
                        protocol=Protocol(n_examples=args.n_images, batch_size=args.n_images),
                    )[0]  # fmt: skip
                outcome = (result.status, result.reason, result.seconds)
                if result.status != "failed":
                    break
            status, reason, took = outcome
            for path in files:
                path.unlink(missing_ok=True)
            if status == "skipped: mixture":
                counts[status] += 1
                print(f"{label}: skipped, {reason}")
                continue
            if status == "failed":
                counts["failed"] += 1
                messages[reason.splitlines()[0][:160] if reason else meta_error].append(entry.name)
                print(f"{label}: failed: {reason.splitlines()[0][:200]}")
                continue
            counts["ran"] += 1
            seconds.append(took)
            if not args.no_pass_timing:
                side = 224 if dataset == "imagenet" else 32
                passes.append(_pass_seconds(model, side, device))
            del model
            print(f"{label}: ran in {took:.1f} s ({(size or 0) / 1e6:.1f}M parameters)")
        summary[(dataset, threat_model)] = (counts, seconds, passes, messages)
    shutil.rmtree(work, ignore_errors=True)
    print(
        "\n| board | entries with weights | skipped (size) | skipped (hub) | skipped (mixture) | "
        "sampled out | ran | failed | s per entry (median) | entries per hour | "
        "fwd+bwd of 8 images, s (median) |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for (dataset, threat_model), (counts, seconds, passes, _) in summary.items():
        median = statistics.median(seconds) if seconds else float("nan")
        per_hour = 3600 * len(seconds) / sum(seconds) if seconds else float("nan")
        step = statistics.median(passes) if passes else float("nan")
        print(f"| {dataset} {threat_model} | {counts['entries']} | {counts['skipped: size']} | "
              f"{counts['skipped: hub']} | {counts['skipped: mixture']} | {counts['sampled out']} | "
              f"{counts['ran']} | "
              f"{counts['failed']} | {median:.1f} | {per_hour:.0f} | {step:.2f} |")  # fmt: skip
    for (dataset, threat_model), (_, _, _, messages) in summary.items():
        for message, names in messages.items():
            print(f"{dataset} {threat_model} failed ({len(names)}: {', '.join(names)}): {message}")
    print(f"\nclean and filters on {args.n_images} images per entry, {device}; entries over "
          f"{args.max_params / 1e6:.0f}M parameters skipped")  # fmt: skip


if __name__ == "__main__":
    main()
