"""Dataset cards: one object per dataset that everything keyed by a dataset's name reads."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from freqbench.data import (
    CorruptionSources,
    base_dataset,
    get_dataset_info,
    list_datasets,
    load_dataset,
    register_card,
)
from freqbench.data import base as registry
from freqbench.data.corrupted import corrupted_source
from freqbench.data.synthetic import SYNTHETIC, make_synthetic
from freqbench.errors import UserError
from freqbench.protocol import standard_protocol


@pytest.fixture()
def own_registry(monkeypatch):
    """Cards registered in a test stay in it."""
    monkeypatch.setattr(registry, "DATASETS", registry.DATASETS.fresh())


def _tiny(split, data_dir):
    data = make_synthetic(20, split=split, size=16)
    return (data.images * 255).to(torch.uint8), data.labels


def test_a_card_with_the_bass_variant_registers_both_and_the_variant_shares_its_protocol(
    own_registry,
):
    card = replace(
        SYNTHETIC, name="tiny", image_size=(16, 16), test_size=20, read=_tiny,
        standard_counts={"autoattack_n_examples": 7}, variants=("bass",),
    )  # fmt: skip
    register_card(card)
    assert {"tiny", "tiny-b"} <= set(list_datasets("tiny*"))
    variant = get_dataset_info("tiny-b")
    assert variant.variant_of == "tiny" and base_dataset("tiny-b") == "tiny"
    assert base_dataset("tiny") == "tiny" and base_dataset("not-registered-b") == "not-registered-b"
    assert standard_protocol("tiny-b")["autoattack_n_examples"] == 7
    assert standard_protocol("tiny") == standard_protocol("tiny-b")
    from freqbench.spectral import bass

    plain, balanced = load_dataset("tiny"), load_dataset("tiny-b")
    torch.testing.assert_close(balanced.images, bass(plain.images))
    with pytest.raises(ValueError, match="'tiny' is already registered"):
        register_card(replace(card, description="another tiny"))


def test_a_dataset_without_standard_counts_has_no_standard_protocol():
    assert standard_protocol("imagenet-val") is None and standard_protocol("synthetic") is None
    assert standard_protocol("cifar10")["autoattack_n_examples"] == 10000
    assert standard_protocol("imagenet")["autoattack_n_examples"] == 5000
    assert standard_protocol("fashion-mnist-b")["autoattack_n_examples"] == 1000


def test_corruption_sources_come_from_the_card(tmp_path):
    data = load_dataset("synthetic", n_examples=4)
    with pytest.raises(UserError, match=r"official corruption files exist for.*cifar10"):
        corrupted_source(data, directory=tmp_path)
    assert get_dataset_info("cifar10").corruptions.files == {"common": "cifar10-c"}
    assert get_dataset_info("cifar10-b").corruptions.files == {}  # the release is unbalanced
    none = replace(data, info=replace(data.info, corruptions=CorruptionSources(None)))
    with pytest.raises(UserError, match="ImageNet-C cannot be generated for synthetic"):
        corrupted_source(none)
    streamed = replace(data.info, corruptions=CorruptionSources("imagenet-c"))
    with pytest.raises(UserError, match="synthetic is held in memory: set its card's corruptions"):
        corrupted_source(replace(data, info=streamed))


def test_a_plugin_entry_point_must_name_a_card_of_its_own_name(own_registry):
    class Entry:
        name, value, dist = "other", "pkg:CARD", None

        def __init__(self, loaded):
            self.loaded = loaded

        def load(self):
            return self.loaded

    with pytest.raises(TypeError, match="not a freqbench DatasetInfo card"):
        registry.DATASETS._load_entry(Entry(object()))
    with pytest.raises(ValueError, match="its card is named 'tiny', not 'other'"):
        registry.DATASETS._load_entry(Entry(replace(SYNTHETIC, name="tiny", read=_tiny)))
    entry = Entry(replace(SYNTHETIC, name="other", read=_tiny))
    registry.DATASETS._load_entry(entry)
    assert registry.dataset_source("other") == "pkg:CARD"  # no distribution: its target
