"""Device and batch size selection."""

from __future__ import annotations

import pytest
import torch

from echo_bench.metrics.device import describe, resolve_batch_size, resolve_device


def test_resolve_device() -> None:
    assert resolve_device("cpu") == torch.device("cpu")
    want = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device("auto").type == want
    assert resolve_device(None).type == want
    with pytest.raises(ValueError, match="metrics.device"):
        resolve_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="no CUDA"):
            resolve_device("cuda")
    assert describe(torch.device("cpu")).startswith("cpu")


def test_resolve_batch_size() -> None:
    cpu = torch.device("cpu")
    assert resolve_batch_size(4, cpu) == 4
    assert resolve_batch_size("auto", cpu) == 8
    with pytest.raises(ValueError, match="batch_size"):
        resolve_batch_size(0, cpu)
