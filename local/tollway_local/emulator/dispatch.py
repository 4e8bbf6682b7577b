"""DynamoDB's JSON calls dispatched to moto's handler without flask, and two lookups moto's server
repeats for every request answered once per input.

Routing a request to a service in moto 5.2.5's server costs more than some API calls:

- `DomainDispatcherApplication.get_backend_for_host` asks `host in backends.list_of_moto_modules()`,
  which lists moto's package directory and stats every entry in it (a `listdir` and dozens of
  `isdir` calls per request), then tries each service's URL regex. Its answer depends only on the
  host string (moto's package directory and URL patterns do not change while the process runs), so
  `install()` keeps the answers per host. An unknown host (answer None) is not kept: moto prints its
  hint for an unrecognised `amazonaws.com` host every time, as it would.
- `BaseResponse.call_action` calls `method_names_from_class(self.__class__)`, an
  `inspect.getmembers` walk of the whole response class, to decide whether an action exists. The
  answer depends only on the class (moto does not add methods to its response classes at run time),
  so `install()` keeps it per class.

- flask then wraps moto's handler in a request context (URL matching, session, signals, hooks) to
  call one view, `convert_to_flask_response(DynamoHandler.dispatch)`, and its only after-request hook
  (flask-cors) adds `Access-Control-Allow-Origin: *`. For the calls every AWS SDK makes (a POST to
  `/` with `X-Amz-Target: DynamoDB_20120810.*`, routed by moto to its DynamoDB app, no `Origin` and
  no private-network preflight header), `install()` makes `DomainDispatcherApplication.__call__` do
  what that view does, directly: the same request class built from the same environ, moto's
  recorder hook, `DynamoHandler.dispatch(request, raw_url, headers)` (a botocore `ClientError`
  becomes moto's 400), the same flask `Response` class built from moto's status, headers and body,
  the header flask-cors adds for such a request (unless moto set it), and the response's own WSGI
  call. So status, headers (their order too), body, `x-amzn-requestid` and `x-amz-crc32` are what
  moto and flask send; an exception moto does not turn into an answer propagates to the server as
  it does through flask in debug mode (moto's apps run with `debug = True`), and an HTTP exception
  gets flask's own handling (a request context is pushed for that answer only). Anything else, and any
  app whose hooks or URL map are not exactly moto's (e.g. `DISABLE_GLOBAL_CORS`), goes through flask
  as before.

Everything else in moto's dispatch is unchanged, including `BaseResponse.dispatch`, which parses the
request and serialises the answer.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

import moto.core.responses as core_responses
from botocore.exceptions import ClientError
from flask import Response as FlaskResponse
from moto.moto_api import recorder
from moto.moto_server.werkzeug_app import DomainDispatcherApplication
from werkzeug.exceptions import HTTPException

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["counts", "install", "installed", "uninstall"]

_TARGET_PREFIX = "DynamoDB_20120810."
_ENDPOINT = "DynamoHandler.dispatch"
_CORS_ORIGIN = "Access-Control-Allow-Origin"

_original_backend_for_host: Callable[..., Any] | None = None
_original_method_names: Callable[[object], list[str]] | None = None
_hosts: dict[str, Any] = {}
_method_names: dict[type, tuple[str, ...]] = {}
_original_call: Callable[..., Any] | None = None
_direct_views: dict[int, tuple[Any, Any]] = {}  # id(flask app) -> (the app, its view), or (app, None)
_counts = {"direct": 0, "flask": 0}


def _wrap_backend_for_host(original: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(original)
    def get_backend_for_host(self: DomainDispatcherApplication, host: str | None) -> Any:
        if type(host) is not str:
            return original(self, host)
        backend = _hosts.get(host)
        if backend is None:
            backend = original(self, host)
            if backend is not None:
                _hosts[host] = backend
        return backend

    return get_backend_for_host


def _wrap_method_names(original: Callable[[object], list[str]]) -> Callable[[object], list[str]]:
    @functools.wraps(original)
    def method_names_from_class(clazz: object) -> list[str]:
        if not isinstance(clazz, type):
            return original(clazz)
        names = _method_names.get(clazz)
        if names is None:
            names = _method_names[clazz] = tuple(original(clazz))
        return list(names)  # a fresh list, as moto's returns one

    return method_names_from_class


def _direct_candidate(environ: dict[str, Any]) -> bool:
    """A DynamoDB JSON call as SDKs send it: the shape the direct path is checked for."""
    return (
        environ.get("REQUEST_METHOD") == "POST"
        and environ.get("PATH_INFO") == "/"
        and not environ.get("SCRIPT_NAME")
        and str(environ.get("HTTP_X_AMZ_TARGET", "")).startswith(_TARGET_PREFIX)
        and "HTTP_ORIGIN" not in environ
        and "HTTP_ACCESS_CONTROL_REQUEST_PRIVATE_NETWORK" not in environ
    )


def _view_of(app: Any) -> Any:
    """moto's DynamoDB view in `app` if flask would do nothing but call it and add flask-cors' header."""
    kept = _direct_views.get(id(app))
    if kept is not None and kept[0] is app:
        return kept[1]
    view = None
    try:
        after = app.after_request_funcs
        hooks_are_moto = (
            getattr(app, "service", None) == "dynamodb"
            and list(after) == [None]
            and [f.__name__ for f in after[None]] == ["cors_after_request"]
            and not any(app.before_request_funcs.values())
            and not any(app.url_value_preprocessors.values())
            and not any(app.teardown_request_funcs.values())
            and app.url_map.bind("").match("/", method="POST") == (_ENDPOINT, {})
            and app.response_class is FlaskResponse
        )
        if hooks_are_moto:
            view = app.view_functions[_ENDPOINT]
            if not callable(getattr(view, "callback", None)):
                view = None
    except Exception:  # an app shaped differently: flask handles it
        view = None
    _direct_views[id(app)] = (app, view)
    return view


def _dispatch_directly(app: Any, view: Any, environ: dict[str, Any], start_response: Any) -> Any:
    """What flask, `convert_to_flask_response` and flask-cors do for such a call, without flask."""
    request = app.request_class(environ)
    try:
        recorder._record_request(request)
        result = view.callback(request, request.raw_url, dict(request.headers))
    except ClientError as exc:
        result = 400, {}, exc.response["Error"]["Message"]
    except HTTPException as exc:
        return _as_flask_answers(app, exc, environ, start_response)
    if len(result) == 3:
        status, headers, content = result
    else:
        status, headers, content = 200, {}, result
    response = FlaskResponse(response=content, status=status, headers=headers)
    if not response.headers.get(_CORS_ORIGIN):
        response.headers.add(_CORS_ORIGIN, "*")
    return response(environ, start_response)


def _as_flask_answers(app: Any, exc: HTTPException, environ: dict[str, Any], start_response: Any) -> Any:
    """An HTTP exception escaping moto's handler (not seen for DynamoDB's JSON calls): flask's own
    handling, in a request context pushed for this one answer (its error page, or its re-raise)."""
    with app.request_context(environ):
        response = app.finalize_request(app.handle_user_exception(exc))
    return response(environ, start_response)


def _wrap_call(original: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(original)
    def __call__(self: DomainDispatcherApplication, environ: dict[str, Any], start_response: Any) -> Any:
        if _direct_candidate(environ):
            app = self.get_application(environ)
            view = _view_of(app)
            if view is not None:
                _counts["direct"] += 1
                return _dispatch_directly(app, view, environ, start_response)
            _counts["flask"] += 1
            return app(environ, start_response)
        _counts["flask"] += 1
        return original(self, environ, start_response)

    return __call__


def counts() -> dict[str, int]:
    """Requests dispatched directly and through flask since the process started."""
    return dict(_counts)


def install() -> None:
    """Keep moto's per-host backend and per-class method-name answers (`uninstall()` reverts)."""
    global _original_backend_for_host, _original_method_names, _original_call
    if _original_backend_for_host is not None:
        return
    _original_call = DomainDispatcherApplication.__call__
    DomainDispatcherApplication.__call__ = _wrap_call(_original_call)  # type: ignore[method-assign]
    _original_backend_for_host = DomainDispatcherApplication.get_backend_for_host
    _original_method_names = core_responses.method_names_from_class  # type: ignore[attr-defined]
    DomainDispatcherApplication.get_backend_for_host = _wrap_backend_for_host(  # type: ignore[method-assign]
        _original_backend_for_host
    )
    core_responses.method_names_from_class = _wrap_method_names(  # type: ignore[attr-defined,assignment]
        _original_method_names
    )


def uninstall() -> None:
    global _original_backend_for_host, _original_method_names, _original_call
    if _original_backend_for_host is None or _original_method_names is None or _original_call is None:
        return
    DomainDispatcherApplication.__call__ = _original_call  # type: ignore[method-assign]
    DomainDispatcherApplication.get_backend_for_host = _original_backend_for_host  # type: ignore[method-assign]
    core_responses.method_names_from_class = _original_method_names  # type: ignore[attr-defined,assignment]
    _original_backend_for_host = _original_method_names = _original_call = None
    _hosts.clear()
    _method_names.clear()
    _direct_views.clear()


def installed() -> bool:
    return _original_backend_for_host is not None
