"""Configuration on DynamoDB (``ConfigTable``: pk = kind, sk = id, ``data`` = JSON) and secrets on
Secrets Manager."""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from tollway.config.model import Channel, ChannelStatus, Group
from tollway.dynamo import S, error_code, retry_store
from tollway.pricing.markup import Markup
from tollway.pricing.schema import ModelPrice

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_secretsmanager import SecretsManagerClient

__all__ = ["DynamoConfig", "SecretsManagerStore"]


class DynamoConfig:
    """:class:`tollway.config.ConfigStore` on the config table."""

    def __init__(self, client: DynamoDBClient, table: str) -> None:
        self._c = client
        self._table = table

    def _query(self, kind: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        paginator = self._c.get_paginator("query")
        for page in paginator.paginate(
            TableName=self._table,
            KeyConditionExpression="pk = :k",
            ExpressionAttributeValues={":k": S(kind)},
            ConsistentRead=True,
        ):
            items.extend(page.get("Items", []))
        return items

    def list_channels(self) -> list[Channel]:
        return [Channel.from_json(json.loads(i["data"]["S"])) for i in self._query("channel")]

    def get_channel(self, channel_id: str) -> Channel | None:
        item = retry_store(
            lambda: self._c.get_item(
                TableName=self._table, Key={"pk": S("channel"), "sk": S(channel_id)}, ConsistentRead=True
            )
        ).get("Item")
        return None if item is None else Channel.from_json(json.loads(item["data"]["S"]))

    def put_channel(self, channel: Channel, *, create: bool) -> None:
        item = {
            "pk": S("channel"),
            "sk": S(channel.channel_id),
            "status": S(channel.status.value),
            "data": S(json.dumps(channel.to_json(), separators=(",", ":"))),
        }
        # create: a new id only; update: an existing one only (never resurrect a removed channel)
        condition = "attribute_not_exists(sk)" if create else "attribute_exists(sk)"
        try:
            retry_store(lambda: self._c.put_item(TableName=self._table, Item=item, ConditionExpression=condition))
        except ClientError as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                if create:
                    raise ValueError(f"channel {channel.channel_id} exists") from exc
                raise LookupError(channel.channel_id) from exc
            raise

    def delete_channel(self, channel_id: str) -> bool:
        response = retry_store(
            lambda: self._c.delete_item(
                TableName=self._table, Key={"pk": S("channel"), "sk": S(channel_id)}, ReturnValues="ALL_OLD"
            )
        )
        return "Attributes" in response

    def set_channel_status(
        self, channel_id: str, status: ChannelStatus, reason: str | None, *, only_if: ChannelStatus | None = None
    ) -> bool:
        channel = self.get_channel(channel_id)
        if channel is None or (only_if is not None and channel.status is not only_if):
            return False
        updated = channel.replace(status=status, disabled_reason=reason, status_changed_at=int(time.time() * 1000))
        values: dict[str, Any] = {
            ":st": S(status.value),
            ":data": S(json.dumps(updated.to_json(), separators=(",", ":"))),
            ":was": S(channel.status.value),
        }
        try:
            retry_store(
                lambda: self._c.update_item(
                    TableName=self._table,
                    Key={"pk": S("channel"), "sk": S(channel_id)},
                    UpdateExpression="SET #st = :st, #d = :data",
                    # the status we read is still current: concurrent disables record one reason
                    ConditionExpression="#st = :was",
                    ExpressionAttributeNames={"#st": "status", "#d": "data"},
                    ExpressionAttributeValues=values,
                )
            )
        except ClientError as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def list_prices(self) -> dict[str, ModelPrice]:
        return {i["sk"]["S"]: ModelPrice.model_validate_json(i["data"]["S"]) for i in self._query("price")}

    def put_price(self, model: str, price: ModelPrice) -> None:
        item = {"pk": S("price"), "sk": S(model), "data": S(price.model_dump_json(exclude_none=True))}
        retry_store(lambda: self._c.put_item(TableName=self._table, Item=item))

    def delete_price(self, model: str) -> bool:
        response = retry_store(
            lambda: self._c.delete_item(
                TableName=self._table, Key={"pk": S("price"), "sk": S(model)}, ReturnValues="ALL_OLD"
            )
        )
        return "Attributes" in response

    def list_markups(self) -> dict[str, Markup]:
        markups = (Markup.from_json(json.loads(i["data"]["S"])) for i in self._query("markup"))
        return {m.pattern: m for m in markups}

    def put_markup(self, markup: Markup) -> None:
        item = {"pk": S("markup"), "sk": S(markup.pattern), "data": S(json.dumps(markup.to_json()))}
        retry_store(lambda: self._c.put_item(TableName=self._table, Item=item))

    def delete_markup(self, pattern: str) -> bool:
        response = retry_store(
            lambda: self._c.delete_item(
                TableName=self._table, Key={"pk": S("markup"), "sk": S(pattern)}, ReturnValues="ALL_OLD"
            )
        )
        return "Attributes" in response

    def list_groups(self) -> dict[str, Group]:
        groups = (Group.from_json(json.loads(i["data"]["S"])) for i in self._query("group"))
        return {g.name: g for g in groups}

    def put_group(self, group: Group) -> None:
        item = {"pk": S("group"), "sk": S(group.name), "data": S(json.dumps(group.to_json()))}
        retry_store(lambda: self._c.put_item(TableName=self._table, Item=item))

    def delete_group(self, name: str) -> bool:
        response = retry_store(
            lambda: self._c.delete_item(
                TableName=self._table, Key={"pk": S("group"), "sk": S(name)}, ReturnValues="ALL_OLD"
            )
        )
        return "Attributes" in response

    def get_state(self, name: str) -> dict[str, Any] | None:
        item = retry_store(
            lambda: self._c.get_item(TableName=self._table, Key={"pk": S("state"), "sk": S(name)}, ConsistentRead=True)
        ).get("Item")
        return None if item is None else dict(json.loads(item["data"]["S"]))

    def put_state(self, name: str, data: dict[str, Any]) -> None:
        item = {"pk": S("state"), "sk": S(name), "data": S(json.dumps(data, separators=(",", ":")))}
        retry_store(lambda: self._c.put_item(TableName=self._table, Item=item))

    @property
    def client(self) -> DynamoDBClient:
        return self._c

    @property
    def table(self) -> str:
        return self._table


class SecretsManagerStore:
    """:class:`tollway.config.SecretStore` on Secrets Manager (names are prefixed by the caller)."""

    def __init__(self, client: SecretsManagerClient) -> None:
        self._c = client

    def get(self, name: str) -> str | None:
        try:
            return self._c.get_secret_value(SecretId=name).get("SecretString")
        except ClientError as exc:
            if error_code(exc) == "ResourceNotFoundException":
                return None
            raise

    def put(self, name: str, value: str) -> None:
        try:
            self._c.put_secret_value(SecretId=name, SecretString=value)
        except ClientError as exc:
            if error_code(exc) != "ResourceNotFoundException":
                raise
            self._c.create_secret(Name=name, SecretString=value)

    def delete(self, name: str) -> None:
        try:
            self._c.delete_secret(SecretId=name, ForceDeleteWithoutRecovery=True)
        except ClientError as exc:
            if error_code(exc) != "ResourceNotFoundException":
                raise
