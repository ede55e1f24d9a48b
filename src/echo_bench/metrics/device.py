"""Device and batch-size selection for the image metrics (``metrics.device``, ``metrics.batch_size``).

``device``: ``auto`` picks CUDA when torch sees a GPU, else the CPU; ``cuda``
asks for the GPU and fails loudly when there is none (a run that was meant for a
GPU never quietly takes hours on a CPU); ``cpu`` forces the CPU.

``batch_size``: a positive integer is used as given; ``auto`` gives a size that
fits the device (CPU: a few images, to bound memory at 1024x1024; GPU: scaled
by the free memory).
"""

from __future__ import annotations

import torch

DEVICES = ("auto", "cpu", "cuda")


def resolve_device(spec: str | torch.device | None = "auto") -> torch.device:
    """The torch device for ``spec`` (``auto`` | ``cpu`` | ``cuda`` | ``cuda:N``)."""
    if isinstance(spec, torch.device):
        return spec
    spec = (spec or "auto").strip().lower()
    if spec == "auto":
        return torch.device("cuda") if torch.cuda.is_available() else torch.device("cpu")
    if spec == "cpu":
        return torch.device("cpu")
    if spec.startswith("cuda"):
        if not torch.cuda.is_available():
            raise RuntimeError(
                f"metrics.device is {spec!r} but torch sees no CUDA device "
                f"(torch {torch.__version__}); use 'auto' or 'cpu'"
            )
        return torch.device(spec)
    raise ValueError(f"metrics.device must be one of {DEVICES} (or cuda:N), got {spec!r}")


def resolve_batch_size(spec: int | str | None, device: torch.device, *, pixels: int = 1024 * 1024) -> int:
    """A batch size for ``device`` from ``spec`` (a positive int, or ``auto``).

    ``auto`` on the CPU gives 8; on a GPU about one image per 64 MiB of free memory
    for a 1024x1024 image (the histograms' index tensors dominate), between 8 and 256.
    """
    if spec is None or (isinstance(spec, str) and spec.strip().lower() == "auto"):
        if device.type == "cuda":
            free, _total = torch.cuda.mem_get_info(device)
            per_image = 64 * 2**20 * max(pixels / (1024 * 1024), 1e-3)
            return int(max(8, min(256, free // per_image)))
        return 8
    n = int(spec)
    if n < 1:
        raise ValueError(f"metrics.batch_size must be a positive integer or 'auto', got {spec!r}")
    return n


def describe(device: torch.device) -> str:
    """A one-line description of ``device`` for logs and benchmark output."""
    if device.type == "cuda":
        idx = device.index if device.index is not None else torch.cuda.current_device()
        return f"cuda:{idx} ({torch.cuda.get_device_name(idx)}), torch {torch.__version__}"
    return f"cpu ({torch.get_num_threads()} threads), torch {torch.__version__}"
