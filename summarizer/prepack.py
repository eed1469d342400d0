"""Linear layers whose weights are laid out once for oneDNN, the CPU's matrix kernels, while the engine generates.

On a CPU, torch's linear hands oneDNN (or MKL) the plain `[out, in]` weight at every call, and the kernel lays it out
for itself each time; a decode step's matrices are a few rows high, so that costs about as much as the product. A
weight reordered once (`torch.ops.mkldnn._reorder_linear_weight`, the layout torch.compile's CPU weight freezing
uses) and run by `torch.ops.mkldnn._linear_pointwise` skips it: on the bench day the embedded SmolLM2-135M decoded
~1.25× faster in bf16 and ~1.8× in fp32 on a 2-core AMD EPYC, the greedy texts unchanged (docs/BENCHMARKS.md).

Only inside `prepacked(model)`: there each eligible `nn.Linear` (plain, on the CPU, bf16 or fp32, no accelerate hook)
runs from its reordered copy; outside, the model is exactly as loaded, so that training, PEFT and saving see plain
layers. The copies are kept between blocks for as long as the weight is unchanged (its storage and version), and
cost the layers' weights once more in memory: a model whose copies would take more than half the free memory runs
as loaded.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import weakref

import torch

log = logging.getLogger(__name__)

# Reordered for this many rows: oneDNN's layout does not depend on it for these kernels, and the outputs are the same
# for any row count (tested); a decode step of a CPU batch has a few to a few dozen rows.
ROWS_HINT = 8
# module -> (the weight's (storage address, version) when it was reordered, the reordered weight)
_PACKED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
# How closely a reordered layer must reproduce the plain one on a probe before it is used: bf16 has matched exactly on
# every shape tried; fp32 sums in another order (differences ~1e-6 of outputs of ~1).
TOLERANCE = {torch.bfloat16: 0.0, torch.float32: 1e-4}


@functools.cache
def supported(dtype) -> bool:
    """Whether this torch and CPU run reordered linear weights of `dtype` (asked once per dtype: `eligible` asks it
    for every layer at every engine call)."""
    if dtype not in TOLERANCE or not torch.backends.mkldnn.is_available():
        return False
    return dtype != torch.bfloat16 or bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())


def eligible(model) -> list[torch.nn.Linear]:
    """The model's linear layers that can run reordered: plain nn.Linear (not a PEFT or quantized subclass), weights
    on the CPU in a supported dtype, no accelerate hook (offloaded layers move their weights in at each call)."""
    return [m for m in model.modules()
            if type(m) is torch.nn.Linear and m.weight.device.type == "cpu" and supported(m.weight.dtype)
            and not hasattr(m, "_hf_hook")]


def _key(layer: torch.nn.Linear) -> tuple[int, int]:
    return layer.weight.data_ptr(), layer.weight._version


def _reordered(layer: torch.nn.Linear):
    """The layer's reordered weight, made once per weight version; None when it does not reproduce the layer (also
    kept, so that the probe runs once)."""
    held = _PACKED.get(layer)
    if held is not None and held[0] == _key(layer):
        return held[1]
    with torch.inference_mode():
        weight = layer.weight.detach()
        packed = torch.ops.mkldnn._reorder_linear_weight(weight, ROWS_HINT)
        probe = torch.randn(2, weight.shape[1], generator=torch.Generator().manual_seed(0)).to(weight.dtype)
        plain = torch.nn.functional.linear(probe, weight, layer.bias)
        fast = torch.ops.mkldnn._linear_pointwise(probe, packed, layer.bias, "none", [], "")
        error = (fast.float() - plain.float()).abs().max().item() / max(plain.float().abs().max().item(), 1e-6)
    if error > TOLERANCE[weight.dtype]:
        log.info("A %s linear layer runs as loaded: its reordered weight differed by %.2g on a probe.", weight.dtype,
                 error)
        packed = None
    _PACKED[layer] = (_key(layer), packed)
    return packed


def _free_bytes() -> int:
    import psutil

    return psutil.virtual_memory().available


@contextlib.contextmanager
def prepacked(model, enabled: bool = True):
    """Within the block, the model's eligible linear layers run from weights reordered once (see the module); yields
    how many do. Re-entrant: an inner block leaves the layers to the outer one."""
    layers = eligible(model) if enabled else []
    layers = [m for m in layers if "forward" not in vars(m)]  # an outer block (or anyone else) already set its own
    new = sum(m.weight.numel() * m.weight.element_size() for m in layers if m not in _PACKED)
    if new and new > _free_bytes() // 2:
        log.info("Linear weights run as loaded: reordering them would take %.1f GB, more than half the free memory.",
                 new / 1e9)
        layers = []
    swapped = []
    try:
        for layer in layers:
            packed = _reordered(layer)
            if packed is None:
                continue
            bias = layer.bias
            layer.forward = (lambda x, packed=packed, bias=bias:
                             torch.ops.mkldnn._linear_pointwise(x, packed, bias, "none", [], ""))
            swapped.append(layer)
        yield len(swapped)
    finally:
        for layer in swapped:
            del layer.forward
