"""A threat-model card: Linf at a quarter of each dataset's usual budget (the "low-eps"
regime, where natural models are not yet at 0% and adversarial training's cost in clean
accuracy is small).

The card is all there is: AutoAttack evaluates it (in pyautoattack's Linf mode), the
leaderboard gives it a view, ``freqbench evaluate --threat-model Linf-low`` runs it, and the
adversarial recipes that attack in Linf balls train under it.
"""

import math

from freqbench.threat_models import ThreatModel

CARD = ThreatModel(
    name="Linf-low",
    description="Linf at a quarter of the dataset's usual budget (2/255 on CIFAR)",
    p=math.inf,
    metric="autoattack",
    column="autoattack",
    board_title="Low-eps Linf robustness",
    accuracy_field="autoattack_acc",
    attack_norm="Linf",
    # Datasets whose card names no eps for this threat model take these.
    default_eps={
        "fashion-mnist": 0.025,
        "cifar10": 2 / 255,
        "cifar100": 2 / 255,
        "imagenet": 1 / 255,
        "synthetic": 2 / 255,
    },
    order=15,
)
