"""The browser playground (``optiscope serve``): a local web app over the library.

Needs the ``serve`` extra (``pip install 'optiscope[serve]'``: FastAPI and uvicorn).
:func:`create_app` builds the app; the API is documented in the README.
"""

from __future__ import annotations

from optiscope.serve.app import create_app, plotly_script_name
from optiscope.serve.limits import LimitExceeded, ServeLimits, ServerBusy, TimeLimitExceeded

__all__ = [
    "LimitExceeded",
    "ServeLimits",
    "ServerBusy",
    "TimeLimitExceeded",
    "create_app",
    "plotly_script_name",
]
