"""The web app: routes, templates, the store it reads, and how errors are shown.

One `ReadSession` (a read-only store) serves every request; requests take
turns on it (MLMD's C++ calls hold the GIL anyway, and the session's caches
are not meant for concurrent use). A store that cannot be reached is not an
error at start-up: each page says so, and the next request tries again.
"""
from __future__ import annotations

import contextlib
import threading
from urllib.parse import quote, urlencode
from typing import Callable, Iterator, Sequence

import jinja2
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.datastructures import MutableHeaders
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from zen_mlmd import __version__
from zen_mlmd.errors import (
    ConfigError,
    PreflightError,
    SchemaVersionError,
    StoreError,
    StoreNotStartedError,
    UnknownNameError,
    ZenMLMDError,
)
from zen_mlmd.post_execution.session import ReadSession
from zen_mlmd.ui import formatting

#: Hosts a browser may name in the Host header: loopback only unless the
#: server binds elsewhere (guards against DNS rebinding).
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1", "[::1]")
#: No inline scripts, nothing from other origins, not framed by other sites.
SECURITY_HEADERS = {
    "Content-Security-Policy": ("default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
                                "script-src 'self'; object-src 'none'; frame-ancestors 'none'; base-uri 'none'"),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}
_UNREACHABLE = (StoreError, PreflightError, SchemaVersionError)


class SecurityHeaders:
    """ASGI middleware adding `SECURITY_HEADERS` to every response that does not set its own."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS.items():
                    headers.setdefault(name, value)
            await send(message)

        await self.app(scope, receive, send_with_headers)


class PageError(Exception):
    """An error page: the HTTP status, a title and the message to show."""

    def __init__(self, status: int, title: str, message: str):
        super().__init__(message)
        self.status, self.title, self.message = status, title, message


class UIState:
    """The store the app reads and the template environment.

    Args:
        open_session: opens the read session; called again after a failure.
        store_label: how the pages name the store (never its credentials).
    """

    def __init__(self, open_session: Callable[[], ReadSession], store_label: str):
        self._open_session = open_session
        self._session: ReadSession | None = None
        self._lock = threading.Lock()
        self.store_label = store_label
        self.templates = jinja2.Environment(
            loader=jinja2.PackageLoader("zen_mlmd.ui", "templates"),
            autoescape=jinja2.select_autoescape(["html"], default_for_string=True),
            undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True,
        )
        self.templates.filters.update(formatting.FILTERS)
        self.templates.globals.update(version=__version__, store_label=store_label, run_url=run_url,
                                      artifact_url=artifact_url, query_url=query_url)

    @contextlib.contextmanager
    def session(self) -> Iterator[ReadSession]:
        """The open read session, for one request at a time (opened on first use).

        Raises:
            PageError: the store cannot be opened or stopped answering; the
                session is dropped so that the next request opens it again.
        """
        with self._lock:
            try:
                if self._session is None:
                    self._session = self._open_session()
                yield self._session
            except StoreNotStartedError as error:
                self._drop()
                raise PageError(404, "Nothing is recorded in this store yet", str(error)) from None
            except _UNREACHABLE as error:
                self._drop()
                raise PageError(503, "The metadata store cannot be read", str(error)) from None

    def page(self, what: str, handler: Callable[[Request, ReadSession], Response]) -> Callable[[Request], Response]:
        """A route endpoint running `handler(request, session)`, with errors shown as pages.

        `what` names what the page shows ("run", "artifact") in its errors:
        an unknown name is 404, bad input 400, an unreachable store 503.
        """
        def endpoint(request: Request) -> Response:
            with self.session() as session:
                try:
                    return handler(request, session)
                except _UNREACHABLE:
                    raise  # the session's own handling: 503, and reopen next time
                except UnknownNameError as error:
                    raise PageError(404, f"No such {what}", _message(error)) from None
                except ConfigError as error:
                    raise PageError(400, "Bad request", str(error)) from None
                except ZenMLMDError as error:
                    raise PageError(500, f"The {what} cannot be shown", str(error)) from None
        endpoint.__name__ = getattr(handler, "__name__", "page")
        return endpoint

    def _drop(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            with contextlib.suppress(Exception):
                session.store.close()

    def close(self) -> None:
        with self._lock:
            self._drop()

    def render(self, request: Request, template: str, http_status: int = 200, **context) -> HTMLResponse:
        page = self.templates.get_template(template)
        html = page.render(request=request, **context)
        return HTMLResponse(html, status_code=http_status)


def run_url(name: str, **params) -> str:
    """The address of a run's page (run names may hold any character)."""
    return query_url(f"/runs/{quote(name, safe=':@')}", **params)


def artifact_url(artifact_id: int, **params) -> str:
    return query_url(f"/artifacts/{int(artifact_id)}", **params)


def query_url(path: str, **params) -> str:
    """`path` with the query parameters whose values are not empty (lists repeat the name)."""
    pairs = [(key, item) for key, value in params.items()
             for item in (value if isinstance(value, (list, tuple)) else [value])
             if item not in (None, "", False)]
    return f"{path}?{urlencode(pairs)}" if pairs else path


def create_app(open_session: Callable[[], ReadSession], *, store_label: str = "metadata store",
               allowed_hosts: Sequence[str] = LOOPBACK_HOSTS) -> Starlette:
    """The web app over the store `open_session` opens (read-only).

    Args:
        open_session: returns a `ReadSession`; it should open the store
            read-only (`zen_mlmd.post_execution.session.open_named_session` does).
        store_label: how the pages name the store.
        allowed_hosts: Host header values accepted (others get 400).
    """
    from zen_mlmd.ui import artifact_pages, compare_page, run_pages

    state = UIState(open_session, store_label)
    routes = [
        Route("/", lambda request: RedirectResponse("/runs", status_code=307)),
        *run_pages.routes(state),
        *artifact_pages.routes(state),
        *compare_page.routes(state),
        Mount("/static", app=StaticFiles(packages=[("zen_mlmd.ui", "static")]), name="static"),
    ]

    async def page_error(request: Request, error: PageError) -> Response:
        return state.render(request, "error.html", http_status=error.status, title=error.title,
                            message=error.message)

    @contextlib.asynccontextmanager
    async def lifespan(app):
        yield
        state.close()

    app = Starlette(
        routes=routes,
        middleware=[Middleware(TrustedHostMiddleware, allowed_hosts=list(allowed_hosts)),
                    Middleware(SecurityHeaders)],
        exception_handlers={PageError: page_error},
        lifespan=lifespan,
    )

    app.state.ui = state
    return app


def _message(error: UnknownNameError) -> str:
    return error.args[0] if error.args and isinstance(error.args[0], str) else str(error)
