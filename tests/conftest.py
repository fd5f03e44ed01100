"""Shared test settings: offline hub, one torch thread per test process, repo paths.

The shared helpers (tiny caches and configs, running Snakemake) are plain functions in
``tests/helpers.py``; this file holds only settings and fixtures.
"""

import os
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TORCH_HOME", str(Path(__file__).parent / ".torch-home-unused"))

import pytest

REPO = Path(__file__).resolve().parents[1]


def pytest_configure(config):
    try:
        import torch

        torch.set_num_threads(int(os.environ.get("SELCN_TEST_THREADS", "1")))
    except ImportError:  # pragma: no cover
        pass


@pytest.fixture(scope="session")
def repo() -> Path:
    return REPO
