"""The suite's own set-up: xdist_group marks reach xdist's scheduler under ``--dist loadgroup``.

Tests that share a browser page or a demo run rely on running in one worker; xdist 3.8 carries the
group in the node id, which pytest 9.2 stopped reading (hence ``pytest<9.2`` in the test extra).
"""

from __future__ import annotations

import pytest


@pytest.mark.xdist_group("grouping_probe")
def test_a_grouped_test_carries_its_group_to_the_scheduler(request: pytest.FixtureRequest) -> None:
    if not getattr(request.config.option, "loadgroup", False):
        pytest.skip("not under pytest-xdist with --dist loadgroup")
    assert request.node.nodeid.endswith("@grouping_probe"), request.node.nodeid
