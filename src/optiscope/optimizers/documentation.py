"""Where an optimizer's source library documents it (a link a user can follow from ``show``)."""

from __future__ import annotations

from optiscope.optimizers.entry import OptimizerEntry

__all__ = ["documentation_link"]

_TORCH = "https://pytorch.org/docs/stable/generated/torch.optim.{name}.html"
_PYTORCH_OPTIMIZER = "https://pytorch-optimizers.readthedocs.io/en/latest/optimizer/#pytorch_optimizer.{name}"
_OPTISCOPE = "optiscope's own implementation: module {module} (formula in its notes and docstring)"


def documentation_link(entry: OptimizerEntry) -> str:
    """The documentation page of ``entry``'s class in its source library (torch, pytorch-optimizer),
    or where optiscope's own and a user's optimizers are described."""
    factory = entry.factory
    name = getattr(factory, "__name__", type(factory).__name__)
    module = getattr(factory, "__module__", "") or ""
    if module.startswith("torch.optim"):
        return _TORCH.format(name=name)
    if module.startswith("pytorch_optimizer"):
        return _PYTORCH_OPTIMIZER.format(name=name)
    if entry.source == "user":
        return f"{module}:{name} (the user's own module)"
    return _OPTISCOPE.format(module=module or "optiscope.optimizers")
