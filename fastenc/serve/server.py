"""`fastenc serve MODEL`: load the model, warm it up, then serve the app with uvicorn until SIGTERM or Ctrl-C,
which stop new connections, let the requests in flight finish, and then stop the model thread."""
import logging
import signal

from .service import ServeConfig, Service

log = logging.getLogger("fastenc.serve")


def build(config: ServeConfig):
    """(the ASGI app, its Service) for `config`, with the model loaded and warmed up."""
    import fastenc

    from .app import create_app

    config.check()
    engine = fastenc.load(config.model, device=config.device, dtype=config.dtype)
    service = Service(engine, config)
    _warm_up(service)
    return create_app(service), service


def _warm_up(service: Service) -> None:
    """One tiny batch through the model, so the first client does not pay for lazy initialisation."""
    from .results import BatchOutputs
    from .tokenization import Encoded
    import numpy as np
    import torch

    ids = np.asarray([0, 0], dtype=np.int64)
    with torch.inference_mode():
        BatchOutputs.run(service.engine, [Encoded({"input_ids": ids, "token_type_ids": np.zeros_like(ids)},
                                                  np.asarray([0, 2], dtype=np.int64), [], 0)])


def serve(config: ServeConfig) -> int:
    import uvicorn

    app, service = build(config)
    log.info("serving %s on http://%s:%d (routes: %s)", config.model, config.host, config.port,
             ", ".join(service.routes()))
    server = uvicorn.Server(uvicorn.Config(app, host=config.host, port=config.port, log_level="info",
                                           access_log=False, lifespan="on", timeout_graceful_shutdown=None))
    # uvicorn catches SIGTERM, drains, then re-raises it to the handler it found: a no-op one here, so a drained
    # shutdown exits 0 instead of dying by the signal.
    signal.signal(signal.SIGTERM, lambda signum, frame: None)
    server.run()  # graceful shutdown on SIGTERM / SIGINT, then the app's lifespan closes the service
    return 0
