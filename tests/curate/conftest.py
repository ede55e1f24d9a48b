"""Fixtures of the curation tests (helpers live in curate_helpers.py)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from curate_helpers import PARAMS


@pytest.fixture
def params() -> dict[str, Any]:
    """A fresh copy of the stage params, safe to modify."""
    return json.loads(json.dumps(PARAMS))
