"""The wallboard's routes, access check and security headers (aiohttp, on the daemon's event loop).

Read-only: every route is a GET (HEAD too, as aiohttp adds it); anything else gets 405, and a
request without the right token gets 401 with an empty body whatever it asks for. The token is
given once as `/?token=...` (the page then keeps it in an HttpOnly, SameSite=Strict cookie and
the address bar loses it), or on every request as `Authorization: Bearer ...`.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from importlib import resources
from typing import Any, Protocol

import structlog
from aiohttp import web

from dialer.web.stream import RETRY_MS, Fanout, sse_message

log = structlog.get_logger("dialer.web.server")

COOKIE = "dialer_web_token"
# No inline script or style anywhere: the page is index.html + app.js + app.css from this server.
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
       "base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
}
ASSETS = {"index.html": "text/html", "app.js": "text/javascript", "app.css": "text/css", "icon.svg": "image/svg+xml"}
READ_METHODS = frozenset({"GET", "HEAD"})


class Board(Protocol):
    """What the routes read: the current figures and the stream of updates."""

    fanout: Fanout

    async def snapshot(self) -> dict[str, Any]:
        """The figures now (refreshed if the last refresh is old)."""
        ...


def load_assets() -> dict[str, bytes]:
    """The page's files, shipped in the package (no build step, nothing fetched at run time)."""
    folder = resources.files("dialer.web") / "assets"
    return {name: (folder / name).read_bytes() for name in ASSETS}


def _authorized(request: web.Request, token: str | None) -> bool:
    if token is None:
        return True
    given = [request.cookies.get(COOKIE, ""), request.query.get("token", "")]
    header = request.headers.get("Authorization", "")
    if header.startswith("Bearer "):
        given.append(header.removeprefix("Bearer ").strip())
    expected = token.encode()
    # compare_digest on every candidate: the time taken says nothing about how much of a guess matched.
    return any(hmac.compare_digest(candidate.encode(), expected) for candidate in given if candidate)


def build_app(board: Board, token: str | None, assets: dict[str, bytes]) -> web.Application:
    """The aiohttp application: GET routes only, the token checked before anything else."""

    @web.middleware
    async def guard(request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
                    ) -> web.StreamResponse:
        if not _authorized(request, token):
            return web.Response(status=401)
        if request.method not in READ_METHODS:
            return web.Response(status=405, headers={"Allow": "GET, HEAD"})
        return await handler(request)

    async def headers(request: web.Request, response: web.StreamResponse) -> None:
        response.headers.update(SECURITY_HEADERS)
        response.headers.setdefault("Cache-Control", "no-store")

    async def index(request: web.Request) -> web.StreamResponse:
        if "token" in request.query:
            # Keep the token in a cookie and take it out of the address bar (and the history).
            response = web.HTTPSeeOther("/")
            if token is not None:
                response.set_cookie(COOKIE, token, httponly=True, samesite="Strict", path="/")
            return response
        return web.Response(body=assets["index.html"], content_type=ASSETS["index.html"], charset="utf-8")

    async def asset(request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        if name not in ASSETS or name == "index.html":
            return web.Response(status=404)
        return web.Response(body=assets[name], content_type=ASSETS[name], charset="utf-8")

    async def snapshot(request: web.Request) -> web.StreamResponse:
        return web.json_response(await board.snapshot(), headers={"Cache-Control": "no-store"})

    async def stream(request: web.Request) -> web.StreamResponse:
        client = board.fanout.join()
        if client is None:
            return web.Response(status=503, headers={"Retry-After": "5"})
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-store",
                                               "X-Accel-Buffering": "no"})
        try:
            await response.prepare(request)
            transport = request.transport
            if transport is not None:
                client.abort = transport.abort
            first = await board.snapshot()
            await response.write(f"retry: {RETRY_MS}\n\n".encode() + sse_message("snapshot", first))
            while True:
                message = await client.next()
                if not message:
                    break
                await response.write(message)
        except ConnectionError:
            pass  # the page went away, or was dropped for being slow: EventSource reconnects
        finally:
            board.fanout.leave(client)
        return response

    app = web.Application(middlewares=[guard])
    app.on_response_prepare.append(headers)
    app.router.add_get("/", index)
    app.router.add_get("/assets/{name}", asset)
    app.router.add_get("/api/snapshot", snapshot)
    app.router.add_get("/api/stream", stream, allow_head=False)  # a HEAD would hold a page's slot open
    return app
