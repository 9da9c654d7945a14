"""Model tests run offline: a hub id never reaches the network (a test that needs the hub fakes it)."""

from __future__ import annotations

import os

import pytest


@pytest.fixture(scope="module", autouse=True)
def offline():
    before = os.environ.get("HF_HUB_OFFLINE")
    os.environ["HF_HUB_OFFLINE"] = "1"
    yield
    if before is None:
        os.environ.pop("HF_HUB_OFFLINE", None)
    else:
        os.environ["HF_HUB_OFFLINE"] = before
