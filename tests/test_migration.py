"""Records of the second format (one ``frequency`` block) read as the third: the block's numbers
split into the four metrics that replaced it, each keyed as its own fields give, nothing run
again; a block its record did not justify is not laundered into justified parts."""

from __future__ import annotations

import json
from pathlib import Path

from freqbench.metrics import get_metric
from freqbench.protocol import block_key
from freqbench.records import migrate, review

#: leaderboards/fashion-mnist/smallcnn-pgd-at.json as the second format wrote it (commit e54ac73).
SECOND = Path(__file__).resolve().parent / "data" / "record-v2-smallcnn-pgd-at.json"


def _second_format() -> dict:
    data = json.loads(SECOND.read_text())
    assert data["format"] == "freqbench-record/2" and "frequency" in data["metrics"]
    return data


def test_the_frequency_block_splits_into_its_four_parts_with_their_own_keys():
    old = _second_format()
    block, evaluation = old["metrics"]["frequency"], old["evaluations"]["frequency"]
    new = migrate(old)
    assert new["format"] == "freqbench-record/3" and "frequency" not in new["metrics"]
    parts = new["metrics"]
    assert parts["band_split"] == {
        "radii": block["radii"], "headline_radius": block["headline_radius"],
        "low_pass_accuracy": block["low_pass_accuracy"],
        "high_pass_accuracy": block["high_pass_accuracy"], "n": block["n"],
    }  # fmt: skip
    assert parts["long_tail"] == {**block["long_tail"], "n": block["n"]}
    assert parts["gradient_spectrum"] == {**block["gradient"], "n": block["n"]}
    assert parts["fourier_heatmap"] == block["heatmap"]
    sha, protocol = new["model"]["checkpoint_sha256"], new["protocol"]
    for name in ("band_split", "long_tail", "gradient_spectrum", "fourier_heatmap"):
        key = block_key(sha, "fashion-mnist", get_metric(name), protocol, "1")
        assert new["evaluations"][name]["key"] == key
        assert new["evaluations"][name]["migrated_from"] == "frequency"
    times = [new["evaluations"][n]["seconds"] for n in ("band_split", "fourier_heatmap")]
    assert times == [0.0, evaluation["seconds"]]  # the block's time is counted once
    checked = review(new)
    assert checked.problems == [] and all(checked.justified(name) for name in parts)


def test_a_frequency_block_its_record_does_not_justify_splits_into_blocks_to_re_run():
    old = _second_format()
    old["protocol"]["heatmap_n_examples"] = 500  # edited: the block was made on 1000
    new = migrate(old)
    checked = review(new)
    for name in ("band_split", "long_tail", "gradient_spectrum", "fourier_heatmap"):
        assert new["evaluations"][name]["key"] == ""
        assert not checked.justified(name)
