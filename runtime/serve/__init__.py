"""`edgereason serve`: one artifact behind the OpenAI HTTP API that agents already speak.

    server, asgi = build(open_model("artifacts/smollm2-135m-int4-onnx"), max_queue=16)
    uvicorn.run(asgi, host="127.0.0.1", port=8080)

Modules: `protocol` (requests, errors), `engine` (the model thread, the queue, generation), `responses`
(OpenAI bodies), `solving` (solve requests and escalation), `metrics` (Prometheus), `app` (routes).
"""

import time
from typing import Any

from edgereason.runtime import LoadedModel

from .app import Server, create_app
from .engine import Engine
from .metrics import Metrics

__all__ = ["Server", "build"]


def build(model: LoadedModel, *, max_queue: int = 16, api_key: str | None = None, slow: Any = None,
          spec: Any = None):
    """The server state and its ASGI app for an opened artifact (`spec`: the solve spec solve requests follow; None:
    the artifact's own for each request's strategy). The model is warmed up (one forward) so the
    first request's TTFT is not ONNX Runtime's or ExecuTorch's first-run cost."""
    model.backend.prefill_reusing([model.backend.info.bos_id or 0])
    model.backend.reset()
    model_id = model.folder.name
    server = Server(engine=Engine(model, max_queue=max_queue, metrics=Metrics(model_id)), model_id=model_id,
                    api_key=api_key, slow=slow, spec=spec, created=int(time.time()))
    return server, create_app(server)
