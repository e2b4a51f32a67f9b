"""What a process that runs evaluation tasks keeps from one task to the next: loaded models,
test images and the clean predictions every metric shares.

One :class:`WorkerCache` per process (:data:`WORKER`): the driver's, which runs the local
executor's tasks, and each Ray worker's. Its lifetime is stated: the driver clears it when a
job ends (:meth:`WorkerCache.clear`), a Ray worker keeps it while the worker lives. Models are
keyed by their weights' sha256, so a checkpoint replaced under the same path is loaded anew.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import TYPE_CHECKING, Any

from freqbench.errors import UserError

if TYPE_CHECKING:
    import torch

    from freqbench.data import LabeledImages
    from freqbench.data.base import ImageStream
    from freqbench.loading import LoadedModel, ModelRef

#: Loaded models a process keeps for its next tasks (a grid evaluates a few rows at a time).
KEPT_MODELS = 4
#: Test-image sets kept (a run reads one or two: the metrics' images and a reference's).
KEPT_IMAGES = 2


class WorkerCache:
    """Models, test images and clean predictions of this process, each kept for its next use."""

    def __init__(self) -> None:
        self._models: OrderedDict[tuple[Any, ...], LoadedModel] = OrderedDict()
        self._images: OrderedDict[tuple[Any, ...], LabeledImages | ImageStream] = OrderedDict()
        self._predictions: dict[tuple[Any, ...], torch.Tensor] = {}

    def keep_model(self, ref: ModelRef, dataset: str, device: str, loaded: LoadedModel) -> None:
        """Remember a loaded model (by reference, dataset, device and weights)."""
        self._models[(ref, dataset, device, loaded.sha256)] = loaded
        while len(self._models) > KEPT_MODELS:
            self._models.popitem(last=False)

    def loaded_model(
        self, ref: ModelRef, dataset: str, device: str, sha256: str | None
    ) -> LoadedModel:
        """The model ``ref`` with weights ``sha256``: kept from an earlier task, or loaded; one
        whose weights changed since the driver planned the task is refused."""
        from freqbench.loading import load_model_ref

        key = (ref, dataset, device, sha256)
        if key in self._models:
            self._models.move_to_end(key)
            return self._models[key]
        loaded = load_model_ref(ref, dataset, device)
        if sha256 is not None and loaded.sha256 != sha256:
            raise UserError(
                f"{ref.weights or ref.ref} changed after the evaluation was planned (weights "
                f"sha256 {loaded.sha256}, planned for {sha256}): run the evaluation again"
            )
        self.keep_model(ref, dataset, device, loaded)
        return loaded

    def test_images(
        self, dataset: str, data_dir: str | None, n: int | None, preprocessing: str | None = None
    ) -> LabeledImages | ImageStream:
        """The first ``n`` test images of ``dataset`` (all of them with None): in memory, or
        streamed from image files through ``preprocessing``."""
        from freqbench.data import load_dataset

        key = (dataset, data_dir, n, preprocessing)
        if key not in self._images:
            self._images[key] = load_dataset(
                dataset, "test", data_dir=data_dir, preprocessing=preprocessing
            ).first(n)
            while len(self._images) > KEPT_IMAGES:
                self._images.popitem(last=False)
        self._images.move_to_end(key)
        return self._images[key]

    def clean_predictions(
        self,
        loaded: LoadedModel,
        dataset: str,
        data_dir: str | None,
        n: int,
        batch_size: int,
        device: str,
        preprocessing: str | None = None,
    ) -> torch.Tensor:
        """The model's predicted label of each of the first ``n`` test images, computed once
        per model, image set and batch size (float sums, and so a near tie, can depend on
        the batch)."""
        from freqbench.prediction import predict_data

        key = (loaded.sha256 or loaded.source, repr(loaded.transform), dataset, data_dir, n,
               preprocessing, batch_size, device)  # fmt: skip
        if key not in self._predictions:
            data = self.test_images(dataset, data_dir, n, preprocessing)
            self._predictions[key] = predict_data(loaded.model, data, batch_size, device)
        return self._predictions[key]

    def clear(self) -> None:
        self._models.clear()
        self._images.clear()
        self._predictions.clear()


#: This process's cache (see the module docstring).
WORKER = WorkerCache()
