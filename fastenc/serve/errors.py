"""The server's errors: an HTTP status and TEI's error type, rendered as TEI's or OpenAI's error body."""
import orjson

# TEI's error types; the status of each is the (TEI itself answers its "validation" type with 413).
STATUS = {"validation": 422, "tokenizer": 422, "empty": 400, "overloaded": 429, "backend": 424, "unhealthy": 503,
          "payload_limit": 413, "unauthorized": 401, "not_found": 404, "method_not_allowed": 405,
          "unsupported_media_type": 415}


class ServeError(Exception):
    """A request that cannot be answered; `error_type` is one of STATUS's keys."""

    def __init__(self, error_type: str, message: str, status: int | None = None):
        super().__init__(message)
        self.error_type = error_type
        self.message = message
        self.status = status or STATUS[error_type]


def validation(message: str) -> ServeError:
    return ServeError("validation", message)


def is_openai_path(path: str) -> bool:
    return path in ("/v1/embeddings", "/embeddings")


def error_body(error: ServeError, path: str) -> bytes:
    """TEI's `{"error", "error_type"}`, or OpenAI's `{"message", "code", "type"}` on the OpenAI routes."""
    if is_openai_path(path):
        return orjson.dumps({"message": error.message, "code": error.status, "type": error.error_type})
    return orjson.dumps({"error": error.message, "error_type": error.error_type})
