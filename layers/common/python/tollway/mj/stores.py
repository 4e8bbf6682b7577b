"""The Midjourney relay's storage, bundled for ``Services.mj``: the task store, the operator's MJ
options, the signing master secret and the relay-mode image copies — each on AWS and in memory."""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from botocore.exceptions import ClientError

from tollway.dynamo import S, error_code, retry_store
from tollway.mj.ports import TaskStore

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_secretsmanager import SecretsManagerClient

    from tollway.memory.backend import MemoryBackend

__all__ = [
    "DynamoKeySettings",
    "DynamoOptions",
    "ImageStore",
    "KeySettings",
    "MemoryKeySettings",
    "MemoryImages",
    "MemoryOptions",
    "MemoryVault",
    "MjStores",
    "OptionsStore",
    "S3Images",
    "SecretsManagerVault",
    "Vault",
]

_OPTIONS_KEY = ("mj", "settings")


class OptionsStore(Protocol):
    def get(self) -> dict[str, Any]:
        """The operator's MJ options (``{}`` when none were set)."""

    def put(self, options: dict[str, Any]) -> None: ...


class Vault(Protocol):
    def get_or_create(self, name: str) -> str:
        """The secret ``name``; created with a random value if missing. Two callers racing to create it
        end up with the same value (create-only, then read)."""


class KeySettings(Protocol):
    def update(self, key_hash: str, changes: dict[str, Any]) -> dict[str, Any]:
        """Merge ``changes`` into a key's ``settings`` (a None value removes the entry); the new settings.

        Raises:
            LookupError: no such key.
        """


class ImageStore(Protocol):
    def put(self, key: str, body: bytes, content_type: str) -> None: ...

    def get(self, key: str) -> tuple[bytes, str] | None:
        """The object and its content type, or None."""


@dataclass
class MjStores:
    tasks: TaskStore
    options: OptionsStore
    vault: Vault
    images: ImageStore | None  # None: no bucket configured (relay mode then proxies live)
    key_settings: KeySettings


# ---- options: one item of the config table (pk "mj", sk "settings"), JSON in ``data`` -------------


class DynamoOptions:
    def __init__(self, client: DynamoDBClient, table: str) -> None:
        self._c = client
        self._table = table

    def _key(self) -> dict[str, Any]:
        return {"pk": S(_OPTIONS_KEY[0]), "sk": S(_OPTIONS_KEY[1])}

    def get(self) -> dict[str, Any]:
        item = retry_store(lambda: self._c.get_item(TableName=self._table, Key=self._key())).get("Item")
        data: dict[str, Any] = json.loads(item["data"]["S"]) if item else {}
        return data

    def put(self, options: dict[str, Any]) -> None:
        item = {**self._key(), "data": S(json.dumps(options, separators=(",", ":")))}
        retry_store(lambda: self._c.put_item(TableName=self._table, Item=item))


class MemoryOptions:
    def __init__(self, backend: MemoryBackend) -> None:
        self._b = backend

    def get(self) -> dict[str, Any]:
        with self._b.lock:
            entry = self._b.config.get(_OPTIONS_KEY)
        data: dict[str, Any] = json.loads(str(entry["data"])) if entry else {}
        return data

    def put(self, options: dict[str, Any]) -> None:
        with self._b.lock:
            self._b.config[_OPTIONS_KEY] = {"data": json.dumps(options)}


# ---- a key's MJ defaults, kept in its open ``settings`` map ----------------------------------------
# (KeyChanges in tollway.accounts has no field for ``settings`` yet; this writes that one attribute.)


def _merged(old: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    new = dict(old)
    for name, value in changes.items():
        if value is None:
            new.pop(name, None)
        else:
            new[name] = value
    return new


class DynamoKeySettings:
    def __init__(self, client: DynamoDBClient, keys_table: str) -> None:
        self._c = client
        self._table = keys_table

    def update(self, key_hash: str, changes: dict[str, Any]) -> dict[str, Any]:
        key = {"key_hash": S(key_hash)}
        for _ in range(5):
            item = retry_store(lambda: self._c.get_item(TableName=self._table, Key=key, ConsistentRead=True)).get(
                "Item"
            )
            if item is None:
                raise LookupError(key_hash)
            old_text = item.get("settings", {}).get("S")
            new = _merged(json.loads(old_text or "{}"), changes)
            values: dict[str, Any] = {":new": S(json.dumps(new, separators=(",", ":")))}
            if old_text is None:
                condition = "attribute_exists(key_hash) AND attribute_not_exists(settings)"
            else:
                condition = "attribute_exists(key_hash) AND settings = :old"
                values[":old"] = S(old_text)
            try:
                retry_store(
                    lambda c=condition, v=values: self._c.update_item(  # type: ignore[misc]
                        TableName=self._table,
                        Key=key,
                        UpdateExpression="SET settings = :new",
                        # the settings are still the ones read (another change in between: read again)
                        ConditionExpression=c,
                        ExpressionAttributeValues=v,
                    )
                )
            except ClientError as exc:
                if error_code(exc) == "ConditionalCheckFailedException":
                    continue
                raise
            return new
        raise RuntimeError("the key's settings kept changing; try again")


class MemoryKeySettings:
    def __init__(self, backend: MemoryBackend) -> None:
        self._b = backend

    def update(self, key_hash: str, changes: dict[str, Any]) -> dict[str, Any]:
        import dataclasses

        with self._b.lock:
            key = self._b.keys.get(key_hash)
            if key is None:
                raise LookupError(key_hash)
            new = _merged(key.settings, changes)
            self._b.keys[key_hash] = dataclasses.replace(key, settings=new)
            return new


# ---- the signing master secret ----------------------------------------------------------------


def _new_secret() -> str:
    return secrets.token_urlsafe(48)


class SecretsManagerVault:
    def __init__(self, client: SecretsManagerClient) -> None:
        self._c = client

    def get_or_create(self, name: str) -> str:
        for _ in range(3):
            try:
                return str(self._c.get_secret_value(SecretId=name)["SecretString"])
            except ClientError as exc:
                if error_code(exc) != "ResourceNotFoundException":
                    raise
            try:
                # Create-only: if another process won the race, its value is the one read next.
                self._c.create_secret(Name=name, SecretString=_new_secret())
            except ClientError as exc:
                if error_code(exc) != "ResourceExistsException":
                    raise
        raise RuntimeError(f"secret {name} could not be read or created")


class MemoryVault:
    def __init__(self, backend: MemoryBackend) -> None:
        self._b = backend

    def get_or_create(self, name: str) -> str:
        with self._b.lock:
            return self._b.secrets.setdefault(name, _new_secret())


# ---- relay-mode image copies -------------------------------------------------------------------


class S3Images:
    def __init__(self, client: S3Client, bucket: str) -> None:
        self._c = client
        self._bucket = bucket

    def put(self, key: str, body: bytes, content_type: str) -> None:
        self._c.put_object(Bucket=self._bucket, Key=key, Body=body, ContentType=content_type)

    def get(self, key: str) -> tuple[bytes, str] | None:
        try:
            response = self._c.get_object(Bucket=self._bucket, Key=key)
        except ClientError as exc:
            if error_code(exc) in ("NoSuchKey", "404", "NotFound"):
                return None
            raise
        return response["Body"].read(), str(response.get("ContentType") or "application/octet-stream")


class MemoryImages:
    def __init__(self) -> None:
        self._objects: dict[str, tuple[bytes, str]] = {}

    def put(self, key: str, body: bytes, content_type: str) -> None:
        self._objects[key] = (body, content_type)

    def get(self, key: str) -> tuple[bytes, str] | None:
        return self._objects.get(key)
