"""Small validators shared by the endpoint modules (each raises InvalidRequest naming the field)."""

from __future__ import annotations

from typing import Any

from tollway.errors import InvalidRequest

__all__ = ["json_object", "optional_bool", "optional_int", "require_model", "text_inputs"]


def json_object(data: Any) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise InvalidRequest("The request body must be a JSON object.")
    return data


def require_model(body: dict[str, Any], default: str | None = None) -> str:
    model = body.get("model")
    if model is None:
        model = default
    if not isinstance(model, str) or not model:
        raise InvalidRequest("'model' is required and must be a string.", param="model", code="missing_model")
    return model


def optional_int(body: dict[str, Any], name: str, *, minimum: int = 1, maximum: int | None = None) -> int | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise InvalidRequest(f"'{name}' must be an integer of at least {minimum}.", param=name, code="invalid_value")
    if maximum is not None and value > maximum:
        raise InvalidRequest(f"'{name}' must be at most {maximum}.", param=name, code="invalid_value")
    return value


def optional_bool(body: dict[str, Any], name: str) -> bool:
    value = body.get(name, False)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise InvalidRequest(f"'{name}' must be a boolean.", param=name)
    return value


def text_inputs(value: Any, name: str) -> tuple[list[str], int]:
    """An OpenAI ``input``/``prompt``: a string, a list of strings, a token array or a list of token arrays.

    Returns the strings and the number of tokens given as token arrays.

    Raises:
        InvalidRequest: anything else, or an empty input.
    """
    if isinstance(value, str):
        return [value], 0
    if not isinstance(value, list) or not value:
        raise InvalidRequest(f"'{name}' must be a string or a non-empty array.", param=name)
    if all(isinstance(v, str) for v in value):
        return list(value), 0
    if all(_token(v) for v in value):
        return [], len(value)
    if all(isinstance(v, list) and v and all(_token(t) for t in v) for v in value):
        return [], sum(len(v) for v in value)
    raise InvalidRequest(
        f"'{name}' must be a string, an array of strings, an array of tokens or an array of token arrays.",
        param=name,
    )


def _token(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0
