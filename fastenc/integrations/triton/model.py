"""A Triton Inference Server Python-backend model: a fastenc engine behind Triton's dynamic batching, TEXT strings in,
EMBEDDING (or class SCORES) float32 rows out, exactly one response per request.

Triton copies this file into <repository>/<model>/1/model.py (`fastenc triton-repo` does) and imports it in a
process that provides `triton_python_backend_utils`; the model's parameters in config.pbtxt say what to load.
All texts of the requests Triton batched together go to one engine call (the runner packs them by length); a request
that cannot be answered gets a response carrying a TritonError, and the others are answered as usual.
"""
import json

import numpy as np
import triton_python_backend_utils as pb_utils  # provided by Triton's Python backend (no pip package)

INPUT = "TEXT"


class TritonPythonModel:
    def initialize(self, args):
        """args["model_config"]: the model's config.pbtxt as JSON; its parameters name the model and the task."""
        import fastenc

        config = json.loads(args["model_config"])
        parameters = {k: v.get("string_value") for k, v in config.get("parameters", {}).items()}
        if not parameters.get("model"):
            raise ValueError("config.pbtxt has no 'model' parameter: the folder or Hub id fastenc should load")
        self.task = parameters.get("task", "embed")
        if self.task not in ("embed", "classify"):
            raise ValueError(f"config.pbtxt parameter 'task' must be 'embed' or 'classify', got {self.task!r}")
        self.options = {}
        if self.task == "embed":
            self.options = {"normalize": parameters.get("normalize", "false") == "true"}
            if parameters.get("pooling"):
                self.options["pooling"] = parameters["pooling"]
        load = {k: parameters[k] for k in ("device", "dtype") if parameters.get(k)}
        self.engine = fastenc.load(parameters["model"], **load)
        self.output = config["output"][0]["name"]

    def execute(self, requests):
        texts, responses = [], [None] * len(requests)
        for i, request in enumerate(requests):
            try:
                texts.append((i, _texts(request)))
            except ValueError as error:
                responses[i] = _error(error)
        if texts:
            try:
                rows = self._run([t for _, batch in texts for t in batch])  # (sum of b_i, width)
            except Exception:  # noqa: BLE001 - one bad request must not fail its batch: answer them one by one
                rows = None
            start = 0
            for i, batch in texts:
                try:
                    values = rows[start:start + len(batch)] if rows is not None else self._run(batch)
                except Exception as error:  # noqa: BLE001 - the client gets the message, the server stays up
                    responses[i] = _error(error)
                else:
                    responses[i] = pb_utils.InferenceResponse(output_tensors=[pb_utils.Tensor(self.output, values)])
                start += len(batch)
        return responses

    def _run(self, texts: list) -> np.ndarray:
        if self.task == "embed":
            return self.engine.embed(texts, progress=False, **self.options).numpy().astype(np.float32)
        records = self.engine.classify(texts)
        return np.array([list(r["scores"].values()) for r in records], dtype=np.float32).reshape(len(texts), -1)

    def finalize(self):
        self.engine = None


def _texts(request) -> list:
    """The request's texts: its TEXT tensor, (b, 1) bytes under max_batch_size > 0, flattened and decoded."""
    tensor = pb_utils.get_input_tensor_by_name(request, INPUT)
    if tensor is None:
        raise ValueError(f"the request has no {INPUT!r} input tensor")
    values = tensor.as_numpy().reshape(-1)  # (b,)
    if not len(values):
        raise ValueError(f"input {INPUT!r} is empty")
    texts = []
    for j, value in enumerate(values.tolist()):
        if isinstance(value, bytes):
            try:
                value = value.decode("utf-8")
            except UnicodeDecodeError as e:
                raise ValueError(f"input {INPUT!r} element {j} is not UTF-8 ({e.reason})") from e
        if not isinstance(value, str):
            raise ValueError(f"input {INPUT!r} element {j} must be a string (TYPE_STRING), not {type(value).__name__}")
        texts.append(value)
    return texts


def _error(error: Exception):
    return pb_utils.InferenceResponse(output_tensors=[], error=pb_utils.TritonError(f"fastenc: {error}"))
