"""Spec parsing and the registry's public API: round trips, errors, user optimizers."""

from __future__ import annotations

import json
import math
import sys
import textwrap

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from optiscope.errors import HyperparameterError, SpecError, UnknownNameError
from optiscope.optimizers import (
    OptimizerSpec,
    TeachingOptimizer,
    build_optimizer,
    get_entry,
    parse_spec,
    register,
    spec_from_factory,
)

finite = st.floats(min_value=1e-6, max_value=10.0, allow_nan=False, allow_infinity=False)
fraction = st.floats(min_value=0.0, max_value=0.999, allow_nan=False)


@st.composite
def sgd_or_adam_specs(draw: st.DrawFn) -> OptimizerSpec:
    if draw(st.booleans()):
        keys = {
            "lr": finite,
            "momentum": fraction,
            "weight_decay": fraction,
            "nesterov": st.booleans(),
            "maximize": st.booleans(),
        }
        name = "sgd"
    else:
        keys = {
            "lr": finite,
            "betas": st.tuples(fraction, fraction),
            "eps": finite,
            "weight_decay": fraction,
            "amsgrad": st.booleans(),
        }
        name = "adam"
    chosen = draw(st.lists(st.sampled_from(sorted(keys)), unique=True))
    return OptimizerSpec(name, {key: draw(keys[key]) for key in chosen})


@settings(max_examples=60, deadline=None)
@given(sgd_or_adam_specs())
def test_to_string_round_trips_through_parse_spec(spec: OptimizerSpec) -> None:
    parsed = parse_spec(spec.to_string())
    assert parsed == spec
    assert hash(parsed) == hash(spec)
    assert OptimizerSpec.from_dict(json.loads(json.dumps(spec.to_dict()))) == spec


def test_names_are_case_insensitive_and_aliases_resolve() -> None:
    assert parse_spec("ADAM:lr=0.1") == OptimizerSpec("adam", {"lr": 0.1})
    assert parse_spec("gd").name == "sgd"
    assert parse_spec("Nesterov").name == "nag"
    assert parse_spec("full_matrix_adagrad").name == "adagrad_full"
    assert parse_spec("full_adagrad").name == "adagrad_full"


def test_label_and_json_forms() -> None:
    spec = parse_spec("adam:lr=0.1,betas=[0.9,0.99]")
    assert spec.label == "adam(lr=0.1,betas=(0.9,0.99))"
    assert spec.hparams["betas"] == (0.9, 0.99)
    assert spec.to_dict() == {"name": "adam", "hparams": {"lr": 0.1, "betas": [0.9, 0.99]}}
    assert parse_spec("adam").label == "adam"
    assert {spec: 1}[parse_spec(spec.to_string())] == 1


@pytest.mark.parametrize(
    ("text", "error", "message"),
    [
        ("adma", UnknownNameError, "did you mean 'adam'"),
        ("adam:lrr=0.1", HyperparameterError, "did you mean 'lr'"),
        ("adam:lr=abc", HyperparameterError, "lr must be a number"),
        ("adam:lr=nan", HyperparameterError, "not a finite number"),
        ("adam:lr=inf", HyperparameterError, "not a finite number"),
        ("adam:betas=(0.9,)", HyperparameterError, "betas must be a tuple of 2 numbers"),
        ("adam:betas=(0.9,0.99,0.999)", HyperparameterError, "tuple of 2 numbers"),
        ("adam:lr=-0.1", HyperparameterError, "lr must be >= 0"),
        ("sgd:lr=true", HyperparameterError, "lr must be a number"),
        ("sgd:nesterov=1", HyperparameterError, "nesterov must be true or false"),
        ("adam:lr=", SpecError, "empty value"),
        ("adam:lr0.1", SpecError, "must be key=value"),
        ("adam:lr=0.1,lr=0.2", SpecError, "given twice"),
        (":lr=0.1", SpecError, "no name"),
    ],
)
def test_errors_name_the_problem(text: str, error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_spec(text)


def test_unknown_key_lists_valid_keys() -> None:
    with pytest.raises(HyperparameterError, match=r"valid: lr, momentum"):
        parse_spec("sgd:learning_rate=0.1")


def test_three_betas_allowed_where_the_signature_allows_them() -> None:
    assert parse_spec("bsam:betas=(0.9,0.99,0.999)").hparams["betas"] == (0.9, 0.99, 0.999)


def test_constructor_rejections_become_hyperparameter_errors() -> None:
    point = torch.zeros(2, requires_grad=True)
    with pytest.raises(HyperparameterError, match="beta"):
        build_optimizer("adam:betas=(1.5,0.9)", [point])


def test_presets_are_effective_defaults_and_can_be_overridden() -> None:
    entry = get_entry("classical_momentum")
    assert entry.defaults["momentum"] == 0.9 and entry.defaults["dampening"] == 0
    assert get_entry("nag").defaults["nesterov"] is True
    point = torch.zeros(2, requires_grad=True)
    optimizer = build_optimizer("classical_momentum:momentum=0.5", [point])
    assert optimizer.param_groups[0]["momentum"] == 0.5
    assert build_optimizer("nesterov", [point]).param_groups[0]["nesterov"] is True


def test_seed_names_are_registered_with_the_expected_sources() -> None:
    sources = {
        "sgd": "torch",
        "gd": "torch",
        "momentum": "optiscope",
        "classical_momentum": "torch",
        "nag": "torch",
        "nesterov": "torch",
        "rmsprop": "torch",
        "adagrad": "torch",
        "adadelta": "torch",
        "adam": "torch",
        "adamw": "torch",
        "adamax": "torch",
        "nadam": "torch",
        "lion": "pytorch_optimizer",
        "lars": "pytorch_optimizer",
        "lamb": "pytorch_optimizer",
        "ftrl": "pytorch_optimizer",
        "adahessian": "pytorch_optimizer",
        "adagrad_full": "optiscope",
    }
    for name, source in sources.items():
        assert get_entry(name).source == source, name


def test_collisions_get_the_po_prefix() -> None:
    import pytorch_optimizer

    entry = get_entry("po_adamax")
    assert getattr(entry.factory, "func", entry.factory) is pytorch_optimizer.load_optimizer("adamax")
    assert get_entry("adamax").factory is torch.optim.Adamax
    assert "po_adamax" in entry.notes


class HandWrittenSGD(TeachingOptimizer):
    def __init__(self, params, lr=0.1):  # type: ignore[no-untyped-def]
        super().__init__(params, lr=lr)

    def update_param(self, p: torch.Tensor) -> None:
        p.add_(p.grad, alpha=-self.lr)


def test_register_and_spec_from_factory() -> None:
    entry = register("hand_sgd_test", HandWrittenSGD, elementwise=True, tags=("teaching",))
    assert register("hand_sgd_test", HandWrittenSGD) is entry
    assert entry.source == "user" and entry.defaults == {"lr": 0.1}
    assert parse_spec("Hand_SGD_Test:lr=0.5") == OptimizerSpec("hand_sgd_test", {"lr": 0.5})
    with pytest.raises(SpecError, match="already registered"):
        register("hand_sgd_test", torch.optim.SGD)
    with pytest.raises(HyperparameterError, match="momentum"):
        parse_spec("hand_sgd_test:momentum=0.9")
    spec = spec_from_factory(HandWrittenSGD, lr=0.3)
    assert spec.hparams == {"lr": 0.3}
    assert spec_from_factory(HandWrittenSGD, lr=0.3) == spec
    point = torch.zeros(2, requires_grad=True)
    assert isinstance(build_optimizer(spec, [point]), HandWrittenSGD)


def test_user_import_path_loads_the_users_class(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    module = tmp_path / "my_optimizers_for_test.py"
    module.write_text(
        textwrap.dedent(
            """
            import torch
            from optiscope.optimizers import TeachingOptimizer

            class HalfStep(TeachingOptimizer):
                def __init__(self, params, lr=1.0):
                    super().__init__(params, lr=lr)

                def update_param(self, p):
                    p.add_(p.grad, alpha=-0.5 * self.lr)

            NOT_AN_OPTIMIZER = 3
            """
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    spec = parse_spec("my_optimizers_for_test:HalfStep:lr=0.2")
    assert spec.name == "my_optimizers_for_test:HalfStep"
    assert spec.hparams == {"lr": 0.2}
    assert get_entry(spec.name).source == "user"
    assert parse_spec(spec.to_string()) == spec
    point = torch.tensor([1.0, 2.0], requires_grad=True)
    optimizer = build_optimizer(spec, [point])
    (point**2).sum().backward()
    optimizer.step()
    assert torch.allclose(point.detach(), torch.tensor([0.8, 1.6]))
    with pytest.raises(SpecError, match="neither"):
        parse_spec("my_optimizers_for_test:NOT_AN_OPTIMIZER")
    with pytest.raises(UnknownNameError, match="no attribute"):
        parse_spec("my_optimizers_for_test:Missing")
    with pytest.raises(UnknownNameError, match="cannot import"):
        parse_spec("no_such_module_xyz:Opt")
    sys.modules.pop("my_optimizers_for_test", None)


def test_only_explicit_import_paths_are_imported() -> None:
    with pytest.raises(SpecError):
        parse_spec("os:system('true')")
    with pytest.raises(UnknownNameError):
        parse_spec("os.path")


def test_spec_values_are_never_evaluated() -> None:
    with pytest.raises(SpecError):
        parse_spec("adam:lr=__import__('os')")
    assert math.isclose(parse_spec("adam:lr=1e-2").hparams["lr"], 0.01)
