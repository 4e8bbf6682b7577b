"""Read the SAM/CloudFormation template and derive the local resources from it.

Tables, buckets and topics are taken from `template.yaml` itself so the local stack and the unit
tests cannot drift from what AWS gets. Local names are fixed, not the deployed ones:

- a table is named after its logical id (`AccountsTable`);
- a bucket after its logical id in lower case (`ExportBucket` -> `exportbucket`);
- a topic after its logical id (`AlertsTopic`).

Only the parts that shape data are read (keys, attribute types, indexes and their projections, the
TTL attribute). Capacity, encryption, PITR, stream and deletion settings do not matter to moto and
are ignored; billing is always PAY_PER_REQUEST. `Condition:` on a resource is ignored as well: every
table is created locally.

Nothing here imports moto or boto3, so it is cheap to import from unit tests.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

__all__ = [
    "TemplateError",
    "bucket_names",
    "load_template",
    "table_definitions",
    "topic_names",
]

TABLE_TYPE = "AWS::DynamoDB::Table"
BUCKET_TYPE = "AWS::S3::Bucket"
TOPIC_TYPE = "AWS::SNS::Topic"

# Short forms whose long form is not simply `Fn::<Name>`.
_SPECIAL_TAGS = {"Ref": "Ref", "Condition": "Condition"}


class TemplateError(ValueError):
    """The template cannot be read, or a table definition cannot be used locally."""


# libyaml's parser when PyYAML was built with it (its wheels are): the same safe constructors at a
# fraction of the CPU on template.yaml, which every emulator start (and every in-process moto test) parses.
try:
    from yaml import CSafeLoader as _SafeLoader
except ImportError:  # pragma: no cover - PyYAML built without libyaml
    from yaml import SafeLoader as _SafeLoader  # type: ignore[assignment]


class _TemplateLoader(_SafeLoader):
    """A safe YAML loader that turns every `!Tag` into its CloudFormation long form."""


def _construct_tagged(loader: yaml.SafeLoader, tag_suffix: str, node: yaml.Node) -> dict[str, Any]:
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    elif isinstance(node, yaml.MappingNode):
        value = loader.construct_mapping(node, deep=True)
    else:  # pragma: no cover - yaml has no other node kinds
        raise TemplateError(f"unsupported YAML node for !{tag_suffix}")
    if tag_suffix in _SPECIAL_TAGS:
        return {_SPECIAL_TAGS[tag_suffix]: value}
    if tag_suffix == "GetAtt" and isinstance(value, str):
        # `!GetAtt Res.Attr.Sub` -> ["Res", "Attr.Sub"], as CloudFormation splits it.
        resource, _, attribute = value.partition(".")
        return {"Fn::GetAtt": [resource, attribute]}
    return {f"Fn::{tag_suffix}": value}


# Every short form (`!Ref`, `!Sub`, `!GetAtt`, ... and any future one) goes through one constructor.
_TemplateLoader.add_multi_constructor("!", _construct_tagged)


def load_template(path: Path | str) -> dict[str, Any]:
    """Parse a template file, turning short-form intrinsics into `{"Fn::X": ...}` / `{"Ref": ...}` dicts.

    Raises:
        TemplateError: the file is missing, is not YAML, or is not a mapping.
    """
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise TemplateError(f"cannot read template {path}: {exc}") from exc
    try:
        # The loader is yaml.(C)SafeLoader plus tag constructors, so this is a safe load.
        document = yaml.load(text, Loader=_TemplateLoader)  # noqa: S506
    except yaml.YAMLError as exc:
        raise TemplateError(f"template {path} is not valid YAML: {exc}") from exc
    if not isinstance(document, dict):
        raise TemplateError(f"template {path} is not a mapping")
    return document


def _resources(template: Mapping[str, Any], resource_type: str) -> list[tuple[str, Mapping[str, Any]]]:
    resources = template.get("Resources") or {}
    if not isinstance(resources, Mapping):
        raise TemplateError("Resources is not a mapping")
    found: list[tuple[str, Mapping[str, Any]]] = []
    for logical_id, resource in resources.items():
        if isinstance(resource, Mapping) and resource.get("Type") == resource_type:
            properties = resource.get("Properties") or {}
            if not isinstance(properties, Mapping):
                raise TemplateError(f"{logical_id}: Properties is not a mapping")
            found.append((str(logical_id), properties))
    return found


def _literal(value: Any, where: str) -> Any:
    """Return `value` if it holds no intrinsic function; tables must be resolvable without a stack."""
    if isinstance(value, Mapping):
        if any(key == "Ref" or str(key).startswith("Fn::") or key == "Condition" for key in value):
            raise TemplateError(f"{where}: intrinsic functions are not supported in table schemas ({dict(value)})")
        return {str(key): _literal(item, f"{where}.{key}") for key, item in value.items()}
    if isinstance(value, list):
        return [_literal(item, f"{where}[{index}]") for index, item in enumerate(value)]
    return value


def _key_schema(raw: Any, where: str) -> list[dict[str, str]]:
    schema = _literal(raw, where)
    if not isinstance(schema, list) or not schema:
        raise TemplateError(f"{where}: KeySchema must be a non-empty list")
    result: list[dict[str, str]] = []
    for element in schema:
        if not isinstance(element, dict) or {"AttributeName", "KeyType"} - element.keys():
            raise TemplateError(f"{where}: each key needs AttributeName and KeyType")
        result.append({"AttributeName": str(element["AttributeName"]), "KeyType": str(element["KeyType"])})
    return result


def _projection(raw: Any, where: str) -> dict[str, Any]:
    projection = _literal(raw if raw is not None else {"ProjectionType": "ALL"}, where)
    if not isinstance(projection, dict) or "ProjectionType" not in projection:
        raise TemplateError(f"{where}: Projection needs a ProjectionType")
    result: dict[str, Any] = {"ProjectionType": str(projection["ProjectionType"])}
    if projection.get("NonKeyAttributes"):
        result["NonKeyAttributes"] = [str(name) for name in projection["NonKeyAttributes"]]
    return result


def _indexes(raw: Any, where: str) -> list[dict[str, Any]]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise TemplateError(f"{where} must be a list")
    indexes: list[dict[str, Any]] = []
    for position, index in enumerate(raw):
        here = f"{where}[{position}]"
        if not isinstance(index, Mapping) or "IndexName" not in index:
            raise TemplateError(f"{here}: an index needs an IndexName")
        name = _literal(index["IndexName"], f"{here}.IndexName")
        indexes.append(
            {
                "IndexName": str(name),
                "KeySchema": _key_schema(index.get("KeySchema"), f"{here}.KeySchema"),
                "Projection": _projection(index.get("Projection"), f"{here}.Projection"),
            }
        )
    return indexes


def _ttl(raw: Any, where: str) -> dict[str, Any] | None:
    if raw is None:
        return None
    spec = _literal(raw, where)
    if not isinstance(spec, dict) or "AttributeName" not in spec:
        raise TemplateError(f"{where}: TimeToLiveSpecification needs an AttributeName")
    enabled = spec.get("Enabled", True)
    if not isinstance(enabled, bool):
        raise TemplateError(f"{where}: Enabled must be a boolean")
    return {"AttributeName": str(spec["AttributeName"]), "Enabled": enabled}


def table_definitions(template: Mapping[str, Any]) -> list[dict[str, Any]]:
    """`create_table` keyword arguments for every `AWS::DynamoDB::Table`, in template order.

    Each dict has TableName (the logical id), KeySchema, AttributeDefinitions, BillingMode and, when
    the template has them, GlobalSecondaryIndexes / LocalSecondaryIndexes. The TTL setting is under
    `TimeToLiveSpecification` (not a `create_table` argument: pop it and pass it to
    `update_time_to_live`).

    Raises:
        TemplateError: a table's key schema, attribute definitions or indexes are missing, malformed
            or use intrinsic functions.
    """
    definitions: list[dict[str, Any]] = []
    for logical_id, properties in _resources(template, TABLE_TYPE):
        attributes = _literal(properties.get("AttributeDefinitions"), f"{logical_id}.AttributeDefinitions")
        if not isinstance(attributes, list) or not attributes:
            raise TemplateError(f"{logical_id}: AttributeDefinitions must be a non-empty list")
        definition: dict[str, Any] = {
            "TableName": logical_id,
            "KeySchema": _key_schema(properties.get("KeySchema"), f"{logical_id}.KeySchema"),
            "AttributeDefinitions": [
                {"AttributeName": str(item["AttributeName"]), "AttributeType": str(item["AttributeType"])}
                for item in attributes
            ],
            "BillingMode": "PAY_PER_REQUEST",
        }
        gsis = _indexes(properties.get("GlobalSecondaryIndexes"), f"{logical_id}.GlobalSecondaryIndexes")
        if gsis:
            definition["GlobalSecondaryIndexes"] = gsis
        lsis = _indexes(properties.get("LocalSecondaryIndexes"), f"{logical_id}.LocalSecondaryIndexes")
        if lsis:
            definition["LocalSecondaryIndexes"] = lsis
        ttl = _ttl(properties.get("TimeToLiveSpecification"), f"{logical_id}.TimeToLiveSpecification")
        if ttl is not None:
            definition["TimeToLiveSpecification"] = ttl
        _check_attributes_cover_keys(logical_id, definition)
        definitions.append(definition)
    return definitions


def _check_attributes_cover_keys(logical_id: str, definition: Mapping[str, Any]) -> None:
    defined = {item["AttributeName"] for item in definition["AttributeDefinitions"]}
    schemas = [definition["KeySchema"]]
    schemas += [index["KeySchema"] for index in definition.get("GlobalSecondaryIndexes", [])]
    schemas += [index["KeySchema"] for index in definition.get("LocalSecondaryIndexes", [])]
    for schema in schemas:
        for key in schema:
            if key["AttributeName"] not in defined:
                raise TemplateError(f"{logical_id}: key attribute {key['AttributeName']} has no AttributeDefinition")


def bucket_names(template: Mapping[str, Any]) -> list[str]:
    """Local names of the template's `AWS::S3::Bucket` resources: the logical id in lower case."""
    return [logical_id.lower() for logical_id, _ in _resources(template, BUCKET_TYPE)]


def topic_names(template: Mapping[str, Any]) -> list[str]:
    """Local names of the template's `AWS::SNS::Topic` resources: the logical id."""
    return [logical_id for logical_id, _ in _resources(template, TOPIC_TYPE)]
