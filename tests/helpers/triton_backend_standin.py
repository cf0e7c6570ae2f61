"""A STAND-IN for `triton_python_backend_utils`, the module NVIDIA Triton Inference Server's Python backend provides
to model.py (it is not on PyPI and the server does not install here). Only the names fastenc's model uses, with the
real module's names and call shapes: Tensor, InferenceRequest-like requests, InferenceResponse, TritonError,
get_input_tensor_by_name, get_output_tensor_by_name; plus what the server itself does around them (reading
config.pbtxt into the JSON `args["model_config"]`), so tests can drive TritonPythonModel as the server would.

Install it with `install()` before importing the model: it registers itself as `triton_python_backend_utils`.
"""
import re
import sys

import numpy as np


class TritonError:
    def __init__(self, message: str):
        self._message = message

    def message(self) -> str:
        return self._message


class Tensor:
    def __init__(self, name: str, array):
        self._name, self._array = name, np.asarray(array)

    def name(self) -> str:
        return self._name

    def as_numpy(self):
        return self._array


class InferenceRequest:
    """What the server hands to execute(): the request's input tensors."""

    def __init__(self, inputs: list):
        self._inputs = inputs

    def inputs(self) -> list:
        return self._inputs


class InferenceResponse:
    def __init__(self, output_tensors=(), error=None):
        self._outputs, self._error = list(output_tensors), error

    def output_tensors(self) -> list:
        return self._outputs

    def has_error(self) -> bool:
        return self._error is not None

    def error(self):
        return self._error


def get_input_tensor_by_name(request, name: str):
    return next((t for t in request.inputs() if t.name() == name), None)


def get_output_tensor_by_name(response, name: str):
    return next((t for t in response.output_tensors() if t.name() == name), None)


def install():
    sys.modules["triton_python_backend_utils"] = sys.modules[__name__]


def read_config_pbtxt(text: str) -> dict:
    """config.pbtxt (protobuf text format) as the JSON dict the server passes in args["model_config"]: repeated
    messages are lists, `parameters` a map {key: {"string_value": ...}}. Enough of the format for fastenc's file."""
    tokens = re.findall(r'"(?:[^"\\]|\\.)*"|[{}\[\]:,]|[^\s{}\[\]:,"]+', re.sub(r"#[^\n]*", "", text))
    position = 0

    def value():
        nonlocal position
        token = tokens[position]
        position += 1
        if token == "{":
            return message("}")
        if token == "[":
            items = []
            while tokens[position] != "]":
                items.append(value())
                if tokens[position] == ",":
                    position += 1
            position += 1
            return items
        if token.startswith('"'):
            return token[1:-1].encode().decode("unicode_escape")
        return int(token) if re.fullmatch(r"-?\d+", token) else token

    def message(end):
        nonlocal position
        fields = {}
        while position < len(tokens) and tokens[position] != end:
            name = tokens[position]
            position += 1
            if tokens[position] == ":":
                position += 1
            item = value()
            if name == "parameters":
                fields.setdefault("parameters", {})[item["key"]] = item["value"]
            elif name in fields:
                fields[name] = (fields[name] if isinstance(fields[name], list) else [fields[name]]) + [item]
            else:
                fields[name] = item
        position += 1
        return fields

    return message(None)
