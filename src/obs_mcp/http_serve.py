"""Serve the MCP server over SSE or Streamable HTTP with loopback-first security.

On loopback the SDK's DNS-rebinding protection (Host/Origin checks) is on. Binding any
other address requires a bearer token (OBS_MCP_HTTP_TOKEN) checked on every request.
"""

from __future__ import annotations

import hmac
import ipaddress
import os
from typing import Literal

import uvicorn
from mcp.server.transport_security import TransportSecuritySettings
from starlette.types import ASGIApp, Receive, Scope, Send

from obs_mcp.errors import InvalidArgument
from obs_mcp.server import mcp

TOKEN_ENV = "OBS_MCP_HTTP_TOKEN"
MAX_REQUEST_BYTES = 1024 * 1024


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class BearerTokenGuard:
    """Reject HTTP requests without `Authorization: Bearer <token>` (constant-time compare).

    The scheme name is case-insensitive (RFC 7235 section 2.1: `bearer`, `BEARER` are valid)."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app = app
        self.expected = token.encode()

    def authorized(self, header: bytes) -> bool:
        scheme, _, credentials = header.partition(b" ")
        token_ok = hmac.compare_digest(credentials.lstrip(b" "), self.expected)
        return scheme.lower() == b"bearer" and token_ok

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            given = dict(scope.get("headers", [])).get(b"authorization", b"")
            if not self.authorized(given):
                await send(
                    {
                        "type": "http.response.start",
                        "status": 401,
                        "headers": [
                            (b"content-type", b"text/plain"),
                            (b"www-authenticate", b"Bearer"),
                        ],
                    }
                )
                await send({"type": "http.response.body", "body": b"missing or wrong bearer token"})
                return
        await self.app(scope, receive, send)


def build_http_app(
    transport: Literal["sse", "streamable-http"], host: str, token: str | None
) -> ASGIApp:
    if not is_loopback(host) and not token:
        raise InvalidArgument(
            f"refusing to listen on non-loopback address {host}: set {TOKEN_ENV} to a secret "
            "token (clients then send `Authorization: Bearer <token>`), or use --host 127.0.0.1"
        )
    security = None
    if not is_loopback(host):
        # Behind a token the Host check would only block legitimate remote names.
        security = TransportSecuritySettings(enable_dns_rebinding_protection=False)
    if transport == "sse":
        app: ASGIApp = mcp.sse_app(
            host=host, transport_security=security, max_request_body_size=MAX_REQUEST_BYTES
        )
    else:
        app = mcp.streamable_http_app(
            host=host, transport_security=security, max_request_body_size=MAX_REQUEST_BYTES
        )
    return BearerTokenGuard(app, token) if token else app


def serve_http(transport: Literal["sse", "streamable-http"], host: str, port: int) -> None:
    token = os.environ.get(TOKEN_ENV) or None
    app = build_http_app(transport, host, token)
    uvicorn.run(app, host=host, port=port, log_level="warning")
