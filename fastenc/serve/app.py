"""The HTTP routes, TEI's and OpenAI's (FastAPI on Starlette; orjson bodies; the OpenAPI schema at /openapi.json)."""
import asyncio
import base64
import contextlib

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.exceptions import HTTPException

from .. import __version__
from ..models.registry import label_names
from . import results
from .errors import ServeError, error_body, validation
from .guard import Guard
from .schemas import (DecodeRequest, EmbedAllRequest, EmbedRequest, EmbedSparseRequest, Entity, ErrorResponse,
                      FillMaskPrediction, FillMaskRequest, Info, OpenAIErrorResponse, OpenAIRequest, OpenAIResponse,
                      Prediction, PredictRequest, Rank, RerankRequest, SimpleToken, SparseValue, TagRequest,
                      TokenizeRequest)
from .service import ClientGone, Service, timing_headers

ERRORS = {code: {"model": ErrorResponse} for code in (400, 413, 422, 424, 429)}
OPENAI_ERRORS = {code: {"model": OpenAIErrorResponse} for code in (400, 413, 422, 424, 429)}


def _json(content, headers=None, status: int = 200) -> Response:
    body = orjson.dumps(content, option=orjson.OPT_SERIALIZE_NUMPY)
    return Response(body, status_code=status, media_type="application/json", headers=headers)


def _error(error: ServeError, path: str) -> Response:
    headers = {"www-authenticate": "Bearer"} if error.status == 401 else None
    return Response(error_body(error, path), status_code=error.status, media_type="application/json",
                    headers=headers)


def _as_list(inputs) -> tuple[list, bool]:
    """(items, are token ids): a str or one id list becomes a batch of one."""
    if isinstance(inputs, str):
        return [inputs], False
    if inputs and isinstance(inputs[0], int):
        return [inputs], True
    return list(inputs), bool(inputs) and isinstance(inputs[0], list)


def _predict_items(inputs) -> tuple[list, bool]:
    """/predict's inputs -> ((a,) or (a, b) items, single): a text, a pair [a, b], or a batch of [a] / [a, b]."""
    if isinstance(inputs, str):
        return [(inputs,)], True
    if inputs and isinstance(inputs[0], str):
        if len(inputs) > 2:
            raise validation("inputs: a list of strings is one text [a] or one pair [a, b]; send a batch as "
                             "[[a], [a, b], ...]")
        return [tuple(inputs)], True
    for i, item in enumerate(inputs):
        if len(item) not in (1, 2):
            raise validation(f"inputs[{i}] has {len(item)} strings: each item is [text] or [text, text_pair]")
    return [tuple(item) for item in inputs], False


def create_app(service: Service) -> FastAPI:
    @contextlib.asynccontextmanager
    async def lifespan(app):
        service.scheduler.start()
        yield
        service.close()  # after uvicorn has drained the requests in flight

    app = FastAPI(title="fastenc serve", version=__version__, lifespan=lifespan,
                  description="TEI- and OpenAI-compatible encoder serving with token-budget dynamic batching.")
    metrics = service.metrics

    @app.exception_handler(ServeError)
    async def on_serve_error(request: Request, error: ServeError):
        metrics.request_failure.inc(err=error.error_type)
        return _error(error, request.url.path)

    @app.exception_handler(RequestValidationError)
    async def on_bad_body(request: Request, error: RequestValidationError):
        problems = error.errors()
        content_type = request.headers.get("content-type", "")
        if "json" not in content_type.lower():
            return await on_serve_error(request, ServeError(
                "unsupported_media_type", f"the body must be JSON sent with 'Content-Type: application/json' (got "
                              f"{content_type[:100]!r})", status=415))
        if any(p.get("type") == "json_invalid" for p in problems):
            detail = "; ".join(str(p.get("msg")) for p in problems[:3])
            return await on_serve_error(request, ServeError("validation", f"the body is not valid JSON: {detail}",
                                                            status=400))
        if any(p.get("type") == "missing" and tuple(p.get("loc", ())) == ("body",) for p in problems):
            return await on_serve_error(request, ServeError("validation", "the request has no body: send a JSON "
                                                                          "object", status=400))
        parts = []
        for p in problems[:5]:
            where = ".".join(str(x) for x in p.get("loc", ()) if x != "body") or "body"
            parts.append(f"{where}: {p.get('msg')}")
        return await on_serve_error(request, validation("; ".join(parts)))

    @app.exception_handler(ClientGone)
    async def on_client_gone(request: Request, error: ClientGone):
        metrics.request_failure.inc(err="client_gone")
        return Response(status_code=499)  # nginx's "client closed request": nobody reads it

    @app.exception_handler(HTTPException)
    async def on_http_error(request: Request, error: HTTPException):
        kind = {404: "not_found", 405: "method_not_allowed"}.get(error.status_code, "validation")
        return _error(ServeError(kind, str(error.detail), status=error.status_code), request.url.path)

    async def run(request, route, count, encode, finish, check=None, kind="embed", field="inputs"):
        metrics.request_count.inc(method=route)
        counter = metrics.embed_count if kind == "embed" else metrics.predict_count
        counter.inc()
        service.admit(route, count, field)
        result, encoded, timings = await service.infer(request, count, encode, finish, check)
        metrics.request_success.inc(method=route)
        (metrics.embed_success if kind == "embed" else metrics.predict_success).inc()
        metrics.duration.observe(timings["total"])
        return result, encoded, timing_headers(timings, service.engine.device)

    def embed_args(body, field="inputs"):
        items, ids = _as_list(getattr(body, field))
        return items, dict(ids=ids, truncate=getattr(body, "truncate", None),
                           direction=getattr(body, "truncation_direction", "right"),
                           prompt_name=getattr(body, "prompt_name", None), field=field)

    def dims(dimensions):
        hidden = service.engine.config.hidden_size
        if dimensions is not None and dimensions > hidden:
            raise validation(f"dimensions is {dimensions}, more than the model's {hidden}")
        return dimensions

    @app.post("/embed", response_model=list[list[float]], responses=ERRORS, tags=["TEI"])
    async def embed(body: EmbedRequest, request: Request):
        """One vector per input, pooled as the checkpoint's sentence-transformers files say (or --pooling)."""
        items, args = embed_args(body)
        finish = results.embed(service.pooling, body.normalize, dims(body.dimensions))
        out, _, headers = await run(request, "embed", len(items), lambda: service.encoder.encode(items, **args),
                                    finish)
        return _json(out, headers)

    @app.post("/embed_all", response_model=list[list[list[float]]], responses=ERRORS, tags=["TEI"])
    async def embed_all(body: EmbedAllRequest, request: Request):
        """Every token's last hidden state, per input."""
        items, args = embed_args(body)
        out, _, headers = await run(request, "embed_all", len(items), lambda: service.encoder.encode(items, **args),
                                    results.embed_all)
        return _json(out, headers)

    @app.post("/embed_sparse", response_model=list[list[SparseValue]], responses=ERRORS, tags=["TEI"])
    async def embed_sparse(body: EmbedSparseRequest, request: Request):
        """SPLADE: max over tokens of log(1 + relu(MLM logits)), the non-zero entries per input."""
        service.require("mlm", "/embed_sparse", "SPLADE needs a masked-LM checkpoint")
        items, args = embed_args(body)
        out, _, headers = await run(request, "embed_sparse", len(items),
                                    lambda: service.encoder.encode(items, **args), results.embed_sparse)
        return _json(out, headers)

    @app.post("/v1/embeddings", response_model=OpenAIResponse, responses=OPENAI_ERRORS, tags=["OpenAI"])
    @app.post("/embeddings", response_model=OpenAIResponse, responses=OPENAI_ERRORS, tags=["OpenAI"],
              include_in_schema=False)
    async def openai_embeddings(body: OpenAIRequest, request: Request):
        """OpenAI's embeddings API: normalised vectors, as float lists or base64 little-endian float32."""
        items, args = embed_args(body, "input")
        args.update(truncate=None, direction="right", prompt_name=None)
        finish = results.embed(service.pooling, True, dims(body.dimensions))
        out, encoded, headers = await run(request, "openai", len(items),
                                          lambda: service.encoder.encode(items, **args), finish, field="input")
        if body.encoding_format == "base64":
            vectors = [base64.b64encode(row.astype("<f4").tobytes()).decode() for row in out]
        else:
            vectors = list(out)
        tokens = encoded.num_tokens
        return _json({"object": "list", "model": body.model or service.model_id,
                      "data": [{"object": "embedding", "embedding": v, "index": i} for i, v in enumerate(vectors)],
                      "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}, headers)

    @app.post("/predict", response_model=list[Prediction] | list[list[Prediction]], responses=ERRORS, tags=["TEI"])
    async def predict(body: PredictRequest, request: Request):
        """Sequence classification of texts or pairs: every label with its score, highest first."""
        service.require("classifier", "/predict", "load a *ForSequenceClassification checkpoint")
        items, single = _predict_items(body.inputs)
        pairs = any(len(item) == 2 for item in items)
        if pairs and not all(len(item) == 2 for item in items):
            raise validation("inputs mixes single texts and pairs; send one kind per request")
        encode_items = items if pairs else [item[0] for item in items]
        out, _, headers = await run(
            request, "predict", len(items),
            lambda: service.encoder.encode(encode_items, pairs=pairs, truncate=body.truncate,
                                           direction=body.truncation_direction),
            results.predict(body.raw_scores), kind="predict")
        return _json(out[0] if single else out, headers)

    @app.post("/rerank", response_model=list[Rank], responses=ERRORS, tags=["TEI"])
    async def rerank(body: RerankRequest, request: Request):
        """A cross-encoder's scores of (query, text) pairs, highest first."""
        service.require("reranker", "/rerank", "rerank needs a cross-encoder (sequence classification with one "
                                               "label)")
        pairs = [(body.query, t) for t in body.texts]
        out, _, headers = await run(
            request, "rerank", len(pairs),
            lambda: service.encoder.encode(pairs, pairs=True, truncate=body.truncate,
                                           direction=body.truncation_direction, field="texts"),
            results.rank(body.raw_scores, body.return_text, body.texts), kind="predict", field="texts")
        return _json(out, headers)

    @app.post("/fill_mask", response_model=list[list[FillMaskPrediction] | list[list[FillMaskPrediction]]],
              responses=ERRORS, tags=["fastenc"])
    async def fill_mask(body: FillMaskRequest, request: Request):
        """The fill-mask pipeline's top_k predictions per mask, one result per input."""
        service.require("mlm", "/fill_mask", "fill-mask needs a masked-LM checkpoint")
        if service.engine.tokenizer.mask_token_id is None:
            raise ServeError("backend", "/fill_mask: the tokenizer defines no mask token")
        items, _ = _as_list(body.inputs)
        out, _, headers = await run(
            request, "fill_mask", len(items), lambda: service.encoder.encode(items, truncate=body.truncate),
            results.fill_masks(body.top_k), check=lambda e: results.check_masks(service.engine, e), kind="predict")
        return _json(out, headers)

    @app.post("/tag", response_model=list[list[Entity]], responses=ERRORS, tags=["fastenc"])
    async def tag(body: TagRequest, request: Request):
        """Token classification grouped as the pipeline's aggregation_strategy="simple", one list per input."""
        service.require("token_classifier", "/tag", "load a *ForTokenClassification checkpoint")
        items, _ = _as_list(body.inputs)
        out, _, headers = await run(
            request, "tag", len(items), lambda: service.encoder.encode(items, truncate=body.truncate, offsets=True),
            results.tag_entities, kind="predict")
        return _json(out, headers)

    @app.post("/tokenize", response_model=list[list[SimpleToken]], responses=ERRORS, tags=["TEI"])
    async def tokenize(body: TokenizeRequest, request: Request):
        """Tokens of each input: id, text, special, start and stop (character offsets; None for special tokens)."""
        service.require("tokenizer", "/tokenize", "the model folder has no tokenizer files")
        items, _ = _as_list(body.inputs)
        service.admit("tokenize", len(items))
        try:
            encoded = await request.app.state.to_thread(
                lambda: service.encoder.encode(items, truncate=True, offsets=True, prompt_name=body.prompt_name))
        finally:
            service.in_flight -= len(items)
        return _json(_tokens(service.engine.tokenizer, items, encoded, body.add_special_tokens))

    @app.post("/decode", response_model=list[str], responses=ERRORS, tags=["TEI"])
    async def decode(body: DecodeRequest):
        """Token ids back to text, one string per sequence."""
        service.require("tokenizer", "/decode", "the model folder has no tokenizer files")
        rows = [body.ids] if body.ids and isinstance(body.ids[0], int) else body.ids
        if not rows:
            raise ServeError("empty", "ids is empty: send at least one sequence of token ids")
        vocab = service.engine.config.vocab_size
        for i, row in enumerate(rows):
            if any(not 0 <= t < vocab for t in row):
                raise validation(f"ids[{i}] holds token ids outside [0, {vocab})")
        tokenizer = service.engine.tokenizer
        return _json([tokenizer.decode(row, skip_special_tokens=body.skip_special_tokens) for row in rows])

    @app.get("/info", response_model=Info, tags=["TEI"])
    async def info():
        return _json(_info(service))

    @app.get("/health", tags=["TEI"])
    @app.get("/ping", include_in_schema=False)
    @app.get("/", include_in_schema=False)
    async def health():
        if not service.scheduler.healthy or not service.scheduler.is_alive():
            raise ServeError("unhealthy", "the model worker is not running")
        return Response(status_code=200)

    @app.get("/metrics", tags=["TEI"])
    async def prometheus():
        return Response(metrics.render(), media_type="text/plain; version=0.0.4")

    async def to_thread(fn):
        return await asyncio.get_running_loop().run_in_executor(service.encoder.pool, fn)

    app.state.to_thread = to_thread
    return Guard(app, service.config.api_key, service.config.payload_limit)


def _tokens(tokenizer, items: list, encoded, add_special_tokens: bool) -> list:
    arrays, cu = encoded.arrays, encoded.cu_seqlens.tolist()
    ids, special, offsets = arrays["input_ids"].tolist(), arrays["special_tokens_mask"], arrays["offset_mapping"]
    out = []
    for text, a, b in zip(items, cu[:-1], cu[1:]):
        row = []
        for t in range(a, b):
            if special[t]:
                if add_special_tokens:
                    row.append({"id": ids[t], "text": tokenizer.convert_ids_to_tokens(ids[t]), "special": True,
                                "start": None, "stop": None})
                continue
            start, stop = int(offsets[t, 0]), int(offsets[t, 1])
            row.append({"id": ids[t], "text": text[start:stop], "special": False, "start": start, "stop": stop})
        out.append(row)
    return out


def _info(service: Service) -> dict:
    engine, config = service.engine, service.engine.config
    if service.can["classifier"]:
        id2label = dict(enumerate(label_names(config)))
        labels = {"id2label": {str(k): v for k, v in id2label.items()},
                  "label2id": {v: k for k, v in id2label.items()}}
        model_type = {"reranker": labels} if service.can["reranker"] else {"classifier": labels}
    else:
        model_type = {"embedding": {"pooling": service.pooling}}
    return {
        "model_id": service.model_id, "model_sha": None, "model_dtype": str(engine.dtype).removeprefix("torch."),
        "model_type": model_type, "max_concurrent_requests": service.config.max_concurrent_requests,
        "max_input_length": service.max_input_length, "max_batch_tokens": service.max_batch_tokens,
        "max_batch_requests": service.config.max_batch_requests,
        "max_client_batch_size": service.config.max_client_batch_size,
        "auto_truncate": service.config.auto_truncate, "tokenization_workers": service.encoder.workers,
        "version": __version__, "routes": service.routes(),
    }

