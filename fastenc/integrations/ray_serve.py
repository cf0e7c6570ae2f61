"""A Ray Serve deployment of a fastenc engine answering TEI's `POST /embed` (and `POST /predict` for
sequence-classification checkpoints) over HTTP; texts of concurrent requests are batched by `@serve.batch` into one
engine call, so the runner packs them by length.

    from ray import serve
    from fastenc.integrations.ray_serve import app
    serve.run(app("sentence-transformers/all-MiniLM-L6-v2"), route_prefix="/")

JSON shapes follow text-embeddings-inference: /embed takes {"inputs": str | [str], "normalize": true, "truncate":
false} and returns one vector per input; /predict takes {"inputs": str | [str], "raw_scores": false} and returns, per
input, [{"label", "score"}] sorted by score. Client mistakes get 4xx with TEI's {"error", "error_type"} body.
Each input is one item of a `@serve.batch` (max_batch_size texts per engine call); a request's inputs are gathered
back in order.
"""
import asyncio
import json

import torch
from ray import serve
from starlette.requests import Request
from starlette.responses import JSONResponse

from ..tasks.batching import truncation_length
from .ray_data import threads_from_ray

DEFAULT_MAX_BATCH_SIZE = 32  # texts per engine call, as TEI's --max-client-batch-size
DEFAULT_BATCH_WAIT_S = 0.005  # how long a batch waits to fill: a few ms, against the model's tens of ms


class BadRequest(Exception):
    def __init__(self, message: str, status: int = 422, error_type: str = "Validation"):
        super().__init__(message)
        self.status, self.error_type = status, error_type


@serve.deployment(max_ongoing_requests=256, max_queued_requests=1024)
class FastencDeployment:
    """One replica: the engine loaded once; `num_replicas`, `ray_actor_options={"num_gpus": 1}` etc. go through
    `FastencDeployment.options(...)` (see `app`)."""

    def __init__(self, model, pooling=None, max_batch_size=DEFAULT_MAX_BATCH_SIZE,
                 batch_wait_timeout_s=DEFAULT_BATCH_WAIT_S, **load_kwargs):
        import fastenc

        threads_from_ray()
        self.engine = fastenc.load(model, **load_kwargs)
        self.pooling = {"pooling": pooling} if pooling else {}
        self.max_length = truncation_length(self.engine)
        for method in (self.embed_batch, self.classify_batch):
            method.set_max_batch_size(max_batch_size)
            method.set_batch_wait_timeout_s(batch_wait_timeout_s)

    @serve.batch(max_batch_size=DEFAULT_MAX_BATCH_SIZE, batch_wait_timeout_s=DEFAULT_BATCH_WAIT_S)
    async def embed_batch(self, items: list) -> list:
        """[(text, normalize)] -> one vector (list of floats) per item: one engine call for the whole batch."""
        vectors = self.engine.embed([text for text, _ in items], progress=False, **self.pooling)  # (b, H)
        normalized = torch.nn.functional.normalize(vectors, dim=-1)
        return [(normalized[i] if normalize else vectors[i]).tolist() for i, (_, normalize) in enumerate(items)]

    @serve.batch(max_batch_size=DEFAULT_MAX_BATCH_SIZE, batch_wait_timeout_s=DEFAULT_BATCH_WAIT_S)
    async def classify_batch(self, texts: list) -> list:
        """[text] -> the engine's classify record per text."""
        return self.engine.classify(list(texts))

    async def __call__(self, request: Request) -> JSONResponse:
        route = request.url.path.rstrip("/").rsplit("/", 1)[-1]
        try:
            if request.method != "POST" or route not in ("embed", "predict"):
                raise BadRequest(f"no route {request.method} {request.url.path}: this deployment serves POST /embed "
                                 "and POST /predict", 404, "NotFound")
            body = await _json_body(request)
            texts = self._inputs(body)
            if route == "embed":
                normalize = _flag(body, "normalize", True)
                return JSONResponse(await asyncio.gather(*(self.embed_batch((t, normalize)) for t in texts)))
            if getattr(self.engine.model, "classifier", None) is None:
                raise BadRequest(f"model {self.engine.name_or_path!r} has no sequence-classification head "
                                 f"(task {self.engine.config.task!r}): /predict is not served", 424, "Backend")
            if _flag(body, "raw_scores", False):
                raise BadRequest("`raw_scores` is not supported here: the engine returns the pipeline's scores")
            records = await asyncio.gather(*(self.classify_batch(t) for t in texts))
            return JSONResponse([_predictions(r) for r in records])
        except BadRequest as error:
            return JSONResponse({"error": str(error), "error_type": error.error_type}, status_code=error.status)

    def _inputs(self, body: dict) -> list:
        inputs = body.get("inputs")
        texts = [inputs] if isinstance(inputs, str) else inputs
        if not isinstance(texts, list) or not texts or not all(isinstance(t, str) for t in texts):
            raise BadRequest("`inputs` must be a string or a non-empty list of strings")
        if not _flag(body, "truncate", False):
            lengths = _token_counts(self.engine.tokenizer, texts)
            for i, n in enumerate(lengths):
                if n > self.max_length:
                    raise BadRequest(f"inputs[{i}] has {n} tokens but the model takes at most {self.max_length}; "
                                     "shorten it or send \"truncate\": true")
        return texts


async def _json_body(request: Request) -> dict:
    try:
        body = json.loads(await request.body())
    except ValueError as e:
        raise BadRequest(f"the body is not JSON: {e}") from e
    if not isinstance(body, dict):
        raise BadRequest(f"the body must be a JSON object, not {type(body).__name__}")
    return body


def _flag(body: dict, name: str, default: bool) -> bool:
    value = body.get(name, default)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise BadRequest(f"`{name}` must be true or false, got {value!r}")
    return value


def _token_counts(tokenizer, texts: list) -> list:
    cu = tokenizer.encode_packed(texts)["cu_seqlens"]  # (n + 1,) offsets; with special tokens
    return [int(cu[i + 1] - cu[i]) for i in range(len(texts))]


def _predictions(record: dict) -> list:
    """TEI's /predict for one input: every label with its score, best first."""
    return sorted(({"label": k, "score": v} for k, v in record["scores"].items()), key=lambda p: -p["score"])


def app(model, *, pooling=None, max_batch_size=DEFAULT_MAX_BATCH_SIZE, batch_wait_timeout_s=DEFAULT_BATCH_WAIT_S,
        num_replicas=1, num_gpus=0, num_cpus=1, **load_kwargs):
    """The bound application `serve.run` takes: `num_replicas` replicas, each with `num_gpus` GPUs and `num_cpus`
    CPUs (its torch threads)."""
    from .ray_data import model_reference

    options = {"num_cpus": num_cpus, **({"num_gpus": num_gpus} if num_gpus else {})}
    return FastencDeployment.options(num_replicas=num_replicas, ray_actor_options=options).bind(
        model_reference(model), pooling=pooling, max_batch_size=max_batch_size,
        batch_wait_timeout_s=batch_wait_timeout_s, **load_kwargs)
