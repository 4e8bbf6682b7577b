"""Upstream adapters: how tollway talks to a channel."""

from tollway.upstream.client import UpstreamClient, UpstreamResponse
from tollway.upstream.failures import Failure, FailureKind, classify_response, classify_transport_error

__all__ = [
    "Failure",
    "FailureKind",
    "UpstreamClient",
    "UpstreamResponse",
    "classify_response",
    "classify_transport_error",
]
