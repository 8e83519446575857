"""Declared facts about the built-in optimizers: aliases, presets, defaults we choose, flags.

Everything here is data written by hand (the element-wise set was first measured by running
every entry batched vs separately, then written down); the conformance tests re-check it.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any

import torch
from pytorch_optimizer import load_optimizer

from optiscope.errors import IncompatibleOptimizerError
from optiscope.optimizers.eigenspace import EigenspaceSGD
from optiscope.optimizers.full_adagrad import FullMatrixAdaGrad
from optiscope.optimizers.keras_entries import KERAS_VARIANTS
from optiscope.optimizers.momentum import EMAMomentum

__all__ = [
    "ALIASES",
    "CONFORMANCE_EXCEPTIONS",
    "DEFAULT_OVERRIDES",
    "ELEMENTWISE",
    "NEEDS_CLOSURE",
    "NEEDS_CREATE_GRAPH",
    "NEEDS_MATRIX",
    "PRESETS",
    "RESUME_EXCEPTIONS",
    "TAGS",
    "WRAPPERS",
    "conformance_exception",
    "own_optimizers",
    "tags_of",
]

ALIASES: dict[str, tuple[str, ...]] = {
    "sgd": ("gd",),
    "nag": ("nesterov",),
    "adagrad_full": ("full_adagrad", "full_matrix_adagrad"),
}

# name -> (base entry, preset hyperparameters, note)
PRESETS: dict[str, tuple[str, dict[str, Any], str]] = {
    "classical_momentum": (
        "sgd",
        {"momentum": 0.9},
        "torch SGD with momentum=0.9 preset (dampening 0): the classical heavy-ball form "
        "b_t = m b_{t-1} + g_t, p -= lr b_t. For the seeds' EMA form use 'momentum'.",
    ),
    "nag": (
        "sgd",
        {"momentum": 0.9, "nesterov": True},
        "torch SGD with momentum=0.9 and nesterov=True preset (Sutskever et al. 2013 form).",
    ),
}


def own_optimizers() -> dict[str, tuple[Callable[..., torch.optim.Optimizer], str]]:
    """optiscope's own optimizers: name -> (class, note)."""
    return {
        "momentum": (
            EMAMomentum,
            "The seeds' EMA momentum: v_t = b v_{t-1} + (1-b) g_t from v_0 = 0, p -= lr v_t "
            "(default lr 0.1 chosen by optiscope).",
        ),
        "adagrad_full": (
            FullMatrixAdaGrad,
            "Full-matrix AdaGrad per seed 004: G += g g^T over the flattened parameter, "
            "v = (G^{1/2} + eps I)^{-1} g by eigh (eps added to the square root, as the seed "
            "does), p -= lr v. Default lr 1.0 chosen by optiscope.",
        ),
        "eigenspace_sgd": (
            EigenspaceSGD,
            "Seed 001 eq. (1): v~ = lam V g + (1-lam)(I-V) g, V the projector on the top-k "
            "(|eigenvalue|) Hessian eigenspace of the batch, refreshed every refresh_every steps by "
            "power_iters block power iterations warm-started from the last basis. Cost: a "
            "create_graph backward every step plus k*(power_iters+1) Hessian-vector products per "
            "refresh (state 'hvps' counts them). Defaults chosen by optiscope.",
        ),
        **KERAS_VARIANTS,
    }


def _params_signature(cls: type, first: str) -> inspect.Signature:
    """``cls``'s signature with its first parameter (``model``/``optimizer``) renamed
    ``params``, so hyperparameter validation sees the real keys."""
    parameters = list(inspect.signature(cls).parameters.values())
    head = parameters[0].replace(name="params", annotation=inspect.Parameter.empty)
    assert parameters[0].name == first, (cls, parameters[0].name)
    return inspect.Signature([head, *parameters[1:]])


def _model_holder(params: Any) -> torch.nn.Module:
    holder = torch.nn.Module()
    for index, param in enumerate(params):
        if not isinstance(param, torch.nn.Parameter):
            raise IncompatibleOptimizerError(
                "this optimizer takes a model; optiscope wraps the parameters in one, which "
                "needs torch.nn.Parameter objects"
            )
        holder.register_parameter(f"param_{index}", param)
    return holder


def _takes_model(name: str) -> Callable[..., torch.optim.Optimizer]:
    cls = load_optimizer(name)

    @functools.wraps(cls, updated=())
    def factory(params: Any, **hparams: Any) -> torch.optim.Optimizer:
        return cls(_model_holder(params), **hparams)

    factory.__signature__ = _params_signature(cls, "model")  # type: ignore[attr-defined]
    return factory


def _magma_over_adamw(
    params: Any,
    lr: float = 1e-3,
    betas: tuple[float, float] = (0.9, 0.999),
    eps: float = 1e-8,
    weight_decay: float = 1e-2,
    mask_prob: float = 0.5,
    tau: float = 2.0,
    momentum_beta: float = 0.9,
    alignment_ema: float = 0.9,
) -> torch.optim.Optimizer:
    """pytorch-optimizer's Magma wrapping torch AdamW, its own default base."""
    magma = load_optimizer("magma")
    return magma(
        params,
        mask_prob=mask_prob,
        tau=tau,
        momentum_beta=momentum_beta,
        alignment_ema=alignment_ema,
        lr=lr,
        betas=betas,
        eps=eps,
        weight_decay=weight_decay,
    )


def _muon_groups(name: str) -> Callable[..., torch.optim.Optimizer]:
    """pytorch-optimizer's Muon family wants groups flagged ``use_muon``; plain tensors given
    to the registry are all treated as Muon (matrix) parameters."""
    cls = load_optimizer(name)

    @functools.wraps(cls, updated=())
    def factory(params: Any, **hparams: Any) -> torch.optim.Optimizer:
        params = list(params)
        if params and not isinstance(params[0], dict):
            params = [{"params": params, "use_muon": True}]
        return cls(params, **hparams)

    factory.__signature__ = inspect.signature(cls)  # type: ignore[attr-defined]
    return factory


def _closure_with_grad(name: str) -> type[torch.optim.Optimizer]:
    """A subclass whose ``step`` runs the closure with autograd enabled, so the usual torch
    closure (zero_grad, loss, backward) works where the library calls it under no_grad."""
    cls = load_optimizer(name)

    def step(self: torch.optim.Optimizer, closure: Callable[[], Any] | None = None) -> Any:
        return cls.step(self, torch.enable_grad()(closure) if closure is not None else None)

    return type(cls.__name__, (cls,), {"step": step, "__module__": __name__})


# Factories for optimizers whose constructor or step does not fit ``factory(params)`` and the
# usual closure.
WRAPPERS: dict[str, Callable[..., torch.optim.Optimizer]] = {
    "adago": _muon_groups("adago"),
    "adalomo": _takes_model("adalomo"),
    "adammini": _takes_model("adammini"),
    "adamuon": _muon_groups("adamuon"),
    "alig": _closure_with_grad("alig"),
    "distributedmuon": _muon_groups("distributedmuon"),
    "lomo": _takes_model("lomo"),
    "magma": _magma_over_adamw,
    "muonclip": _muon_groups("muonclip"),
    "normuon": _muon_groups("normuon"),
    "po_muon": _muon_groups("muon"),
}

# name -> (defaults optiscope supplies, note saying which and why)
DEFAULT_OVERRIDES: dict[str, tuple[dict[str, Any], str]] = {
    "a2grad": ({}, "lr defaults to None in the library and is unused: A2Grad sets its own step."),
    "alig": ({}, "AliG has no lr: its step is computed from the loss (max_lr caps it)."),
    "sara": ({}, "lr defaults to None in the library, meaning 1e-3 * exp(-350 * threshold)."),
    "ranger21": (
        {"num_iterations": 1000},
        "num_iterations (required by the library) defaults to 1000 in optiscope; it sets the "
        "warm-up/warm-down schedule, so pass the real step count.",
    ),
    "bsam": (
        {"num_data": 1000},
        "num_data (required by the library) defaults to 1000 in optiscope; it scales the "
        "noise of the parameter perturbation.",
    ),
}

# Measured: 4 start points stacked in one (4, 2) float64 tensor vs 4 separate (1, 2) runs on
# three test functions, equal to 1e-12 for 200 steps. Rows are independent; coordinates
# within a row may be coupled (ranger's gradient centralisation, nero's per-row norm), which
# is what the engine's (runs, 2) stacking needs. Not element-wise despite equal first steps
# (they differ only after 10-60 steps): adanorm, adashift, apollodqn, dadaptlion, po_asgd,
# swats. sgdp projects out the radial gradient when the layer-wide cosine is small, which
# couples rows on Rosenbrock's valley (found by the engine's batched-vs-looped test).
ELEMENTWISE: frozenset[str] = frozenset(
    {
        "accsgd",
        "adabelief",
        "adabound",
        "adadelta",
        "adadelta_keras",
        "adagrad",
        "adagrad_keras",
        "adam",
        "adam_keras",
        "adamax",
        "adamax_keras",
        "adamc",
        "adamg",
        "adamod",
        "adamp",
        "adamw",
        "adamw_keras",
        "adamwsn",
        "adan",
        "adapnm",
        "adasmooth",
        "ademamix",
        "adopt",
        "aggmo",
        "ano",
        "apollo",
        "asgd",
        "bcos",
        "classical_momentum",
        "diffgrad",
        "dualadam",
        "emofact",
        "emolynx",
        "emonavi",
        "exadam",
        "fira",
        "focus",
        "ftrl",
        "ftrl_keras",
        "galore",
        "grams",
        "grokfastadamw",
        "kate",
        "laprop",
        "lion",
        "madgrad",
        "momentum",
        "msvag",
        "nadam",
        "nadam_keras",
        "nag",
        "nero",
        "padam",
        "pid",
        "pnm",
        "po_adadelta",
        "po_adamax",
        "po_radam",
        "qhadam",
        "qhm",
        "radam",
        "ranger",
        "rmsprop",
        "rmsprop_keras",
        "rprop",
        "sara",
        "scalableshampoo",
        "schedulefreeadamw",
        "schedulefreeradam",
        "schedulefreesgd",
        "sgd",
        "sgdw",
        "signsgd",
        "simplifiedademamix",
        "spam",
        "srmm",
        "tiger",
        "vsgd",
        "yogi",
    }
)

NEEDS_CREATE_GRAPH: frozenset[str] = frozenset({"adahessian", "sophiah", "eigenspace_sgd"})

NEEDS_CLOSURE: frozenset[str] = frozenset({"alig", "bsam", "lbfgs"})

NEEDS_MATRIX: frozenset[str] = frozenset(
    {
        "adago",
        "adamuon",
        "distributedmuon",
        "lorarite",
        "muon",
        "muonclip",
        "normuon",
        "po_muon",
        "spectralsphere",
    }
)

CONFORMANCE_EXCEPTIONS: dict[str, str] = {
    "adalomo": "updates parameters inside fused_backward(loss, lr) during the backward pass "
    "and does not implement step(), so a step-based loop cannot drive it",
    "bsam": "at its default lr=0.5 the noisy perturbation and weight decay make it climb the "
    "quadratic from the battery's start",
    "demo": "needs the optional einops package (pip install einops) and is meant for "
    "distributed data-parallel training",
    "distributedmuon": "needs an initialised torch.distributed process group",
    "fadam": "fails on float64 parameters (the library mixes a float32 tensor into torch.lerp)",
    "lomo": "updates parameters inside fused_backward(loss, lr) during the backward pass and "
    "does not implement step(), so a step-based loop cannot drive it",
    "lorarite": "expects LoRA factor pairs (lora_a, lora_b) in alternating order and skips an "
    "unpaired parameter, so a lone parameter never moves",
    "ranger": "its gradient centralisation (use_gc=True by default) subtracts the mean over each "
    "row, which mixes x and y of a (1, 2) point and climbs the quadratic; pass use_gc=False",
    "sara": "updates only weights whose initial magnitude is below threshold=1e-3, so a start "
    "point away from the origin never moves",
    "sparseadam": "needs sparse gradients (e.g. torch.nn.Embedding(sparse=True)); dense gradients raise",
}

# Entries that lower the quadratic but do not resume exactly from their state_dict.
RESUME_EXCEPTIONS: dict[str, str] = {
    "kron": "a state_dict round trip breaks it: torch's load_state_dict casts its float32 "
    "preconditioner to the parameter dtype and the next step raises a dtype mismatch",
}


# tag -> members
def _names(text: str) -> frozenset[str]:
    return frozenset(text.split())


TAGS: dict[str, frozenset[str]] = {
    "adaptive": _names(
        "adabelief adabound adadelta adafactor adagrad adagrad_full adahessian adam adamax "
        "adamc adamg adammini adamod adamp adams adamw adamwsn adan adanorm adapnm adashift "
        "adasmooth ademamix adopt aida amos avagrad came dadaptadam exadam fadam laprop "
        "madgrad nadam novograd padam po_adadelta po_adafactor po_adamax po_radam qhadam radam "
        "ranger ranger21 rmsprop sm3 soap sophiah stableadamw swats yogi rmsprop_keras "
        "adagrad_keras adadelta_keras adam_keras adamw_keras adamax_keras nadam_keras lamb_keras"
    ),
    "momentum": _names(
        "accsgd aggmo classical_momentum momentum muon nag pid pnm qhm sgdp sgdw po_muon normuon adamuon"
    ),
    "sign": _names("lion tiger signsgd dadaptlion rprop"),
    "second-order": _names(
        "adahessian sophiah lbfgs apollo apollodqn adagrad_full shampoo scalableshampoo soap kron "
        "eigenspace_sgd"
    ),
    "layerwise": _names("lars lamb lamb_keras novograd fromage nero adammini"),
    "matrix": NEEDS_MATRIX,
    "parameter-free": _names("dadaptadagrad dadaptadam dadaptadan dadaptlion dadaptsgd prodigy alig"),
    "schedule-free": _names("schedulefreeadamw schedulefreeradam schedulefreesgd"),
    "seed": _names(
        "sgd momentum classical_momentum nag rmsprop adagrad adadelta adam adamw adamax nadam "
        "lion lars lamb ftrl adahessian adagrad_full"
    )
    | frozenset(KERAS_VARIANTS),
    "keras": frozenset(KERAS_VARIANTS),
    "seed004": frozenset(KERAS_VARIANTS),
}


def tags_of(name: str) -> tuple[str, ...]:
    """The tags declared for ``name``, sorted."""
    return tuple(sorted(tag for tag, members in TAGS.items() if name in members))


def conformance_exception(name: str) -> str | None:
    """Every declared reason ``name`` does not pass the whole battery, or ``None``."""
    reasons = [table[name] for table in (CONFORMANCE_EXCEPTIONS, RESUME_EXCEPTIONS) if name in table]
    return "; ".join(reasons) or None
