"""OpenAI's OpenAPI description (tests/data/openai-openapi/openapi.yaml) as JSON-schema validators.

The document says `openapi: 3.1.0` but still marks many fields with 3.0's `nullable: true`, which a
3.1 validator ignores; `_with_nulls` rewrites each such schema to also accept null — the meaning the
document intends (OpenAI's own SDKs are generated the same way). Nothing else is changed.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import yaml
from openapi_schema_validator import OAS31Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

SPEC_PATH = Path(__file__).resolve().parents[1] / "data" / "openai-openapi" / "openapi.yaml"
_URI = "urn:tollway:openai-openapi"


def _with_nulls(node: Any) -> Any:
    if isinstance(node, list):
        return [_with_nulls(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: _with_nulls(value) for key, value in node.items()}
    if out.pop("nullable", False) is True:
        kind = out.get("type")
        if isinstance(kind, str):
            out["type"] = [kind, "null"]
        elif isinstance(kind, list) and "null" not in kind:
            out["type"] = [*kind, "null"]
        if isinstance(out.get("enum"), list) and None not in out["enum"]:
            out["enum"] = [*out["enum"], None]
        if kind is None:
            out = {"anyOf": [out, {"type": "null"}]}
    return out


@functools.cache
def spec() -> dict[str, Any]:
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    with SPEC_PATH.open("rb") as handle:
        document: dict[str, Any] = yaml.load(handle, Loader=loader)  # noqa: S506 - a safe loader
    return _with_nulls(document)  # type: ignore[no-any-return]


@functools.cache
def _registry() -> Registry[Any]:
    resource: Resource[Any] = Resource.from_contents(spec(), default_specification=DRAFT202012)
    return Registry().with_resource(_URI, resource)


def schema_errors(component: str, instance: Any) -> list[str]:
    """Every way `instance` breaks `#/components/schemas/<component>`, as "path: message" lines."""
    if component not in spec()["components"]["schemas"]:
        raise KeyError(f"no schema {component!r} in the OpenAPI description")
    validator = OAS31Validator({"$ref": f"{_URI}#/components/schemas/{component}"}, registry=_registry())
    errors = sorted(validator.iter_errors(instance), key=lambda e: [str(p) for p in e.absolute_path])
    return [f"{'/'.join(str(p) for p in e.absolute_path) or '<root>'}: {e.message[:300]}" for e in errors]
