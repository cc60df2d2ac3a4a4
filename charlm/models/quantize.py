"""int8 dynamic quantization for CPU inference.

Weights of every ``nn.Linear`` (and of ``nn.LSTM`` / ``nn.GRU``; torch has no dynamic int8 ``nn.RNN``) are
stored as int8 with a per-tensor scale; activations are quantized on the fly, per call. Embeddings, LayerNorms
and the GPT's key/value cache stay float. The GPT's output layer shares its matrix with the token embedding; the
quantized copy is used for the output only, the float embedding for the input.

For inference only (no gradients) and CPU only: torch's dynamic int8 kernels (fbgemm / x86 / onednn engines) do
not run on CUDA. Speed and the change in bits per character are measured by ``bench/bench_quantize.py``.

Uses ``torch.ao.quantization.quantize_dynamic``, which torch has deprecated in favour of torchao; its deprecation
warnings are silenced here, and ``quantize_for_cpu`` raises a clear error once torch removes it.
"""

from __future__ import annotations

import copy
import dataclasses
import warnings

import torch
from torch import nn

from charlm.storage.checkpoint import LoadedModel


def _quantize_dynamic():
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from torch.ao.quantization import quantize_dynamic
    except ImportError as exc:  # pragma: no cover - depends on the torch version
        raise RuntimeError(f"this torch ({torch.__version__}) has no dynamic int8 quantization: {exc}") from None
    return quantize_dynamic


def quantizable_types(model: nn.Module) -> set[type]:
    """The module types that will be quantized in ``model``."""
    present = {type(m) for m in model.modules()}
    return {t for t in (nn.Linear, nn.LSTM, nn.GRU) if t in present}


def quantize_for_cpu(loaded: LoadedModel, inplace: bool = False) -> LoadedModel:
    """Return a LoadedModel whose model uses int8 weights (dynamic quantization), in eval mode on the CPU.

    The original is left untouched unless ``inplace``. ``meta["quantized"]`` records what was done.
    """
    if loaded.device.type != "cpu":
        raise ValueError(f"int8 dynamic quantization runs on the CPU only; the model is on {loaded.device}")
    engines = torch.backends.quantized.supported_engines
    if not any(e in engines for e in ("x86", "fbgemm", "onednn", "qnnpack")):
        raise RuntimeError(f"no int8 CPU engine in this torch build (engines: {engines})")
    if torch.backends.quantized.engine == "none":  # pragma: no cover - platform dependent
        torch.backends.quantized.engine = next(e for e in ("x86", "fbgemm", "onednn", "qnnpack") if e in engines)
    model = loaded.model if inplace else copy.deepcopy(loaded.model)
    model.eval()
    types = quantizable_types(model)
    quantize_dynamic = _quantize_dynamic()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        qmodel = quantize_dynamic(model, types, dtype=torch.qint8, inplace=True)
    meta = dict(loaded.meta)
    meta["quantized"] = {"method": "dynamic int8", "modules": sorted(t.__name__ for t in types)}
    return dataclasses.replace(loaded, model=qmodel, meta=meta)


def is_quantized(loaded: LoadedModel) -> bool:
    return "quantized" in loaded.meta


__all__ = ["quantize_for_cpu", "quantizable_types", "is_quantized"]
