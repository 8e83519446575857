"""The optimizer registry: look up entries by name or alias, register your own, build optimizers.

The table of entries lives in :mod:`optiscope.optimizers.table` (re-exported here); this module
adds what needs both the table and :class:`~optiscope.optimizers.spec.OptimizerSpec`: building
an optimizer from a spec, and a spec for an ad hoc factory.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import torch
from pytorch_optimizer.base.exception import NegativeLRError, NegativeStepError

from optiscope.errors import HyperparameterError
from optiscope.optimizers.spec import OptimizerSpec, parse_spec
from optiscope.optimizers.table import get_entry, list_entries, register, register_ad_hoc

__all__ = ["build_optimizer", "get_entry", "list_entries", "register", "spec_from_factory"]


def spec_from_factory(factory: Callable[..., torch.optim.Optimizer], **hparams: Any) -> OptimizerSpec:
    """Register ``factory`` ad hoc (under a name derived from its module and qualified name)
    and return a validated spec for it with ``hparams``.

    The derived name is ``user.<module>.<qualname>`` in lower case with characters other than
    letters, digits, ``_`` and ``.`` replaced by ``_``; a second, different factory with the
    same derived name gets ``_2``, ``_3``, ... appended.
    """
    return parse_spec(OptimizerSpec(register_ad_hoc(factory), hparams))


def build_optimizer(
    spec: OptimizerSpec | str, params: Iterable[torch.Tensor] | Iterable[dict[str, Any]]
) -> torch.optim.Optimizer:
    """Construct the optimizer ``spec`` names over ``params``.

    Raises:
        UnknownNameError, HyperparameterError, SpecError: as :func:`parse_spec`; a value the
            optimizer's own constructor rejects (e.g. ``betas=(1.5, 0.9)``) is reported as a
            HyperparameterError.
    """
    spec = parse_spec(spec)
    entry = get_entry(spec.name)
    try:
        return entry.factory(params, **spec.hparams)
    except (ValueError, TypeError, NegativeLRError, NegativeStepError) as error:
        message = str(error).strip().splitlines()[0] if str(error).strip() else repr(error)
        raise HyperparameterError(f"{spec.label}: {message}") from error
