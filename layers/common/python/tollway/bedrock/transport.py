"""A ``bedrock`` channel behind the relay's usual upstream interface.

The pipeline asks every channel the same thing — POST this OpenAI (``/chat/completions``) or
Anthropic (``/messages``) body — and reads an OpenAI or Anthropic answer back. For a Bedrock channel
this module turns the call into Bedrock's: the Anthropic body of a Claude model goes to
``/model/{id}/invoke[-with-response-stream]`` as is (plus Bedrock's ``anthropic_version``), an OpenAI
chat body goes to ``/model/{id}/converse[-stream]``; the request is SigV4-signed with the function's
(or an assumed role's) credentials and sent with the relay's own pooled async HTTP client. The answer
is translated back as it arrives: event-stream frames → the SSE the endpoint's meter already reads,
frame by frame, so chunks are forwarded as they come and usage is read by the existing meters.

Channel settings: ``region`` (default ``us-east-1``), ``role_arn`` and ``external_id`` (cross-account),
``beta_flags`` (the ``anthropic-beta`` flags passed to Bedrock; default: those Bedrock documents).
``base_url`` may be empty (``https://bedrock-runtime.{region}.amazonaws.com``) or point at a
Bedrock-compatible endpoint (a VPC endpoint, the local mock).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any
from urllib.parse import quote

import anyio
import orjson
from botocore.exceptions import BotoCoreError, ClientError
from tollway.bedrock.converse import ConverseStreamTranslator, converse_request, openai_completion
from tollway.bedrock.errors import error_status
from tollway.bedrock.eventstream import EventStreamDecoder, EventStreamError, Frame
from tollway.bedrock.invoke import DEFAULT_BETA_FLAGS, InvokeStreamTranslator, beta_flags, invoke_body, is_claude
from tollway.bedrock.signing import CredentialCache, Identity, sign_request
from tollway.config.model import Channel
from tollway.errors import InvalidRequest
from tollway.upstream.failures import scrub
from tollway.upstream.response import UpstreamResponse

__all__ = ["BedrockTransport", "Send", "bedrock_base_url"]

# (channel, url, headers, body) → the open response; the relay's pooled client.
Send = Callable[[Channel, str, dict[str, str], bytes], Awaitable[UpstreamResponse]]
DEFAULT_REGION = "us-east-1"
log = logging.getLogger("tollway.bedrock")


def bedrock_base_url(channel: Channel) -> str:
    region = str(channel.settings.get("region") or DEFAULT_REGION)
    return (channel.base_url or f"https://bedrock-runtime.{region}.amazonaws.com").rstrip("/")


class BedrockTransport:
    def __init__(self, send: Send, credentials: CredentialCache | None = None) -> None:
        self._send = send
        self._credentials = credentials or CredentialCache()

    @staticmethod
    def identity_of(channel: Channel) -> Identity:
        region = str(channel.settings.get("region") or DEFAULT_REGION)
        role = channel.settings.get("role_arn")
        external = channel.settings.get("external_id")
        return Identity(str(role) if role else None, str(external) if external else None, region)

    async def credentials_for(self, channel: Channel) -> Any:
        identity = self.identity_of(channel)
        hit = self._credentials.cached(identity)
        if hit is not None:
            return hit
        # Resolving may block (container endpoint, STS): never on the event loop.
        return await anyio.to_thread.run_sync(self._credentials.get_blocking, identity)

    async def open(
        self,
        channel: Channel,
        path: str,
        upstream_model: str,
        body: bytes,
        extra_headers: dict[str, str] | None = None,
    ) -> UpstreamResponse:
        """Send the call and return once the answer's first frame (or its error) arrived.

        Raises:
            InvalidRequest: the request cannot be expressed on Bedrock.
            httpx2.TimeoutException, httpx2.TransportError: the connection failed.
        """
        request = orjson.loads(body)
        route = path.split("?", 1)[0].removeprefix("/v1")  # Anthropic-format paths carry /v1
        stream = bool(request.get("stream"))
        if route == "/messages":
            if not is_claude(upstream_model):
                raise InvalidRequest(
                    f"The model '{upstream_model}' on Bedrock does not take Anthropic's Messages format; "
                    "use /v1/chat/completions.",
                    param="model",
                )
            allowed = channel.settings.get("beta_flags")
            flags = beta_flags(
                (extra_headers or {}).get("anthropic-beta"),
                frozenset(allowed) if isinstance(allowed, list) else DEFAULT_BETA_FLAGS,
            )
            payload = invoke_body(request, flags)
            action, dialect = ("invoke-with-response-stream" if stream else "invoke"), "anthropic"
        elif route == "/chat/completions":
            limit = request.get("max_completion_tokens") or request.get("max_tokens")
            payload = converse_request(request, limit if isinstance(limit, int) else None)
            action, dialect = ("converse-stream" if stream else "converse"), "openai"
        else:
            raise InvalidRequest("This endpoint is not available for models served through Amazon Bedrock.")
        url = f"{bedrock_base_url(channel)}/model/{quote(upstream_model, safe='')}/{action}"
        content = orjson.dumps(payload)
        headers = {
            "content-type": "application/json",
            "accept": "application/vnd.amazon.eventstream" if stream else "application/json",
        }
        region = str(channel.settings.get("region") or DEFAULT_REGION)
        try:
            credentials = await self.credentials_for(channel)
        except ClientError as exc:  # STS refused the role: the channel cannot work until an operator acts
            code = str(exc.response.get("Error", {}).get("Code") or "")
            log.warning("bedrock channel %s: credentials refused (%s)", channel.channel_id, code)
            name = "AccessDeniedException" if "AccessDenied" in code else "ServiceUnavailableException"
            return _Synthetic(name, f"AssumeRole of the channel's role_arn failed: {code}")
        except BotoCoreError as exc:  # no credentials reachable now: another channel's turn
            log.warning("bedrock channel %s: no credentials (%s)", channel.channel_id, type(exc).__name__)
            return _Synthetic("ServiceUnavailableException", "No AWS credentials could be resolved.")
        signed = sign_request(credentials, region, "POST", url, headers, content)
        response = await self._send(channel, url, signed, content)
        if not 200 <= response.status < 300:
            if response.headers.get("x-amzn-errortype", "").startswith("ExpiredToken"):
                self._credentials.evict(self.identity_of(channel))
            return response  # named AWS errors; tollway.upstream.failures classifies them by name
        model = str(request.get("model") or upstream_model)
        request_id = response.headers.get("x-amzn-requestid", "")
        if not stream:
            return response if dialect == "anthropic" else _ConverseAnswer(response, model, request_id)
        answer = _StreamAnswer(response, dialect, model, request_id)
        first = await answer.first_exception()
        return first if first is not None else answer


class _ConverseAnswer(UpstreamResponse):
    """A Converse JSON answer read as an OpenAI ``chat.completion``."""

    def __init__(self, inner: UpstreamResponse, model: str, request_id: str) -> None:
        self._inner = inner
        self._model = model
        self._id = f"chatcmpl-{request_id}" if request_id else "chatcmpl-bedrock"

    @property
    def status(self) -> int:
        return self._inner.status

    @property
    def headers(self) -> dict[str, str]:
        return {"content-type": "application/json"}

    async def read_limited(self, limit: int) -> bytes:
        raw = await self._inner.read_limited(limit)
        try:
            answer = orjson.loads(raw)
        except orjson.JSONDecodeError:
            return raw  # the pipeline reports a malformed answer
        if not isinstance(answer, dict):
            return raw
        return orjson.dumps(openai_completion(answer, self._model, self._id))

    def aiter_raw(self) -> AsyncIterator[bytes]:
        raise NotImplementedError("a Converse answer is read whole")

    async def aclose(self) -> None:
        await self._inner.aclose()


class _Synthetic(UpstreamResponse):
    """An error answer tollway makes up (credentials could not be had), shaped like Bedrock's."""

    def __init__(self, name: str, message: str) -> None:
        self._name = name
        self._body = orjson.dumps({"message": message})

    @property
    def status(self) -> int:
        return error_status(self._name)

    @property
    def headers(self) -> dict[str, str]:
        return {"content-type": "application/json", "x-amzn-errortype": self._name}

    async def read_limited(self, limit: int) -> bytes:
        return self._body[:limit]

    def aiter_raw(self) -> AsyncIterator[bytes]:
        return _no_bytes()

    async def aclose(self) -> None:
        return None


class _ErrorAnswer(_Synthetic):
    """An exception frame that arrived before any event: reported like an HTTP error answer."""

    def __init__(self, inner: UpstreamResponse, frame: Frame) -> None:
        super().__init__(frame.event_type[:1].upper() + frame.event_type[1:], "")
        self._inner = inner
        self._body = frame.payload

    async def aclose(self) -> None:
        await self._inner.aclose()


class _StreamAnswer(UpstreamResponse):
    """An event stream read as SSE: Anthropic events (invoke) or OpenAI chunks (converse)."""

    def __init__(self, inner: UpstreamResponse, dialect: str, model: str, request_id: str) -> None:
        self._inner = inner
        self._raw = inner.aiter_raw()
        self._decoder = EventStreamDecoder()
        self._pending: list[Frame] = []
        completion_id = f"chatcmpl-{request_id}" if request_id else "chatcmpl-bedrock"
        self._invoke = InvokeStreamTranslator() if dialect == "anthropic" else None
        self._converse = ConverseStreamTranslator(model, completion_id)  # used when _invoke is None

    @property
    def status(self) -> int:
        return self._inner.status

    @property
    def headers(self) -> dict[str, str]:
        return {"content-type": "text/event-stream"}

    async def first_exception(self) -> UpstreamResponse | None:
        """Read up to the first frame; an exception there (throttling…) becomes an error answer."""
        while not self._pending:
            try:
                chunk = await self._raw.__anext__()
            except StopAsyncIteration:
                return None
            try:
                self._pending = self._decoder.feed(chunk)
            except EventStreamError:
                return None  # reported when the stream is read
        first = self._pending[0]
        if first.message_type != "event":
            return _ErrorAnswer(self._inner, first)
        return None

    def _translate(self, frame: Frame) -> bytes:
        if self._invoke is not None:
            return self._invoke.on_frame(frame)
        if frame.message_type != "event":
            return _openai_error(frame)
        try:
            event = orjson.loads(frame.payload) if frame.payload else {}
        except orjson.JSONDecodeError:
            return _openai_error(frame)
        return self._converse.on_event(frame.event_type, event if isinstance(event, dict) else {})

    def _finish(self) -> bytes:
        if self._invoke is not None:
            return self._invoke.finish()
        return self._converse.finish()

    async def _frames(self) -> AsyncIterator[bytes]:
        pending, self._pending = self._pending, []
        out = b"".join(self._translate(f) for f in pending)
        if out:
            yield out
        async for chunk in self._raw:
            try:
                frames = self._decoder.feed(chunk)
            except EventStreamError:
                yield self._broken("the upstream's event stream failed its checksum")
                return
            out = b"".join(self._translate(f) for f in frames)
            if out:
                yield out
        if self._decoder.pending:
            yield self._broken("the upstream's event stream was cut mid-frame")
            return
        tail = self._finish()
        if tail:
            yield tail

    def _broken(self, message: str) -> bytes:
        if self._invoke is not None:
            error = {"type": "error", "error": {"type": "api_error", "message": message}}
            return self._invoke.finish() + b"event: error\ndata: " + orjson.dumps(error) + b"\n\n"
        return b"data: " + orjson.dumps({"error": {"type": "upstream_error", "message": message}}) + b"\n\n"

    def aiter_raw(self) -> AsyncIterator[bytes]:
        return self._frames()

    async def read_limited(self, limit: int) -> bytes:
        chunks: list[bytes] = []
        async for chunk in self._frames():
            chunks.append(chunk)
        return b"".join(chunks)[:limit]

    async def aclose(self) -> None:
        await self._inner.aclose()


async def _no_bytes() -> AsyncIterator[bytes]:
    empty: tuple[bytes, ...] = ()
    for chunk in empty:
        yield chunk


def _openai_error(frame: Frame) -> bytes:
    try:
        message = str(orjson.loads(frame.payload).get("message") or "")
    except (orjson.JSONDecodeError, AttributeError):
        message = ""
    text = scrub(f"Bedrock {frame.event_type}: {message}", 300)
    error = {"type": "upstream_error", "code": frame.event_type, "message": text}
    return b"data: " + orjson.dumps({"error": error}) + b"\n\n"
