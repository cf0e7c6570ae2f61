"""The one queue in front of the model: whenever the model is free, the requests waiting (first in, first out) up to
--max-batch-tokens real tokens or --max-batch-requests inputs become one packed batch; one worker thread owns the
model, runs the encoder once per batch and hands each request its own slice of the outputs.

No wait timer (TEI's policy): a batch starts as soon as the previous one ends, holding whatever arrived meanwhile.
A request's inputs are one unit: they are never split across batches, and a request larger than the budget runs
alone. A request whose client went away before its batch started is dropped.
"""
import logging
import threading
import time
from collections import deque
from concurrent.futures import Future, InvalidStateError
from dataclasses import dataclass, field
from typing import Callable

import torch

from ..tasks.runner import is_out_of_memory
from .errors import ServeError
from .results import BatchOutputs
from .tokenization import Encoded

log = logging.getLogger(__name__)


@dataclass
class Work:
    encoded: Encoded  # the request's inputs, tokenized
    finish: Callable  # finish(part: results.Part) -> the request's result, run on the model thread
    future: Future = field(default_factory=Future)
    enqueued: float = 0.0  # perf_counter() when queued
    started: float = 0.0  # when its batch began
    finished: float = 0.0  # when its batch's forward pass ended
    cancelled: bool = False  # the client went away: skip it if its batch has not started

    @property
    def num_inputs(self) -> int:
        return len(self.encoded.cu_seqlens) - 1

    @property
    def num_tokens(self) -> int:
        return self.encoded.num_tokens


class Scheduler:
    def __init__(self, engine, max_batch_tokens: int, max_batch_requests: int | None, metrics=None):
        self.engine = engine
        self.max_batch_tokens = max_batch_tokens
        self.max_batch_requests = max_batch_requests
        self.metrics = metrics
        self._queue: deque[Work] = deque()
        self._ready = threading.Condition()
        self._stopping = False
        self._thread = threading.Thread(target=self._loop, name="fastenc-serve-model", daemon=True)
        self.healthy = True

    def start(self) -> "Scheduler":
        self._thread.start()
        return self

    def stop(self, timeout: float = 30.0) -> None:
        """Let the queued work finish, then end the model thread."""
        with self._ready:
            self._stopping = True
            self._ready.notify()
        self._thread.join(timeout)

    def submit(self, work: Work) -> Future:
        work.enqueued = time.perf_counter()
        with self._ready:
            if self._stopping:
                raise ServeError("unhealthy", "the server is shutting down")
            self._queue.append(work)
            self._ready.notify()
        if self.metrics:
            self.metrics.queue_size.set(len(self._queue))
        return work.future

    def is_alive(self) -> bool:
        return self._thread.is_alive()

    def queue_size(self) -> int:
        return len(self._queue)

    def _next_batch(self) -> list | None:
        """Wait for work, then take requests in arrival order while they fit the budget (None: stopped, drained)."""
        with self._ready:
            while not self._queue:
                if self._stopping:
                    return None
                self._ready.wait()
            batch, tokens, inputs = [], 0, 0
            while self._queue:
                work = self._queue[0]
                if work.cancelled:
                    self._queue.popleft()
                    continue
                over_tokens = tokens + work.num_tokens > self.max_batch_tokens
                over_inputs = self.max_batch_requests is not None and inputs + work.num_inputs > self.max_batch_requests
                if batch and (over_tokens or over_inputs):
                    break
                batch.append(self._queue.popleft())
                tokens += work.num_tokens
                inputs += work.num_inputs
        if self.metrics:
            self.metrics.queue_size.set(len(self._queue))
        return batch

    def _loop(self) -> None:
        with torch.inference_mode():
            while (batch := self._next_batch()) is not None:
                if batch:
                    self._run(batch)

    def _run(self, batch: list) -> None:
        started = time.perf_counter()
        for work in batch:
            work.started = started
        if self.metrics:
            self.metrics.batch_size.observe(sum(w.num_inputs for w in batch))
            self.metrics.batch_tokens.observe(sum(w.num_tokens for w in batch))
        try:
            outputs = BatchOutputs.run(self.engine, [w.encoded for w in batch])
        except Exception as error:  # noqa: BLE001 - every request of the batch must hear of it
            if is_out_of_memory(error) and len(batch) > 1:
                log.warning("a batch of %d requests ran out of memory; running them one by one", len(batch))
                for work in batch:
                    self._run([work])
                return
            log.exception("batch of %d requests failed", len(batch))
            reply = ServeError("backend", f"the model failed on this batch: {type(error).__name__}: {error}")
            for work in batch:
                _settle(work.future, error=reply)
            return
        finished = time.perf_counter()
        for i, work in enumerate(batch):
            work.finished = finished
            try:
                result = work.finish(outputs.part(i))
            except ServeError as error:
                _settle(work.future, error=error)
            except Exception as error:  # noqa: BLE001 - one request's failure must not touch the others
                log.exception("a request's results failed")
                _settle(work.future, error=ServeError("backend", f"{type(error).__name__}: {error}"))
            else:
                _settle(work.future, result=result)


def _settle(future: Future, result=None, error=None) -> None:
    try:
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)
    except InvalidStateError:  # cancelled by a client that went away
        pass

