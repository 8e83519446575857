"""Registry entries for seed 004's Keras optimizers: class and note, by registry name.

Seed 004 ran tf.keras optimizers at Keras defaults; these are the ones whose Keras 3 rule or
defaults differ from the registry entry of the same name (checked and equal: SGD and NAG,
Lion; Keras 3 has no LARS). Each note says exactly what differs from that entry; each is
backed by a NumPy reference in ``tests/test_keras_variants.py``. The classes live in
:mod:`optiscope.optimizers.keras_variants`; :func:`optiscope.optimizers.metadata.own_optimizers`
registers them.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from optiscope.optimizers.keras_variants import (
    KerasAdadelta,
    KerasAdagrad,
    KerasAdam,
    KerasAdamax,
    KerasAdamW,
    KerasFtrl,
    KerasLamb,
    KerasNadam,
    KerasRMSprop,
)

__all__ = ["KERAS_VARIANTS"]


def _keras(keras_class: str, differences: str) -> str:
    return (
        f"Keras 3's keras.optimizers.{keras_class} as seed 004 ran it, with Keras' defaults and "
        f"argument names (lr is Keras' learning_rate); weight_decay is decoupled and applied "
        f"first, p -= lr wd p. {differences}"
    )


KERAS_VARIANTS: dict[str, tuple[Callable[..., torch.optim.Optimizer], str]] = {
    "rmsprop_keras": (
        KerasRMSprop,
        _keras(
            "RMSprop",
            "vs 'rmsprop' (torch): rho 0.9 (torch alpha 0.99) and eps 1e-7 inside the root, "
            "g / sqrt(v + eps) (torch g / (sqrt(v) + eps), eps 1e-8), so from v = 0 the first "
            "step is lr / sqrt(0.1) = 3.16 lr per coordinate, not torch's 10 lr. centered "
            "divides by sqrt(v - a^2 + eps) (torch sqrt(v - a^2) + eps); momentum accumulates "
            "lr g / sqrt(.) (lr inside the buffer: equal to torch's at a constant lr). Default "
            "lr 0.001 (torch 0.01); torch's weight_decay is L2 added to g.",
        ),
    ),
    "adagrad_keras": (
        KerasAdagrad,
        _keras(
            "Adagrad",
            "vs 'adagrad' (torch): the accumulator starts at initial_accumulator_value=0.1 "
            "(torch 0) and eps 1e-7 sits inside the root, g / sqrt(G + eps) (torch "
            "g / (sqrt(G) + eps), eps 1e-10); no lr_decay. The first step is "
            "lr g / sqrt(0.1 + g^2), not lr sign(g): 0.49 lr at seed 004's f0 start (g = 0.18). "
            "Default lr 0.001 (torch 0.01); torch's weight_decay is L2 added to g.",
        ),
    ),
    "adadelta_keras": (
        KerasAdadelta,
        _keras(
            "Adadelta",
            "Same rule as 'adadelta' (torch: eps inside both roots, lr scales only the step); "
            "the defaults differ: lr 0.001 (torch 1.0), rho 0.95 (0.9), eps 1e-7 (1e-6), and "
            "torch's weight_decay is L2 added to g. Seed 004 describes AdaDelta but runs none.",
        ),
    ),
    "adam_keras": (
        KerasAdam,
        _keras(
            "Adam",
            "vs 'adam' (torch): eps is Kingma & Ba's epsilon hat, added to the root of the "
            "uncorrected v: p -= lr sqrt(1 - b2^t) / (1 - b1^t) m / (sqrt(v) + eps), torch's "
            "rule with eps / sqrt(1 - b2^t) for eps (31.6 eps at t = 1); eps 1e-7 (torch 1e-8); "
            "amsgrad keeps the max of the uncorrected v. torch Adam's weight_decay is L2 "
            "added to g. Seed 004's 'Adam' row is tf.optimizers.AdamW(weight_decay=0), this rule.",
        ),
    ),
    "adamw_keras": (
        KerasAdamW,
        _keras(
            "AdamW",
            "vs 'adamw' (torch): adam_keras's epsilon hat and eps 1e-7 (torch eps 1e-8 after "
            "the corrected root), weight_decay 0.004 (torch 0.01); the decay itself, "
            "p -= lr wd p before the step, is torch's.",
        ),
    ),
    "adamax_keras": (
        KerasAdamax,
        _keras(
            "Adamax",
            "vs 'adamax' (torch): eps is added outside the max, m / (u + eps) with "
            "u = max(b2 u, |g|) (torch u = max(b2 u, |g| + eps)); eps 1e-7 (torch 1e-8), "
            "lr 0.001 (torch 0.002); torch's weight_decay is L2 added to g.",
        ),
    ),
    "nadam_keras": (
        KerasNadam,
        _keras(
            "Nadam",
            "vs 'nadam' (torch): the momentum schedule is mu_t = b1 (1 - 0.5 * 0.96^t), where "
            "torch uses 0.96^(0.004 t) (momentum_decay=0.004): Keras' mu_t rises from 0.47 to "
            "0.89 by t = 100, torch's stays near 0.45 (this rule is torch's NAdam with "
            "momentum_decay=1, up to torch's float32 mu product). eps 1e-7 (torch 1e-8), "
            "lr 0.001 (torch 0.002); torch's default weight_decay is L2 added to g.",
        ),
    ),
    "lamb_keras": (
        KerasLamb,
        _keras(
            "Lamb",
            "vs 'lamb' (pytorch_optimizer): r = m_hat / (sqrt(v_hat) + eps) from bias-corrected "
            "moments, trust ratio |p| / |r| over the whole tensor (1 if a norm is 0) with no "
            "clamp and no eps, p -= lr ratio r (pytorch_optimizer: raw moments, "
            "min(|p|, 10) / (|r| + eps), times lr / (1 - b1^t)); no weight decay inside r; "
            "eps 1e-7 (pytorch_optimizer 1e-6). From seed 004's (9, 9) on f0 at lr 1 step 1 "
            "lands on (0, 0) (ratio 9), the library's on (-61.7, -61.7). Not element-wise: "
            "the path engine runs each start as its own (1, 2) tensor, the seed's shape.",
        ),
    ),
    "ftrl_keras": (
        KerasFtrl,
        _keras(
            "Ftrl",
            "vs 'ftrl' (pytorch_optimizer): the accumulator n starts at "
            "initial_accumulator_value=0.1 (pytorch_optimizer 0) while z starts at 0, so step "
            "1 is p (1 - sqrt(n_0 / n_1)) - lr g / sqrt(n_1), pulled towards the origin (from "
            "(9, 9) on f0 at lr 1: 0.68, the library's 8.0); the denominator is "
            "n^(-lr_power) / lr + 2 l2 + beta / lr (pytorch_optimizer (beta + sqrt(n)) / lr + "
            "lambda_2); adds l2_shrinkage_regularization_strength. Names: learning_rate_power, "
            "l1/l2_regularization_strength (pytorch_optimizer lr_power, lambda_1, lambda_2).",
        ),
    ),
}
