"""Models spread over several devices, or partly offloaded to the CPU or disk (accelerate's device maps).

A device map is "auto" (balanced over the GPUs, then the CPU, then disk), "balanced",
"sequential", or an explicit {module name: device} dict whose devices may include "cpu" and
"disk" (weights read from ``offload_folder`` when their module runs). Models loaded from a
checkpoint get the map from ``from_pretrained``; a random-init model is built on the CPU and then
dispatched (``dispatch``). The probe's hooks reduce on each module's device and gather the small
results on one device; the weight metrics read an offloaded block's weights while it is onloaded.
"""

from __future__ import annotations

from contextlib import ExitStack, contextmanager
from pathlib import Path

from torch import nn

from contract.errors import ModelLoadError

DEVICE_MAP_NAMES = ("auto", "balanced", "sequential")


def _accelerate():
    try:
        import accelerate
    except ImportError:
        raise ModelLoadError("A device map needs the accelerate package: pip install 'accelerate>=1.1'") from None
    return accelerate


def check_device_map(device_map: str | dict, offload_folder: str | Path | None) -> None:
    """A device map is a known name or a dict; "disk" in it needs an offload folder."""
    _accelerate()
    if isinstance(device_map, str) and device_map not in DEVICE_MAP_NAMES:
        raise ModelLoadError(
            f"Unknown device map '{device_map}'; use one of {', '.join(DEVICE_MAP_NAMES)} "
            "or a {module name: device} mapping."
        )
    if isinstance(device_map, dict) and "disk" in device_map.values() and offload_folder is None:
        raise ModelLoadError("The device map offloads modules to disk: give an offload folder.")


def dispatch(model: nn.Module, device_map: str | dict, offload_folder: str | Path | None) -> nn.Module:
    """Spread an in-memory model over devices as ``device_map`` says (accelerate's dispatch_model)."""
    accelerate = _accelerate()
    from accelerate.utils import get_balanced_memory

    if isinstance(device_map, str):
        no_split = getattr(model, "_no_split_modules", None) or []
        max_memory = (
            None if device_map == "sequential" else get_balanced_memory(model, no_split_module_classes=no_split)
        )
        device_map = accelerate.infer_auto_device_map(model, max_memory=max_memory, no_split_module_classes=no_split)
    return accelerate.dispatch_model(model, device_map=device_map, offload_dir=offload_folder)


@contextmanager
def onloaded(model: nn.Module, module: nn.Module):
    """Within this block, the weights of ``module`` are real tensors even where the device map
    offloaded them (to the CPU or disk): every offloading hook on the module, inside it or above it
    loads its weights for the duration."""
    try:
        from accelerate.utils import align_module_device, has_offloaded_params
    except ImportError:  # without accelerate nothing can be offloaded
        yield
        return
    inside = {id(m) for m in module.modules()}
    with ExitStack() as stack:
        for candidate in model.modules():
            holds = id(candidate) in inside or any(m is module for m in candidate.modules())
            if holds and has_offloaded_params(candidate):
                stack.enter_context(align_module_device(candidate))
        yield
