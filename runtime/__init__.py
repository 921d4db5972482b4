"""The runtime: one decode loop over eager torch, .pte and .onnx backends."""

from edgereason.runtime.backends import Backend, ModelInfo, load, load_eager

__all__ = ["Backend", "ModelInfo", "load", "load_eager"]
