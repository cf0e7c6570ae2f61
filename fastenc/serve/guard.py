"""The ASGI layer in front of the routes: `Authorization: Bearer KEY` with --api-key (401), and the body size limit
--payload-limit (413), checked on the declared length and on the bytes actually received, before any parsing."""
import hmac

from .errors import ServeError, error_body


class Guard:
    def __init__(self, app, api_key: str | None, payload_limit: int):
        self.app = app
        self.api_key = api_key
        self.payload_limit = payload_limit

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = dict(scope["headers"])
        path = scope.get("path", "")
        if self.api_key is not None:
            given = headers.get(b"authorization", b"")
            if not hmac.compare_digest(given, b"Bearer " + self.api_key.encode()):
                return await _refuse(send, path, ServeError("unauthorized", "missing or wrong API key: send "
                                                           "'Authorization: Bearer <key>'"))
        declared = headers.get(b"content-length")
        too_large = ServeError("payload_limit", f"the request body is larger than the payload limit of "
                                                f"{self.payload_limit} bytes")
        if declared is not None and declared.isdigit() and int(declared) > self.payload_limit:
            return await _refuse(send, path, too_large)
        if scope.get("method") not in ("POST", "PUT", "PATCH"):
            return await self.app(scope, receive, send)
        # Read the whole body here (at most payload_limit bytes), so a chunked upload is held to the limit too.
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body = message.get("body", b"")
            size += len(body)
            if size > self.payload_limit:
                return await _refuse(send, path, too_large)
            chunks.append(body)
            if not message.get("more_body", False):
                break
        replayed = False

        async def replay():
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": b"".join(chunks), "more_body": False}
            return await receive()  # after the body: the disconnect, when the client goes away

        return await self.app(scope, replay, send)


async def _refuse(send, path: str, error: ServeError) -> None:
    body = error_body(error, path)
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if error.status == 401:
        headers.append((b"www-authenticate", b"Bearer"))
    await send({"type": "http.response.start", "status": error.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
