"""Exporters: normalized HF checkpoint → .pte (ExecuTorch) and .onnx (ORT GenAI) artifacts."""
