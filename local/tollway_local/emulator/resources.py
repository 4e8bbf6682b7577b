"""Create the template's tables, buckets and topics through the public AWS API.

Works against anything that speaks the API: the emulator process, an in-process `moto.mock_aws`,
or (carefully) a real account. Idempotent: existing resources are left alone, so it is safe to run
at every start.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from tollway_local.emulator.template import bucket_names, table_definitions, topic_names

__all__ = ["CreatedResources", "create_resources"]


@dataclass(frozen=True, slots=True)
class CreatedResources:
    """What `create_resources` created (resources that already existed are not listed)."""

    tables: list[str] = field(default_factory=list)
    buckets: list[str] = field(default_factory=list)
    topics: list[str] = field(default_factory=list)


def _client(session_or_clients: Any, service: str) -> Any:
    if isinstance(session_or_clients, Mapping):
        return session_or_clients[service]
    return session_or_clients.client(service)


def create_resources(session_or_clients: Any, template: Mapping[str, Any]) -> CreatedResources:
    """Create every table (with its TTL setting), bucket and topic the template defines.

    `session_or_clients` is a `boto3.Session` (clients are made from it) or a mapping of service name
    (`"dynamodb"`, `"s3"`, `"sns"`) to client; only the services the template needs are looked up.

    Raises:
        TemplateError: a table definition cannot be derived from the template.
        botocore.exceptions.ClientError: the API refused a call.
    """
    tables = table_definitions(template)
    buckets = bucket_names(template)
    topics = topic_names(template)
    created = CreatedResources()
    if tables:
        created.tables.extend(_create_tables(_client(session_or_clients, "dynamodb"), tables))
    if buckets:
        created.buckets.extend(_create_buckets(_client(session_or_clients, "s3"), buckets))
    if topics:
        sns = _client(session_or_clients, "sns")
        existing = {arn.rsplit(":", 1)[-1] for arn in _topic_arns(sns)}
        for name in topics:
            if name not in existing:
                sns.create_topic(Name=name)
                created.topics.append(name)
    return created


def _create_tables(dynamodb: Any, definitions: list[dict[str, Any]]) -> list[str]:
    existing: set[str] = set()
    for page in dynamodb.get_paginator("list_tables").paginate():
        existing.update(page.get("TableNames", []))
    created: list[str] = []
    for definition in definitions:
        kwargs = dict(definition)
        ttl = kwargs.pop("TimeToLiveSpecification", None)
        name = kwargs["TableName"]
        if name not in existing:
            dynamodb.create_table(**kwargs)
            created.append(name)
        if ttl is not None:
            current = dynamodb.describe_time_to_live(TableName=name).get("TimeToLiveDescription", {})
            wanted_status = "ENABLED" if ttl["Enabled"] else "DISABLED"
            if current.get("TimeToLiveStatus") != wanted_status or current.get("AttributeName") != ttl["AttributeName"]:
                dynamodb.update_time_to_live(TableName=name, TimeToLiveSpecification=ttl)
    return created


def _create_buckets(s3: Any, names: list[str]) -> list[str]:
    existing = {bucket["Name"] for bucket in s3.list_buckets().get("Buckets", [])}
    region = s3.meta.region_name
    created: list[str] = []
    for name in names:
        if name in existing:
            continue
        if region and region != "us-east-1":
            s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": region})
        else:
            s3.create_bucket(Bucket=name)
        created.append(name)
    return created


def _topic_arns(sns: Any) -> list[str]:
    arns: list[str] = []
    for page in sns.get_paginator("list_topics").paginate():
        arns.extend(topic["TopicArn"] for topic in page.get("Topics", []))
    return arns
