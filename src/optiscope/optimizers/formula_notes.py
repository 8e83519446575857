"""Where a library's rule differs from the seed's or the paper's formula.

Keys are canonical registry names; values are one or two sentences shown in the entry's docs
and in ``optiscope optimizers list``. Each note is backed by a step-by-step NumPy reference
in ``tests/test_update_rules.py``. The numbers quoted come from those tests: 8 steps on their
fixed 6-D quadratic, end points compared by the largest coordinate difference. ``sgd`` and
``lion`` have no entry: they match the seeds' and the papers' formulas exactly.
"""

from __future__ import annotations

__all__ = ["FORMULA_NOTES"]

FORMULA_NOTES: dict[str, str] = {
    "momentum": (
        "Seed 002's EMA form is, step for step, seeds 003/004's heavy ball m = b m + lr g, "
        "p -= m run at lr (1-b). torch SGD(momentum=b, dampening=b) starts its buffer at g_1 "
        "instead of (1-b) g_1, so on equal gradients its buffer stays v_t + b^t g_1 and its "
        "path is offset by -lr (b + ... + b^t) g_1, tending to -lr b/(1-b) g_1."
    ),
    "classical_momentum": (
        "torch keeps lr outside the buffer (m = b m + g, p -= lr m) where seeds 003/004 put it "
        "inside (m = b m + lr g, p -= m): identical for a constant lr, but an lr change "
        "rescales the whole velocity at once (lr 0.05 -> 0.01 at step 5: 0.96 apart at step 8)."
    ),
    "nag": (
        "torch's Nesterov update (m = b m + g, p -= lr (g + b m)) is seed 004's approximate "
        "form; its iterate is exactly the look-ahead point theta_t + b m_t of seed 004's exact "
        "NAG (gradient taken at theta + b m), not theta_t (0.18 apart after 8 steps)."
    ),
    "rmsprop": (
        "torch divides by sqrt(v) + eps, eps outside the root (default 1e-8, alpha 0.99), where "
        "seed 004 divides by sqrt(v) alone; eps=0 recovers the seed exactly, eps=1e-2 moves the "
        "8-step end point by 0.016. momentum accumulates g / (sqrt(v) + eps) with lr outside; "
        "centered=True uses v - (EMA of g)^2."
    ),
    "adagrad": (
        "torch adds eps outside the root, g / (sqrt(G) + eps) (Duchi et al.'s delta I + "
        "G^(1/2)), where seed 004's formula has sqrt(G + eps): 0.035 apart after 8 steps at "
        "eps=0.1, negligible at the default 1e-10. G starts at initial_accumulator_value "
        "(default 0) and lr decays as lr / (1 + (t-1) lr_decay)."
    ),
    "adadelta": (
        "torch multiplies Zeiler's update by lr (default 1.0 is Zeiler's rule exactly); lr "
        "scales only the step, not the accumulators, so with lr=0.5 every displacement on a "
        "fixed gradient sequence is exactly half of Zeiler's. eps sits inside both roots."
    ),
    "adam": (
        "torch adds eps after the root of the bias-corrected v, m_hat / (sqrt(v_hat) + eps), "
        "as seed 002's code; seed 004 writes sqrt(v_hat + eps), whose first step is 0.79 times "
        "as long at eps=1e-8 with gradients of order 1e-4. Seed 003 prints the corrections as "
        "1 - beta without the power t, equal at step 1 only (0.26 apart after 8 steps)."
    ),
    "adamw": (
        "torch multiplies the decoupled decay by lr, p <- p (1 - lr wd) - lr Adam step, where "
        "Loshchilov & Hutter scale lambda only by the schedule multiplier: the paper's lambda "
        "is torch's lr * weight_decay (lr=0.05, wd=0.5 decays 2.5% a step, not 50%)."
    ),
    "adamax": (
        "torch puts eps inside the max, u = max(b2 u, |g| + eps), where Kingma & Ba (and "
        "seed 004) use max(b2 u, |g|); eps=0 recovers the paper exactly, eps=0.1 moves the "
        "8-step end point by 0.053."
    ),
    "nadam": (
        "torch mixes with mu_t = b1 (1 - 0.5 * 0.96^(0.004 t)) (Dozat's schedule; m itself uses "
        "b1), so mu_t starts near b1/2 and is only 0.58 b1 at t=1000: 0.076 from constant-mu "
        "NAdam after 8 steps, and momentum_decay=0 gives mu = b1/2, not b1. Its product of mu_t "
        "is a float32 scalar unless torch's default dtype is float64 (~1e-10 relative in float64)."
    ),
    "lars": (
        "pytorch_optimizer applies the trust ratio tc |p| / (|g| + wd |p|) (1 when a norm is 0) "
        "and the weight decay only to tensors with ndim > 1: a (2,) vector gets plain "
        "heavy-ball SGD (2.2 from seed 004's LARS after 8 steps); a matrix gets seed 004's rule "
        "with lr outside the momentum buffer. optiscope moves a surface point as a (1, 2) "
        "tensor in both the path engine and the teaching trace, so on a 2-D surface LARS is "
        "layer-wise, its trust ratio taken over the point's two coordinates."
    ),
    "lamb": (
        "pytorch_optimizer (weight_decouple=True) decays p <- p (1 - lr wd) first, takes "
        "r = m / (sqrt(v) + eps) from raw moments, ratio min(|p|, 10) / (|r| + eps) (1 if a "
        "norm is 0), and multiplies by lr / (1 - b1^t) outside the ratio; seed 003 bias-corrects "
        "both moments and normalises r + wd p, so its first step is (1 - b1) times as long "
        "(1/5 at b1=0.8)."
    ),
    "ftrl": (
        "pytorch_optimizer's FTRL is McMahan et al.'s per-coordinate FTRL-Proximal for "
        "lr_power=-0.5; for other values sigma uses n^(-lr_power) but the denominator keeps "
        "sqrt(n) (lr_power=-0.25 ends 0.22 from the form with n^0.25 in both)."
    ),
    "adagrad_full": (
        "optiscope uses Duchi et al.'s H = G^(1/2) + eps I, as seed 004's code, not "
        "(G + eps I)^(1/2): step 1 has length lr |g| / (|g| + eps), not lr |g| / sqrt(|g|^2 + "
        "eps), and at eps=0.01 the two forms end 0.023 apart after 8 steps."
    ),
}
