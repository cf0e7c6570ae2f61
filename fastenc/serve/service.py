"""What the routes share: the settings, the loaded engine, the input encoder, the scheduler, the metrics, and the
path of one request through them (admission, tokenization off the event loop, the queue, the disconnect watch)."""
import asyncio
import os
import time
from dataclasses import dataclass

from ..tasks.batching import default_batch_tokens, truncation_length
from ..tasks.pooling_config import model_pooling_config
from .errors import ServeError, validation
from .metrics import Metrics
from .scheduler import Scheduler, Work
from .tokenization import InputEncoder

SERVE_CPU_BATCH_TOKENS = 2_048  # real tokens per batch on the CPU (see Service.__init__)


@dataclass
class ServeConfig:
    model: str
    host: str = "127.0.0.1"
    port: int = 8080
    device: str | None = None
    dtype: str | None = None
    max_batch_tokens: int | None = None  # real tokens per batch (packed); None: 16,384 on a GPU, 2,048 on the CPU
    max_batch_requests: int | None = None  # inputs per batch; None: the token budget alone decides
    max_concurrent_requests: int = 512  # inputs in flight before 429
    max_client_batch_size: int = 32  # inputs per request before 422
    max_input_length: int | None = None  # tokens per input; None: the model's maximum
    auto_truncate: bool = False  # truncate over-long inputs when a request does not say
    payload_limit: int = 2_000_000  # bytes per request body before 413
    pooling: str | None = None  # None: the checkpoint's sentence-transformers files, else CLS
    api_key: str | None = None
    tokenization_workers: int | None = None  # None: one per CPU core

    def check(self) -> None:
        for name in ("port", "max_concurrent_requests", "max_client_batch_size", "payload_limit"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < (0 if name == "port" else 1):
                raise ValueError(f"--{name.replace('_', '-')} must be a positive integer, got {value!r}")
        for name in ("max_batch_tokens", "max_batch_requests", "max_input_length", "tokenization_workers"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
                raise ValueError(f"--{name.replace('_', '-')} must be a positive integer, got {value!r}")
        if self.pooling not in (None, "cls", "mean", "max"):
            raise ValueError(f"--pooling must be cls, mean or max, got {self.pooling!r}")
        if self.api_key is not None and not self.api_key:
            raise ValueError("--api-key must not be empty")


class ClientGone(Exception):
    """The client closed the connection before its answer was ready."""


class Service:
    def __init__(self, engine, config: ServeConfig):
        config.check()
        self.engine, self.config = engine, config
        longest = truncation_length(engine)
        if config.max_input_length is not None and config.max_input_length > longest:
            raise ValueError(f"--max-input-length {config.max_input_length} is more than this model takes ({longest})")
        self.max_input_length = config.max_input_length or longest
        st = model_pooling_config(engine)
        self.pooling = config.pooling or st.pooling
        self.metrics = Metrics()
        self.encoder = InputEncoder(engine, self.max_input_length, config.auto_truncate,
                                    config.tokenization_workers or os.cpu_count() or 1, st.prompts)
        # TEI's 16,384 on a GPU; on the CPU 2,048, smaller than the engine's batch-job budget (4,096): a server's
        # batches also set its latency, and with 64 clients of 32 texts 2,048 served 1.7x the texts/s of 16,384
        # (benchmarks/results/serve-cpu-2026-12-01-budgets.txt).
        self.max_batch_tokens = config.max_batch_tokens or (
            SERVE_CPU_BATCH_TOKENS if engine.device.type == "cpu" else default_batch_tokens(engine.device))
        self.scheduler = Scheduler(engine, self.max_batch_tokens, config.max_batch_requests, self.metrics)
        self.in_flight = 0  # inputs admitted and not yet answered (only the event loop touches it)
        model = engine.model
        self.can = {
            "tokenizer": engine.tokenizer is not None,
            "mlm": model.mlm is not None and engine.tokenizer is not None,
            "classifier": model.classifier is not None,
            "reranker": model.classifier is not None and engine.config.num_labels == 1,
            "token_classifier": model.token_classifier is not None and engine.tokenizer is not None,
        }

    @property
    def model_id(self) -> str:
        return self.config.model

    def routes(self) -> list:
        need = {"/embed": None, "/embed_all": None, "/v1/embeddings": None, "/embed_sparse": "mlm",
                "/fill_mask": "mlm", "/predict": "classifier", "/rerank": "reranker", "/tag": "token_classifier",
                "/tokenize": "tokenizer", "/decode": "tokenizer"}
        return [route for route, what in need.items() if what is None or self.can[what]]

    def require(self, what: str, route: str, hint: str) -> None:
        if not self.can[what]:
            raise ServeError("backend", f"{route} cannot be served by this model ({self.engine.config.model_type}, "
                                        f"task {self.engine.config.task!r}): {hint}")

    def admit(self, route: str, count: int, field: str = "inputs") -> None:
        """Refuse an empty request (400), one over --max-client-batch-size (422), or one that would take more than
        --max-concurrent-requests inputs in flight (429, at once); else take `count` permits."""
        if count == 0:
            raise ServeError("empty", f"{field} is empty: send at least one input")
        if count > self.config.max_client_batch_size:
            raise validation(f"{field} has {count} inputs, more than --max-client-batch-size "
                             f"{self.config.max_client_batch_size}: split the batch")
        if self.in_flight + count > self.config.max_concurrent_requests:
            raise ServeError("overloaded", f"model is overloaded: {self.in_flight} inputs in flight, the limit is "
                                           f"--max-concurrent-requests {self.config.max_concurrent_requests}")
        self.in_flight += count

    async def infer(self, request, count: int, encode, finish, check=None) -> tuple:
        """(result, timings) for one request of `count` admitted inputs: `encode()` runs on a tokenizer thread
        (with `check(encoded)` after it), then the request waits for its batch while watching for a disconnect."""
        start = time.perf_counter()
        loop = asyncio.get_running_loop()
        try:
            def encode_and_check():
                encoded = encode()
                if check is not None:
                    check(encoded)
                return encoded

            encoded = await loop.run_in_executor(self.encoder.pool, encode_and_check)
            for length in encoded.lengths.tolist():
                self.metrics.input_length.observe(length)
            work = Work(encoded, finish)
            future = asyncio.wrap_future(self.scheduler.submit(work))
            result = await _until_done_or_gone(request, future, work)
        finally:
            self.in_flight -= count
        timings = {"tokenization": encoded.seconds, "queue": work.started - work.enqueued,
                   "inference": work.finished - work.started, "total": time.perf_counter() - start,
                   "tokens": encoded.num_tokens, "characters": encoded.characters}
        self.metrics.tokenization.observe(timings["tokenization"])
        self.metrics.queue.observe(timings["queue"])
        self.metrics.inference.observe(timings["inference"])
        return result, encoded, timings

    def close(self) -> None:
        self.scheduler.stop()
        self.encoder.close()


async def _until_done_or_gone(request, future, work):
    gone = asyncio.ensure_future(_disconnected(request))
    try:
        done, _ = await asyncio.wait({future, gone}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        gone.cancel()
    if future in done:
        return future.result()
    work.cancelled = True  # dropped if its batch has not started; a running batch finishes and its answer is lost
    future.cancel()
    raise ClientGone()


async def _disconnected(request) -> None:
    while True:
        message = await request.receive()
        if message["type"] == "http.disconnect":
            return


def timing_headers(timings: dict, device) -> dict:
    """TEI's timing headers, in milliseconds (the token and character counts as counts)."""
    ms = {k: max(0, int(round(v * 1000))) for k, v in timings.items() if k not in ("tokens", "characters")}
    return {
        "x-compute-type": f"fastenc-{device.type}",
        "x-compute-time": str(ms["tokenization"] + ms["queue"] + ms["inference"]),
        "x-compute-tokens": str(timings["tokens"]),
        "x-compute-characters": str(timings["characters"]),
        "x-total-time": str(ms["total"]),
        "x-tokenization-time": str(ms["tokenization"]),
        "x-queue-time": str(ms["queue"]),
        "x-inference-time": str(ms["inference"]),
    }
