"""Independent NumPy references for every registered update rule, checked step by step.

Each rule is written once, in float64, from its formula (torch.optim, pytorch_optimizer,
the papers and the seed write-ups in ``shared/seeds``), with explicit state. The registry
optimizer and the reference are fed the same gradient, taken at the library's iterate, and
must agree at every step to ``RTOL`` (max-abs difference relative to the iterate's max-abs
entry). Where the library's rule differs from a seed's or a paper's formula, that formula is
written too and a test pins the difference down; each such test backs one entry of
``optiscope.optimizers.formula_notes.FORMULA_NOTES``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any, NamedTuple

import numpy as np
import pytest
import torch

from optiscope.optimizers import build_optimizer
from optiscope.optimizers.formula_notes import FORMULA_NOTES
from optiscope.spec_syntax import format_named_args

RTOL = 1e-12
STEPS = 8

# f(p) = 0.5 vec(p)^T A vec(p) + b^T vec(p) on six coordinates, reshaped to the parameter's shape.
_RNG = np.random.default_rng(20240611)
_M = _RNG.standard_normal((6, 6))
A = _M @ _M.T / 6 + 0.5 * np.eye(6)
B = _RNG.standard_normal(6)
P0_VECTOR = _RNG.standard_normal(6)
P0_MATRIX = _RNG.standard_normal((2, 3))
P0_SMALL = P0_VECTOR[:3]
GRADIENT_SEQUENCE = _RNG.standard_normal((STEPS, 6))

Reference = Callable[..., np.ndarray]
GradientFn = Callable[[np.ndarray, int], np.ndarray]


def quadratic_gradient(p: np.ndarray, t: int) -> np.ndarray:
    """Gradient of the fixed quadratic at ``p`` (any shape with at most six numbers)."""
    n = p.size
    return (A[:n, :n] @ p.ravel() + B[:n]).reshape(p.shape)


def fixed_gradient(p: np.ndarray, t: int) -> np.ndarray:
    """The ``t``-th gradient of a fixed sequence, independent of the iterate (1-based ``t``)."""
    return GRADIENT_SEQUENCE[t - 1, : p.size].reshape(p.shape)


# --- references for the library rules --------------------------------------------------------
# Each is ``ref(p, g, s, t, **hparams) -> next p``: float64 arrays, step t from 1, and a state
# dict ``s`` that starts empty and holds the rule's buffers.


def sgd_ref(p, g, s, t, *, lr, weight_decay):
    """p -= lr (g + wd p) (seeds 003/004)."""
    return p - lr * (g + weight_decay * p)


def ema_momentum_ref(p, g, s, t, *, lr, momentum, weight_decay):
    """Seed 002: v_t = b v_{t-1} + (1-b) g_t, v_0 = 0; p -= lr v_t (L2 term added to g)."""
    s["v"] = momentum * s.get("v", 0.0) + (1 - momentum) * (g + weight_decay * p)
    return p - lr * s["v"]


def heavy_ball_ref(p, g, s, t, *, lr, momentum, weight_decay):
    """Polyak momentum with lr outside the buffer: m_t = b m_{t-1} + g_t; p -= lr m_t."""
    s["m"] = momentum * s.get("m", 0.0) + g + weight_decay * p
    return p - lr * s["m"]


def nesterov_ref(p, g, s, t, *, lr, momentum, weight_decay):
    """Sutskever/Bengio form: m_t = b m_{t-1} + g_t; p -= lr (g_t + b m_t)."""
    g = g + weight_decay * p
    s["m"] = momentum * s.get("m", 0.0) + g
    return p - lr * (g + momentum * s["m"])


def rmsprop_ref(p, g, s, t, *, lr, alpha, eps, weight_decay, momentum, centered):
    """v = a v + (1-a) g^2; centered: v - (EMA g)^2; step g / (sqrt(.) + eps), momentum on it."""
    g = g + weight_decay * p
    s["v"] = alpha * s.get("v", 0.0) + (1 - alpha) * g**2
    second = s["v"]
    if centered:
        s["mean"] = alpha * s.get("mean", 0.0) + (1 - alpha) * g
        second = second - s["mean"] ** 2
    step = g / (np.sqrt(second) + eps)
    if momentum > 0:
        s["buf"] = momentum * s.get("buf", 0.0) + step
        step = s["buf"]
    return p - lr * step


def adagrad_ref(p, g, s, t, *, lr, lr_decay, eps, weight_decay, initial_accumulator_value):
    """G = G_0 + sum g^2; p -= lr / (1 + (t-1) lr_decay) * g / (sqrt(G) + eps)."""
    g = g + weight_decay * p
    s["G"] = s.get("G", initial_accumulator_value) + g**2
    return p - lr / (1 + (t - 1) * lr_decay) * g / (np.sqrt(s["G"]) + eps)


def adadelta_ref(p, g, s, t, *, lr, rho, eps, weight_decay):
    """Zeiler (2012) Algorithm 1, with the step multiplied by lr."""
    g = g + weight_decay * p
    s["Eg2"] = rho * s.get("Eg2", 0.0) + (1 - rho) * g**2
    delta = np.sqrt(s.get("Edx2", 0.0) + eps) / np.sqrt(s["Eg2"] + eps) * g
    s["Edx2"] = rho * s.get("Edx2", 0.0) + (1 - rho) * delta**2
    return p - lr * delta


def _adam_moments(g, s, t, betas):
    b1, b2 = betas
    s["m"] = b1 * s.get("m", 0.0) + (1 - b1) * g
    s["v"] = b2 * s.get("v", 0.0) + (1 - b2) * g**2
    return s["m"] / (1 - b1**t), s["v"] / (1 - b2**t)


def adam_ref(p, g, s, t, *, lr, betas, eps, weight_decay):
    """Kingma & Ba with eps after the root of the bias-corrected v; L2 term added to g."""
    m_hat, v_hat = _adam_moments(g + weight_decay * p, s, t, betas)
    return p - lr * m_hat / (np.sqrt(v_hat) + eps)


def adamw_ref(p, g, s, t, *, lr, betas, eps, weight_decay):
    """Decoupled decay p <- p (1 - lr wd), then the Adam step from the same gradient."""
    m_hat, v_hat = _adam_moments(g, s, t, betas)
    return p * (1 - lr * weight_decay) - lr * m_hat / (np.sqrt(v_hat) + eps)


def adamax_ref(p, g, s, t, *, lr, betas, eps, weight_decay):
    """u = max(b2 u, |g| + eps); p -= lr / (1 - b1^t) * m / u."""
    b1, b2 = betas
    g = g + weight_decay * p
    s["m"] = b1 * s.get("m", 0.0) + (1 - b1) * g
    s["u"] = np.maximum(b2 * s.get("u", 0.0), np.abs(g) + eps)
    return p - lr / (1 - b1**t) * s["m"] / s["u"]


def nadam_ref(p, g, s, t, *, lr, betas, eps, weight_decay, momentum_decay):
    """Dozat (2016) with mu_t = b1 (1 - 0.5 * 0.96^(t psi)); m itself uses the constant b1."""
    b1, b2 = betas
    g = g + weight_decay * p
    mu, mu_next = (b1 * (1 - 0.5 * 0.96 ** (k * momentum_decay)) for k in (t, t + 1))
    s["mu_product"] = s.get("mu_product", 1.0) * mu
    s["m"] = b1 * s.get("m", 0.0) + (1 - b1) * g
    s["v"] = b2 * s.get("v", 0.0) + (1 - b2) * g**2
    denom = np.sqrt(s["v"] / (1 - b2**t)) + eps
    g_hat = g / (1 - s["mu_product"])
    m_hat = s["m"] / (1 - s["mu_product"] * mu_next)
    return p - lr * ((1 - mu) * g_hat + mu_next * m_hat) / denom


def lion_ref(p, g, s, t, *, lr, betas, weight_decay):
    """Chen et al. (2023): p -= lr (sign(b1 m + (1-b1) g) + wd p); m = b2 m + (1-b2) g."""
    b1, b2 = betas
    m = s.get("m", 0.0)
    update = np.sign(b1 * m + (1 - b1) * g)
    s["m"] = b2 * m + (1 - b2) * g
    return p * (1 - lr * weight_decay) - lr * update


def lars_ref(p, g, s, t, *, lr, momentum, weight_decay, trust_coefficient):
    """For a matrix: ratio = tc |p| / (|g| + wd |p|) (1 if a norm is 0) on g + wd p; heavy ball."""
    if p.ndim > 1:
        p_norm, g_norm = np.linalg.norm(p), np.linalg.norm(g)
        denom = g_norm + weight_decay * p_norm
        ratio = trust_coefficient * p_norm / denom if p_norm > 0 and denom > 0 else 1.0
        g = ratio * (g + weight_decay * p)
    s["m"] = momentum * s.get("m", 0.0) + g
    return p - lr * s["m"]


def lamb_ref(p, g, s, t, *, lr, betas, eps, weight_decay):
    """pytorch_optimizer Lamb: decoupled decay, raw moments, lr / (1 - b1^t) outside the ratio."""
    b1, b2 = betas
    p = p * (1 - lr * weight_decay)
    s["m"] = b1 * s.get("m", 0.0) + (1 - b1) * g
    s["v"] = b2 * s.get("v", 0.0) + (1 - b2) * g**2
    r = s["m"] / (np.sqrt(s["v"]) + eps)
    w_norm, r_norm = min(np.linalg.norm(p), 10.0), np.linalg.norm(r)
    ratio = w_norm / (r_norm + eps) if w_norm > 0 and r_norm > 0 else 1.0
    return p - lr / (1 - b1**t) * ratio * r


def ftrl_ref(p, g, s, t, *, lr, lr_power, beta, lambda_1, lambda_2, denominator_power=0.5):
    """McMahan et al. (2013) FTRL-Proximal per coordinate, with n^(-lr_power) in sigma."""
    n_old = s.get("n", np.zeros_like(p))
    s["n"] = n_old + g**2
    sigma = (s["n"] ** -lr_power - n_old**-lr_power) / lr
    s["z"] = s.get("z", 0.0) + g - sigma * p
    z = s["z"]
    w = (np.sign(z) * lambda_1 - z) / ((beta + s["n"] ** denominator_power) / lr + lambda_2)
    return np.where(np.abs(z) <= lambda_1, 0.0, w)


def adagrad_full_ref(p, g, s, t, *, lr, eps, weight_decay):
    """Duchi et al. (2011), seed 004: G += g g^T (flattened); p -= lr (G^(1/2) + eps I)^(-1) g."""
    g = (g + weight_decay * p).ravel()
    s["G"] = s.get("G", 0.0) + np.outer(g, g)
    w, q = np.linalg.eigh(s["G"])
    return p - lr * (q @ ((q.T @ g) / (np.sqrt(np.clip(w, 0.0, None)) + eps))).reshape(p.shape)


# --- the seed's or the paper's form, where it differs from the library -----------------------


def heavy_ball_lr_inside_ref(p, g, s, t, *, lr_at, momentum):
    """Seeds 003/004: m_t = b m_{t-1} + lr_t g_t; p -= m_t (lr inside the buffer)."""
    s["m"] = momentum * s.get("m", 0.0) + lr_at(t) * g
    return p - s["m"]


def rmsprop_seed_ref(p, g, s, t, *, lr, alpha):
    """Seed 004: p -= lr g / sqrt(v), no eps."""
    s["v"] = alpha * s.get("v", 0.0) + (1 - alpha) * g**2
    return p - lr * g / np.sqrt(s["v"])


def adagrad_eps_inside_ref(p, g, s, t, *, lr, eps):
    """Seed 004's diagonal AdaGrad formula: p -= lr g / sqrt(G + eps)."""
    s["G"] = s.get("G", 0.0) + g**2
    return p - lr * g / np.sqrt(s["G"] + eps)


def adam_eps_inside_ref(p, g, s, t, *, lr, betas, eps):
    """Seed 004: p -= lr m_hat / sqrt(v_hat + eps)."""
    m_hat, v_hat = _adam_moments(g, s, t, betas)
    return p - lr * m_hat / np.sqrt(v_hat + eps)


def adam_seed003_ref(p, g, s, t, *, lr, betas, eps):
    """Seed 003 as printed: m_hat = m / (1 - b1), v_hat = v / (1 - b2), no power t."""
    b1, b2 = betas
    s["m"] = b1 * s.get("m", 0.0) + (1 - b1) * g
    s["v"] = b2 * s.get("v", 0.0) + (1 - b2) * g**2
    return p - lr * (s["m"] / (1 - b1)) / (np.sqrt(s["v"] / (1 - b2)) + eps)


def adamw_paper_ref(p, g, s, t, *, alpha, betas, eps, decay, schedule_multiplier):
    """Loshchilov & Hutter Alg. 2: p -= eta_t (alpha m_hat / (sqrt(v_hat) + eps) + lambda p)."""
    m_hat, v_hat = _adam_moments(g, s, t, betas)
    return p - schedule_multiplier * (alpha * m_hat / (np.sqrt(v_hat) + eps) + decay * p)


def adamax_paper_ref(p, g, s, t, *, lr, betas):
    """Kingma & Ba Alg. 2: u = max(b2 u, |g|), no eps."""
    b1, b2 = betas
    s["m"] = b1 * s.get("m", 0.0) + (1 - b1) * g
    s["u"] = np.maximum(b2 * s.get("u", 0.0), np.abs(g))
    return p - lr / (1 - b1**t) * s["m"] / s["u"]


def nadam_constant_mu_ref(p, g, s, t, *, lr, betas, eps):
    """Dozat's NAdam with a constant momentum mu_t = b1 (no warm-up schedule)."""
    b1, b2 = betas
    s["m"] = b1 * s.get("m", 0.0) + (1 - b1) * g
    s["v"] = b2 * s.get("v", 0.0) + (1 - b2) * g**2
    denom = np.sqrt(s["v"] / (1 - b2**t)) + eps
    mixed = (1 - b1) * g / (1 - b1**t) + b1 * s["m"] / (1 - b1 ** (t + 1))
    return p - lr * mixed / denom


def lars_seed_ref(p, g, s, t, *, lr, momentum, weight_decay, trust_coefficient):
    """Seed 004 / You et al.: every layer, m = b m + lr * tc |p| / (|g| + wd |p|) (g + wd p)."""
    p_norm = np.linalg.norm(p)
    local_lr = trust_coefficient * p_norm / (np.linalg.norm(g) + weight_decay * p_norm)
    s["m"] = momentum * s.get("m", 0.0) + lr * local_lr * (g + weight_decay * p)
    return p - s["m"]


def lamb_seed_ref(p, g, s, t, *, lr, betas, eps, weight_decay):
    """Seed 003 / You et al.: bias-corrected r, u = r + wd p, p -= lr |p| / |u| * u."""
    m_hat, v_hat = _adam_moments(g, s, t, betas)
    update = m_hat / (np.sqrt(v_hat) + eps) + weight_decay * p
    return p - lr * np.linalg.norm(p) / np.linalg.norm(update) * update


def adagrad_full_eps_in_root_ref(p, g, s, t, *, lr, eps):
    """The other common placement: p -= lr (G + eps I)^(-1/2) g."""
    s["G"] = s.get("G", 0.0) + np.outer(g.ravel(), g.ravel())
    w, q = np.linalg.eigh(s["G"] + eps * np.eye(g.size))
    return p - lr * (q @ ((q.T @ g.ravel()) / np.sqrt(w))).reshape(p.shape)


# --- harness ---------------------------------------------------------------------------------


def _build(name: str, params: list[torch.Tensor], hparams: dict[str, Any]):
    return build_optimizer(format_named_args(name, hparams), params)


def _relative_difference(got: np.ndarray, want: np.ndarray) -> tuple[float, float]:
    diff = float(np.max(np.abs(got - want)))
    return diff, diff / max(float(np.max(np.abs(want))), 1e-300)


def assert_iterates_close(label: str, t: int, got: np.ndarray, want: np.ndarray, rtol: float = RTOL) -> None:
    diff, rel = _relative_difference(got, want)
    assert rel <= rtol, (
        f"{label}: step {t}: max |library - reference| = {diff:.3e} "
        f"(relative {rel:.3e} > {rtol:g})\nlibrary   {got.ravel()}\nreference {want.ravel()}"
    )


def side_by_side(
    name: str,
    hparams: dict[str, Any],
    reference: Reference,
    p0: np.ndarray,
    steps: int = STEPS,
    gradient: GradientFn = quadratic_gradient,
    ref_hparams: dict[str, Any] | None = None,
) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
    """Yield ``(t, library iterate, reference iterate)``; both get the library's gradient."""
    param = torch.nn.Parameter(torch.tensor(p0, dtype=torch.float64))
    optimizer = _build(name, [param], hparams)
    p_ref, state = p0.copy(), {}
    for t in range(1, steps + 1):
        g = gradient(param.detach().numpy().copy(), t)
        param.grad = torch.tensor(g)
        optimizer.step()
        p_ref = reference(p_ref, g, state, t, **(hparams if ref_hparams is None else ref_hparams))
        yield t, param.detach().numpy().copy(), p_ref


def run_reference(
    reference: Reference,
    hparams: dict[str, Any],
    p0: np.ndarray,
    steps: int = STEPS,
    gradient: GradientFn = quadratic_gradient,
) -> np.ndarray:
    """Iterates ``(steps + 1, *p0.shape)`` of a reference run on its own."""
    path, p, state = [p0.copy()], p0.copy(), {}
    for t in range(1, steps + 1):
        p = reference(p, gradient(p, t), state, t, **hparams)
        path.append(p)
    return np.stack(path)


def run_library(
    name: str,
    hparams: dict[str, Any],
    p0: np.ndarray,
    steps: int = STEPS,
    gradient: GradientFn = quadratic_gradient,
) -> np.ndarray:
    return np.stack([p0] + [got for _, got, _ in side_by_side(name, hparams, _noop, p0, steps, gradient)])


@contextlib.contextmanager
def default_dtype(dtype: torch.dtype) -> Iterator[None]:
    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        yield
    finally:
        torch.set_default_dtype(previous)


def _noop(p, g, s, t, **_):
    return p


class Case(NamedTuple):
    name: str
    hparams: dict[str, Any]
    reference: Reference
    p0: np.ndarray = P0_VECTOR
    # torch NAdam keeps its momentum product in the default dtype: float64 to compare at RTOL.
    default_dtype: torch.dtype = torch.float32
    rtol: float = RTOL


_EIGH_RTOL = 1e-10
_ADAM = {"lr": 0.05, "betas": (0.8, 0.95), "eps": 1e-3, "weight_decay": 0.1}
CASES = {
    "sgd": Case("sgd", {"lr": 0.1, "weight_decay": 0.0}, sgd_ref),
    "sgd_weight_decay": Case("sgd", {"lr": 0.1, "weight_decay": 0.2}, sgd_ref),
    "gd_alias": Case("gd", {"lr": 0.1, "weight_decay": 0.2}, sgd_ref),
    "momentum": Case("momentum", {"lr": 0.2, "momentum": 0.7, "weight_decay": 0.1}, ema_momentum_ref),
    "classical_momentum": Case(
        "classical_momentum", {"lr": 0.05, "momentum": 0.9, "weight_decay": 0.1}, heavy_ball_ref
    ),
    "nag": Case("nag", {"lr": 0.05, "momentum": 0.9, "weight_decay": 0.1}, nesterov_ref),
    "nesterov_alias": Case("nesterov", {"lr": 0.05, "momentum": 0.9, "weight_decay": 0.0}, nesterov_ref),
    "rmsprop": Case(
        "rmsprop",
        {
            "lr": 0.05,
            "alpha": 0.9,
            "eps": 1e-3,
            "weight_decay": 0.1,
            "momentum": 0.0,
            "centered": False,
        },
        rmsprop_ref,
    ),
    "rmsprop_centered_momentum": Case(
        "rmsprop",
        {
            "lr": 0.02,
            "alpha": 0.9,
            "eps": 1e-3,
            "weight_decay": 0.1,
            "momentum": 0.6,
            "centered": True,
        },
        rmsprop_ref,
    ),
    "adagrad": Case(
        "adagrad",
        {
            "lr": 0.3,
            "lr_decay": 0.05,
            "eps": 1e-3,
            "weight_decay": 0.1,
            "initial_accumulator_value": 0.2,
        },
        adagrad_ref,
    ),
    "adadelta": Case("adadelta", {"lr": 0.7, "rho": 0.8, "eps": 1e-4, "weight_decay": 0.1}, adadelta_ref),
    "adam": Case("adam", _ADAM, adam_ref),
    "adamw": Case("adamw", {**_ADAM, "weight_decay": 0.5}, adamw_ref),
    "adamax": Case("adamax", _ADAM, adamax_ref),
    "nadam": Case("nadam", {**_ADAM, "momentum_decay": 0.04}, nadam_ref, default_dtype=torch.float64),
    "lion": Case("lion", {"lr": 0.05, "betas": (0.8, 0.95), "weight_decay": 0.3}, lion_ref),
    "lars": Case(
        "lars",
        {"lr": 0.5, "momentum": 0.8, "weight_decay": 0.1, "trust_coefficient": 0.02},
        lars_ref,
        P0_MATRIX,
    ),
    "lamb": Case(
        "lamb",
        {"lr": 0.02, "betas": (0.8, 0.95), "eps": 1e-3, "weight_decay": 0.3},
        lamb_ref,
        P0_MATRIX,
    ),
    "ftrl": Case(
        "ftrl",
        {"lr": 0.5, "lr_power": -0.5, "beta": 0.3, "lambda_1": 0.05, "lambda_2": 0.2},
        ftrl_ref,
    ),
    # Full-matrix AdaGrad inverts G^(1/2) through an eigendecomposition of a nearly singular G,
    # and LAPACK picks its kernels per CPU: measured 6e-14 / 2.7e-13 on one machine, 1.06e-12 on
    # another. 1e-10 still sits eight orders below what a formula error moves (the iterates move
    # by more than 1e-3 and a misplaced eps shows at 2e-2, see the eps-in-root test below).
    "adagrad_full": Case(
        "adagrad_full",
        {"lr": 0.3, "eps": 1e-2, "weight_decay": 0.1},
        adagrad_full_ref,
        P0_SMALL,
        rtol=_EIGH_RTOL,
    ),
    "adagrad_full_matrix_param": Case(
        "adagrad_full",
        {"lr": 0.3, "eps": 0.05, "weight_decay": 0.0},
        adagrad_full_ref,
        P0_MATRIX,
        rtol=_EIGH_RTOL,
    ),
}


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_library_matches_numpy_reference(case: Case) -> None:
    label = format_named_args(case.name, case.hparams)
    moved = 0.0
    with default_dtype(case.default_dtype):
        for t, got, want in side_by_side(case.name, case.hparams, case.reference, case.p0):
            assert_iterates_close(label, t, got, want, case.rtol)
            moved = max(moved, float(np.max(np.abs(got - case.p0))))
    assert moved > 1e-3, f"{label}: iterates hardly moved ({moved:.1e}); the check is vacuous"


# --- where the library differs from a seed's or a paper's formula ----------------------------


def test_momentum_ema_equals_heavy_ball_at_rescaled_lr_but_not_torch_dampening() -> None:
    """EMA momentum at lr == seed 003's m = b m + lr g at lr (1-b); torch dampening=b is not it."""
    lr, b = 0.2, 0.7
    ema = run_library("momentum", {"lr": lr, "momentum": b, "weight_decay": 0.0}, P0_VECTOR)
    seed003 = run_reference(
        heavy_ball_ref, {"lr": lr * (1 - b), "momentum": b, "weight_decay": 0.0}, P0_VECTOR
    )
    for t in range(1, STEPS + 1):
        assert_iterates_close("momentum vs seed 003 heavy ball at lr (1-b)", t, ema[t], seed003[t])
    # torch SGD(dampening=b) skips dampening on its first step: on the same gradient sequence its
    # buffer is v_t + b^t g_1, so the iterates drift apart by lr * g_1 * sum_{s<=t} b^s.
    ema_fixed = run_library(
        "momentum",
        {"lr": lr, "momentum": b, "weight_decay": 0.0},
        P0_VECTOR,
        gradient=fixed_gradient,
    )
    param = torch.nn.Parameter(torch.tensor(P0_VECTOR))
    torch_sgd = torch.optim.SGD([param], lr=lr, momentum=b, dampening=b)
    g1 = fixed_gradient(P0_VECTOR, 1)
    for t in range(1, STEPS + 1):
        param.grad = torch.tensor(fixed_gradient(P0_VECTOR, t))
        torch_sgd.step()
        gap = -lr * g1 * sum(b**k for k in range(1, t + 1))
        assert_iterates_close(
            "torch SGD(dampening=b) - EMA momentum", t, param.detach().numpy() - ema_fixed[t], gap
        )


def test_classical_momentum_differs_from_seed_only_when_lr_changes() -> None:
    """torch: p -= lr_t m_t with m = b m + g; seeds 003/004: m = b m + lr_t g; p -= m."""
    hp = {"lr": 0.05}  # the preset supplies momentum=0.9
    seed = {"lr_at": lambda t: 0.05, "momentum": 0.9}
    for t, got, want in side_by_side(
        "classical_momentum", hp, heavy_ball_lr_inside_ref, P0_VECTOR, ref_hparams=seed
    ):
        assert_iterates_close("classical_momentum vs seed 003 (constant lr)", t, got, want)

    def lr_at(t: int) -> float:
        return 0.05 if t <= 4 else 0.01

    param = torch.nn.Parameter(torch.tensor(P0_VECTOR))
    optimizer = _build("classical_momentum", [param], hp)
    for t in range(1, STEPS + 1):
        for group in optimizer.param_groups:
            group["lr"] = lr_at(t)
        param.grad = torch.tensor(quadratic_gradient(param.detach().numpy(), t))
        optimizer.step()
    scheduled = run_reference(heavy_ball_lr_inside_ref, {**seed, "lr_at": lr_at}, P0_VECTOR)
    gap = np.max(np.abs(param.detach().numpy() - scheduled[-1]))
    assert gap == pytest.approx(0.96, rel=0.03), (
        f"classical_momentum, lr 0.05 -> 0.01 at step 5: gap to seed form {gap:.3e}"
    )


def test_nag_iterate_is_the_lookahead_point_of_seed_004_nesterov() -> None:
    """torch's p_t equals theta_t + b m_t of seed 004's exact NAG (gradient at the lookahead)."""
    lr, b = 0.05, 0.9
    theta, m = P0_VECTOR.copy(), np.zeros(6)
    library = run_library("nag", {"lr": lr}, P0_VECTOR)  # the preset supplies momentum=0.9
    for t in range(1, STEPS + 1):
        m = b * m - lr * quadratic_gradient(theta + b * m, t)
        theta = theta + m
        assert_iterates_close("nag vs seed 004 lookahead theta + b m", t, library[t], theta + b * m)
    gap = np.max(np.abs(library[-1] - theta))
    assert gap == pytest.approx(0.18, rel=0.03), (
        f"nag iterate vs seed 004's theta after {STEPS} steps: {gap:.3e}"
    )


def test_rmsprop_eps_outside_root_recovers_seed_004_with_eps_zero() -> None:
    hp = {
        "lr": 0.05,
        "alpha": 0.9,
        "eps": 0.0,
        "weight_decay": 0.0,
        "momentum": 0.0,
        "centered": False,
    }
    seed = {"lr": 0.05, "alpha": 0.9}
    for t, got, want in side_by_side("rmsprop", hp, rmsprop_seed_ref, P0_VECTOR, ref_hparams=seed):
        assert_iterates_close("rmsprop eps=0 vs seed 004 (no eps)", t, got, want)
    library = run_library("rmsprop", {**hp, "eps": 1e-2}, P0_VECTOR)
    seed_path = run_reference(rmsprop_seed_ref, seed, P0_VECTOR)
    gap = np.max(np.abs(library[-1] - seed_path[-1]))
    assert gap == pytest.approx(0.016, rel=0.03), f"rmsprop eps=1e-2 vs seed 004: gap {gap:.3e}"


def test_adagrad_eps_outside_root_differs_from_seed_004_formula() -> None:
    hp = {
        "lr": 0.3,
        "lr_decay": 0.0,
        "eps": 0.1,
        "weight_decay": 0.0,
        "initial_accumulator_value": 0.0,
    }
    library = run_library("adagrad", hp, P0_VECTOR)
    seed = run_reference(adagrad_eps_inside_ref, {"lr": 0.3, "eps": 0.1}, P0_VECTOR)
    first_gradient = quadratic_gradient(P0_VECTOR, 1)
    # Step 1 in closed form: torch moves lr g / (|g| + eps), the seed lr g / sqrt(g^2 + eps).
    torch_first = P0_VECTOR - 0.3 * first_gradient / (np.abs(first_gradient) + 0.1)
    seed_first = P0_VECTOR - 0.3 * first_gradient / np.sqrt(first_gradient**2 + 0.1)
    assert_iterates_close("adagrad step 1 closed form", 1, library[1], torch_first)
    assert_iterates_close("seed 004 adagrad step 1 closed form", 1, seed[1], seed_first)
    gap = np.max(np.abs(library[-1] - seed[-1]))
    assert gap == pytest.approx(0.035, rel=0.03), (
        f"adagrad eps=0.1 inside vs outside the root after {STEPS} steps: {gap:.3e}"
    )


def test_adadelta_lr_scales_only_the_step() -> None:
    """lr=1 is Zeiler's rule; on a fixed gradient sequence lr multiplies every displacement."""
    zeiler = {"lr": 1.0, "rho": 0.8, "eps": 1e-4, "weight_decay": 0.0}
    for t, got, want in side_by_side("adadelta", zeiler, adadelta_ref, P0_VECTOR):
        assert_iterates_close("adadelta lr=1 vs Zeiler", t, got, want)
    half = run_library("adadelta", {**zeiler, "lr": 0.5}, P0_VECTOR, gradient=fixed_gradient)
    paper = run_reference(adadelta_ref, zeiler, P0_VECTOR, gradient=fixed_gradient)
    for t in range(1, STEPS + 1):
        assert_iterates_close(
            "adadelta lr=0.5 displacement vs half of Zeiler's",
            t,
            half[t] - P0_VECTOR,
            0.5 * (paper[t] - P0_VECTOR),
        )


def test_adam_eps_after_root_versus_seed_forms() -> None:
    """eps after sqrt(v_hat) (torch, seed 002) vs inside (seed 004); seed 003 drops the power t."""
    hp = {"lr": 1e-4, "betas": (0.9, 0.999), "eps": 1e-8}
    near_minimum = np.linalg.solve(A, -B) + 1e-4  # gradients of order 1e-4 = sqrt(eps)
    library = run_library("adam", {**hp, "weight_decay": 0.0}, near_minimum)
    seed004 = run_reference(adam_eps_inside_ref, hp, near_minimum)
    g1 = quadratic_gradient(near_minimum, 1)
    assert_iterates_close(
        "adam step 1 closed form", 1, library[1], near_minimum - 1e-4 * g1 / (np.abs(g1) + 1e-8)
    )
    assert_iterates_close(
        "seed 004 adam step 1", 1, seed004[1], near_minimum - 1e-4 * g1 / np.sqrt(g1**2 + 1e-8)
    )
    ratio = np.linalg.norm(seed004[1] - near_minimum) / np.linalg.norm(library[1] - near_minimum)
    assert ratio == pytest.approx(0.79, rel=0.03), (
        f"adam step 1, eps inside / outside the root: length ratio {ratio:.3f}"
    )
    # Seed 003 divides by (1 - b1), (1 - b2): equal to Adam at step 1 only.
    seed003 = run_reference(adam_seed003_ref, {**hp, "lr": 0.05}, P0_VECTOR)
    adam = run_library("adam", {**hp, "lr": 0.05, "weight_decay": 0.0}, P0_VECTOR)
    assert_iterates_close("seed 003 adam at step 1", 1, seed003[1], adam[1])
    gap = np.max(np.abs(seed003[-1] - adam[-1]))
    assert gap == pytest.approx(0.26, rel=0.03), (
        f"adam vs seed 003 (no power t) after {STEPS} steps: gap {gap:.3e}"
    )


def test_adamw_decay_is_multiplied_by_lr() -> None:
    """torch: p (1 - lr wd); Loshchilov & Hutter: p (1 - eta_t lambda), not scaled by alpha."""
    hp = {"lr": 0.05, "betas": (0.8, 0.95), "eps": 1e-3, "weight_decay": 0.5}
    paper = {"alpha": 0.05, "betas": (0.8, 0.95), "eps": 1e-3, "schedule_multiplier": 1.0}
    for t, got, want in side_by_side(
        "adamw", hp, adamw_paper_ref, P0_VECTOR, ref_hparams={**paper, "decay": 0.05 * 0.5}
    ):
        assert_iterates_close("adamw vs paper with lambda = lr * weight_decay", t, got, want)
    library = run_library("adamw", hp, P0_VECTOR)
    literal = run_reference(adamw_paper_ref, {**paper, "decay": 0.5}, P0_VECTOR)
    gap = np.max(np.abs(library[-1] - literal[-1]))
    assert gap > 0.5, f"adamw vs paper with lambda = weight_decay: gap {gap:.3e}"


def test_adamax_eps_inside_the_max() -> None:
    """torch: u = max(b2 u, |g| + eps); Kingma & Ba: max(b2 u, |g|); equal when eps = 0."""
    hp = {"lr": 0.05, "betas": (0.8, 0.95), "eps": 0.0, "weight_decay": 0.0}
    paper = {"lr": 0.05, "betas": (0.8, 0.95)}
    for t, got, want in side_by_side("adamax", hp, adamax_paper_ref, P0_VECTOR, ref_hparams=paper):
        assert_iterates_close("adamax eps=0 vs Kingma & Ba", t, got, want)
    library = run_library("adamax", {**hp, "eps": 0.1}, P0_VECTOR)
    kingma = run_reference(adamax_paper_ref, paper, P0_VECTOR)
    gap = np.max(np.abs(library[-1] - kingma[-1]))
    assert gap == pytest.approx(0.053, rel=0.03), f"adamax eps=0.1 vs Kingma & Ba: gap {gap:.3e}"


def test_nadam_momentum_schedule() -> None:
    """The warm-up schedule is torch's only difference from constant-mu NAdam; psi = 0 is not it."""
    hp = {"lr": 0.05, "betas": (0.8, 0.95), "eps": 1e-3, "weight_decay": 0.0}
    constant = {"lr": 0.05, "betas": (0.8, 0.95), "eps": 1e-3}
    with default_dtype(torch.float64):
        # 0.96 ** (t * 1e4) underflows to 0, so mu_t = b1 exactly.
        for t, got, want in side_by_side(
            "nadam",
            {**hp, "momentum_decay": 1e4},
            nadam_constant_mu_ref,
            P0_VECTOR,
            ref_hparams=constant,
        ):
            assert_iterates_close("nadam momentum_decay=1e4 vs constant-mu NAdam", t, got, want)
        reference = run_reference(nadam_constant_mu_ref, constant, P0_VECTOR)
        scheduled = run_library("nadam", {**hp, "momentum_decay": 0.004}, P0_VECTOR)
        no_decay = run_library("nadam", {**hp, "momentum_decay": 0.0}, P0_VECTOR)
    gap = np.max(np.abs(scheduled[-1] - reference[-1]))
    assert gap == pytest.approx(0.076, rel=0.03), f"nadam psi=0.004 vs constant mu = b1: gap {gap:.3e}"
    # psi = 0 freezes mu_t at b1 / 2, not b1; and early on 0.96^(0.004 t) ~ 1, so the default
    # schedule is close to that, not to the constant b1.
    gap = np.max(np.abs(no_decay[-1] - reference[-1]))
    assert gap > 0.05, f"nadam psi=0 vs constant mu = b1: gap {gap:.3e}"
    early = np.max(np.abs(no_decay[-1] - scheduled[-1]))
    assert early < 1e-3, f"nadam psi=0 vs psi=0.004 after {STEPS} steps: {early:.3e}"
    # mu_t rises slowly: read it off torch's running product as mu_1000 = prod_1000 / prod_999.
    param = torch.nn.Parameter(torch.zeros(1, dtype=torch.float64))
    with default_dtype(torch.float64):
        optimizer = _build("nadam", [param], {"betas": (0.9, 0.999), "momentum_decay": 0.004})
        products = []
        for _ in range(1000):
            param.grad = torch.ones(1, dtype=torch.float64)
            optimizer.step()
            products.append(float(optimizer.state[param]["mu_product"]))
    mu_1000 = products[-1] / products[-2]
    assert mu_1000 / 0.9 == pytest.approx(0.58, abs=0.005), f"nadam mu_1000 / b1 = {mu_1000 / 0.9}"


def test_nadam_mu_product_is_float32_under_default_dtype() -> None:
    """With torch's default dtype float32 the product of mu_t is rounded to float32."""
    case = CASES["nadam"]
    worst = 0.0
    for _, got, want in side_by_side(case.name, case.hparams, case.reference, case.p0):
        worst = max(worst, _relative_difference(got, want)[1])
    assert 1e-11 < worst < 1e-6, f"nadam in float64 under float32 default dtype: relative {worst:.3e}"


def test_lars_skips_vectors_and_matches_seed_on_matrices() -> None:
    hp = {"lr": 0.5, "momentum": 0.8, "weight_decay": 0.1, "trust_coefficient": 0.02}
    for t, got, want in side_by_side("lars", hp, lars_seed_ref, P0_MATRIX):
        assert_iterates_close("lars (matrix) vs seed 004 LARS, lr inside buffer", t, got, want)
    # A vector (a point of a 2-D surface) gets plain heavy-ball SGD: no trust ratio, no decay.
    plain = {"lr": 0.5, "momentum": 0.8, "weight_decay": 0.0}
    for t, got, want in side_by_side("lars", hp, heavy_ball_ref, P0_VECTOR, ref_hparams=plain):
        assert_iterates_close("lars (vector) vs heavy ball without weight decay", t, got, want)
    library = run_library("lars", hp, P0_VECTOR)
    seed = run_reference(lars_seed_ref, hp, P0_VECTOR)
    gap = np.max(np.abs(library[-1] - seed[-1]))
    assert gap == pytest.approx(2.2, rel=0.03), f"lars on a vector vs seed 004 LARS: gap {gap:.3e}"
    # A zero matrix has trust ratio 1, so its first step is lr * g.
    zero = np.zeros((2, 3))
    first = run_library("lars", hp, zero, steps=1)[1]
    assert_iterates_close("lars from zero weights", 1, first, -0.5 * quadratic_gradient(zero, 1))


def test_lamb_step_scale_clamp_and_decay_differ_from_seed_003() -> None:
    hp = {"lr": 0.02, "betas": (0.8, 0.95), "eps": 1e-3, "weight_decay": 0.0}
    # Step 1: r = m / (sqrt(v) + eps) from raw moments, ratio * |r| ~ |p|, and lr / (1 - b1)
    # outside the ratio: length ~ lr |p| / (1 - b1), five times seed 003's lr |p|.
    g1 = quadratic_gradient(P0_MATRIX, 1)
    r = 0.2 * g1 / (np.sqrt(0.05) * np.abs(g1) + 1e-3)
    expected = P0_MATRIX - 0.02 / 0.2 * np.linalg.norm(P0_MATRIX) / (np.linalg.norm(r) + 1e-3) * r
    library = run_library("lamb", hp, P0_MATRIX)
    assert_iterates_close("lamb step 1 closed form", 1, library[1], expected)
    seed = run_reference(lamb_seed_ref, hp, P0_MATRIX)
    length_ratio = np.linalg.norm(library[1] - P0_MATRIX) / np.linalg.norm(seed[1] - P0_MATRIX)
    assert abs(length_ratio - 5.0) < 0.01, f"lamb step 1 length / seed 003's: {length_ratio:.4f}"
    gap = np.max(np.abs(library[-1] - seed[-1]))
    assert gap > 0.05, f"lamb vs seed 003 after {STEPS} steps: gap {gap:.3e}"
    # The weight norm in the ratio is clamped at 10: a large start moves lr * 10 / (1 - b1).
    big = 10 * P0_MATRIX
    step = np.linalg.norm(run_library("lamb", hp, big, steps=1)[1] - big)
    assert abs(step - 0.02 * 10 / 0.2) < 1e-3, (
        f"lamb first step from |p| = {np.linalg.norm(big):.1f}: {step:.4f}"
    )
    # Zero weights give trust ratio 1 (not 0): step 1 is lr / (1 - b1) * r.
    zero = np.zeros((2, 3))
    g0 = quadratic_gradient(zero, 1)
    r0 = 0.2 * g0 / (np.sqrt(0.05) * np.abs(g0) + 1e-3)
    first = run_library("lamb", hp, zero, steps=1)[1]
    assert_iterates_close("lamb from zero weights", 1, first, -0.02 / 0.2 * r0)


def test_ftrl_lr_power_only_enters_sigma() -> None:
    """lr_power = -0.5 is McMahan's FTRL-Proximal; otherwise sigma uses n^-lr_power, but the
    denominator keeps sqrt(n)."""
    hp = {"lr": 0.5, "lr_power": -0.25, "beta": 0.3, "lambda_1": 0.05, "lambda_2": 0.2}
    for t, got, want in side_by_side("ftrl", hp, ftrl_ref, P0_VECTOR):
        assert_iterates_close("ftrl lr_power=-0.25 vs sqrt(n) denominator", t, got, want)
    library = run_library("ftrl", hp, P0_VECTOR)
    consistent = run_reference(ftrl_ref, {**hp, "denominator_power": 0.25}, P0_VECTOR)
    gap = np.max(np.abs(library[-1] - consistent[-1]))
    assert gap == pytest.approx(0.22, rel=0.03), (
        f"ftrl lr_power=-0.25 vs n^0.25 in both places: gap {gap:.3e}"
    )


def test_adagrad_full_eps_added_to_root_not_to_matrix() -> None:
    """Ours: (G^(1/2) + eps I)^(-1) g (Duchi et al., seed 004); not (G + eps I)^(-1/2) g."""
    hp = {"lr": 0.3, "eps": 1e-2}
    g1 = quadratic_gradient(P0_SMALL, 1)
    g1_norm = np.linalg.norm(g1)
    library = run_library("adagrad_full", {**hp, "weight_decay": 0.0}, P0_SMALL)
    in_root = run_reference(adagrad_full_eps_in_root_ref, hp, P0_SMALL)
    # G_1 = g g^T has the single eigenvalue |g|^2 along g, so step 1 is a rescaled g.
    first = P0_SMALL - 0.3 * g1 / (g1_norm + 1e-2)
    assert_iterates_close("adagrad_full step 1 closed form", 1, library[1], first)
    first_in_root = P0_SMALL - 0.3 * g1 / np.sqrt(g1_norm**2 + 1e-2)
    assert_iterates_close("(G + eps I)^(-1/2) step 1 closed form", 1, in_root[1], first_in_root)
    gap = np.max(np.abs(library[-1] - in_root[-1]))
    assert gap == pytest.approx(0.023, rel=0.03), (
        f"adagrad_full vs (G + eps I)^(-1/2) after {STEPS} steps: gap {gap:.3e}"
    )


NOTE_TESTS = {
    "momentum": test_momentum_ema_equals_heavy_ball_at_rescaled_lr_but_not_torch_dampening,
    "classical_momentum": test_classical_momentum_differs_from_seed_only_when_lr_changes,
    "nag": test_nag_iterate_is_the_lookahead_point_of_seed_004_nesterov,
    "rmsprop": test_rmsprop_eps_outside_root_recovers_seed_004_with_eps_zero,
    "adagrad": test_adagrad_eps_outside_root_differs_from_seed_004_formula,
    "adadelta": test_adadelta_lr_scales_only_the_step,
    "adam": test_adam_eps_after_root_versus_seed_forms,
    "adamw": test_adamw_decay_is_multiplied_by_lr,
    "adamax": test_adamax_eps_inside_the_max,
    "nadam": test_nadam_momentum_schedule,
    "lars": test_lars_skips_vectors_and_matches_seed_on_matrices,
    "lamb": test_lamb_step_scale_clamp_and_decay_differ_from_seed_003,
    "ftrl": test_ftrl_lr_power_only_enters_sigma,
    "adagrad_full": test_adagrad_full_eps_added_to_root_not_to_matrix,
}


def test_every_formula_note_has_a_backing_test_and_a_registered_name() -> None:
    assert set(FORMULA_NOTES) == set(NOTE_TESTS), (
        f"notes without a test: {sorted(set(FORMULA_NOTES) - set(NOTE_TESTS))}; "
        f"tests without a note: {sorted(set(NOTE_TESTS) - set(FORMULA_NOTES))}"
    )
    param = torch.nn.Parameter(torch.zeros(2, 3, dtype=torch.float64))
    for name in FORMULA_NOTES:
        assert isinstance(_build(name, [param], {}), torch.optim.Optimizer), name
