"""Template parsing and resource creation (in-process moto, no server)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws
from tollway_local.emulator import (
    TemplateError,
    bucket_names,
    create_resources,
    load_template,
    table_definitions,
    topic_names,
)

ROOT = Path(__file__).resolve().parents[4]
TEMPLATE = ROOT / "template.yaml"

EVERY_SHORT_FORM = """
AWSTemplateFormatVersion: "2010-09-09"
Conditions:
  IsProd: !Equals [!Ref Stage, prod]
  Both: !And [!Condition IsProd, !Not [!Equals [!Ref Stage, dev]]]
  Either: !Or [!Condition IsProd, !Condition Both]
Resources:
  OrdersTable:
    Type: AWS::DynamoDB::Table
    Condition: IsProd
    Properties:
      TableName: !Sub "${AWS::StackName}-orders"
      BillingMode: !If [IsProd, PAY_PER_REQUEST, PROVISIONED]
      SSESpecification: {SSEEnabled: !If [IsProd, true, false]}
      AttributeDefinitions:
        - {AttributeName: pk, AttributeType: S}
        - {AttributeName: sk, AttributeType: N}
        - {AttributeName: owner, AttributeType: S}
      KeySchema:
        - {AttributeName: pk, KeyType: HASH}
        - {AttributeName: sk, KeyType: RANGE}
      GlobalSecondaryIndexes:
        - IndexName: by_owner
          KeySchema: [{AttributeName: owner, KeyType: HASH}]
          Projection: {ProjectionType: INCLUDE, NonKeyAttributes: [total]}
      TimeToLiveSpecification: {AttributeName: ttl, Enabled: true}
  Files:
    Type: AWS::S3::Bucket
    Properties:
      BucketName: !Join ["-", [!Ref AWS::StackName, !Select [0, !Split ["-", !Ref AWS::Region]]]]
  Alerts:
    Type: AWS::SNS::Topic
    Properties:
      TopicName: !Sub ["${Name}-alerts", {Name: !FindInMap [Names, !Ref AWS::Region, short]}]
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      Environment:
        Variables:
          TABLE: !GetAtt OrdersTable.Arn
          NESTED: !GetAtt OrdersTable.StreamSpecification.StreamArn
          IMPORTED: !ImportValue shared-vpc
          BLOB: !Base64 "hello"
          CIDRS: !Cidr [10.0.0.0/16, 4, 8]
          AZ: !Select [0, !GetAZs ""]
          FUTURE: !SomethingNew {a: 1}
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "template.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_load_template_turns_every_short_form_into_its_long_form(tmp_path: Path) -> None:
    template = load_template(_write(tmp_path, EVERY_SHORT_FORM))

    conditions = template["Conditions"]
    assert conditions["IsProd"] == {"Fn::Equals": [{"Ref": "Stage"}, "prod"]}
    assert conditions["Both"]["Fn::And"][0] == {"Condition": "IsProd"}
    assert conditions["Both"]["Fn::And"][1] == {"Fn::Not": [{"Fn::Equals": [{"Ref": "Stage"}, "dev"]}]}
    assert conditions["Either"] == {"Fn::Or": [{"Condition": "IsProd"}, {"Condition": "Both"}]}
    variables = template["Resources"]["Fn"]["Properties"]["Environment"]["Variables"]
    assert variables["TABLE"] == {"Fn::GetAtt": ["OrdersTable", "Arn"]}
    assert variables["NESTED"] == {"Fn::GetAtt": ["OrdersTable", "StreamSpecification.StreamArn"]}
    assert variables["IMPORTED"] == {"Fn::ImportValue": "shared-vpc"}
    assert variables["BLOB"] == {"Fn::Base64": "hello"}
    assert variables["CIDRS"] == {"Fn::Cidr": ["10.0.0.0/16", 4, 8]}
    assert variables["AZ"] == {"Fn::Select": [0, {"Fn::GetAZs": ""}]}
    assert variables["FUTURE"] == {"Fn::SomethingNew": {"a": 1}}
    topic = template["Resources"]["Alerts"]["Properties"]["TopicName"]
    assert topic == {
        "Fn::Sub": ["${Name}-alerts", {"Name": {"Fn::FindInMap": ["Names", {"Ref": "AWS::Region"}, "short"]}}]
    }


def test_table_definitions_use_the_logical_id_and_only_the_data_shape(tmp_path: Path) -> None:
    template = load_template(_write(tmp_path, EVERY_SHORT_FORM))

    assert table_definitions(template) == [
        {
            "TableName": "OrdersTable",
            "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
            "AttributeDefinitions": [
                {"AttributeName": "pk", "AttributeType": "S"},
                {"AttributeName": "sk", "AttributeType": "N"},
                {"AttributeName": "owner", "AttributeType": "S"},
            ],
            "BillingMode": "PAY_PER_REQUEST",
            "GlobalSecondaryIndexes": [
                {
                    "IndexName": "by_owner",
                    "KeySchema": [{"AttributeName": "owner", "KeyType": "HASH"}],
                    "Projection": {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["total"]},
                }
            ],
            "TimeToLiveSpecification": {"AttributeName": "ttl", "Enabled": True},
        }
    ]
    assert bucket_names(template) == ["files"]
    assert topic_names(template) == ["Alerts"]


@pytest.mark.parametrize(
    ("schema_yaml", "message"),
    [
        ("KeySchema: [{AttributeName: !Ref KeyName, KeyType: HASH}]", "intrinsic functions are not supported"),
        ("KeySchema: []", "KeySchema must be a non-empty list"),
        ("KeySchema: [{AttributeName: other, KeyType: HASH}]", "has no AttributeDefinition"),
    ],
)
def test_table_definitions_reject_schemas_that_cannot_be_built_locally(
    tmp_path: Path, schema_yaml: str, message: str
) -> None:
    text = f"""
Resources:
  T:
    Type: AWS::DynamoDB::Table
    Properties:
      AttributeDefinitions: [{{AttributeName: pk, AttributeType: S}}]
      {schema_yaml}
"""
    with pytest.raises(TemplateError, match=message):
        table_definitions(load_template(_write(tmp_path, text)))


def test_load_template_reports_missing_and_malformed_files(tmp_path: Path) -> None:
    with pytest.raises(TemplateError, match="cannot read template"):
        load_template(tmp_path / "absent.yaml")
    with pytest.raises(TemplateError, match="not valid YAML"):
        load_template(_write(tmp_path, "Resources: [unclosed"))
    with pytest.raises(TemplateError, match="not a mapping"):
        load_template(_write(tmp_path, "- a list"))


def _by_name(definitions: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {definition["TableName"]: definition for definition in definitions}


def test_the_real_template_defines_the_ledger_tables() -> None:
    tables = _by_name(table_definitions(load_template(TEMPLATE)))

    assert {"AccountsTable", "KeysTable", "HoldsTable", "LedgerTable", "UsageTable", "ConfigTable"} <= set(tables)
    assert tables["AccountsTable"]["KeySchema"] == [{"AttributeName": "account_id", "KeyType": "HASH"}]
    keys_indexes = {index["IndexName"]: index for index in tables["KeysTable"]["GlobalSecondaryIndexes"]}
    assert keys_indexes["by_key_id"]["Projection"] == {"ProjectionType": "KEYS_ONLY"}
    assert [key["AttributeName"] for key in keys_indexes["by_account"]["KeySchema"]] == ["account_id", "key_id"]
    usage = tables["UsageTable"]
    assert usage["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}
    assert sorted(index["IndexName"] for index in usage["GlobalSecondaryIndexes"]) == ["by_day"]
    assert all(definition["BillingMode"] == "PAY_PER_REQUEST" for definition in tables.values())


def _describe(client: Any, name: str) -> dict[str, Any]:
    table = client.describe_table(TableName=name)["Table"]
    ttl = client.describe_time_to_live(TableName=name)["TimeToLiveDescription"]
    return {
        "KeySchema": table["KeySchema"],
        "AttributeDefinitions": sorted(table["AttributeDefinitions"], key=lambda item: item["AttributeName"]),
        "GlobalSecondaryIndexes": sorted(
            (
                {"IndexName": index["IndexName"], "KeySchema": index["KeySchema"], "Projection": index["Projection"]}
                for index in table.get("GlobalSecondaryIndexes", [])
            ),
            key=lambda index: index["IndexName"],
        ),
        "TTL": (ttl.get("AttributeName"), ttl["TimeToLiveStatus"]),
    }


def _expected(definition: dict[str, Any]) -> dict[str, Any]:
    ttl = definition.get("TimeToLiveSpecification")
    return {
        "KeySchema": definition["KeySchema"],
        "AttributeDefinitions": sorted(definition["AttributeDefinitions"], key=lambda item: item["AttributeName"]),
        "GlobalSecondaryIndexes": sorted(
            definition.get("GlobalSecondaryIndexes", []), key=lambda index: index["IndexName"]
        ),
        "TTL": (ttl["AttributeName"], "ENABLED") if ttl else (None, "DISABLED"),
    }


def test_create_resources_builds_exactly_the_templates_tables_and_is_idempotent() -> None:
    template = load_template(TEMPLATE)
    with mock_aws():
        session = boto3.Session(region_name="us-east-1")
        first = create_resources(session, template)
        second = create_resources(session, template)
        dynamodb = session.client("dynamodb")
        definitions = table_definitions(template)

        assert sorted(first.tables) == sorted(definition["TableName"] for definition in definitions)
        assert first.buckets == bucket_names(template)
        assert first.topics == topic_names(template)
        assert (second.tables, second.buckets, second.topics) == ([], [], [])
        assert sorted(dynamodb.list_tables()["TableNames"]) == sorted(first.tables)
        for definition in definitions:
            assert _describe(dynamodb, definition["TableName"]) == _expected(definition)
        assert {bucket["Name"] for bucket in session.client("s3").list_buckets()["Buckets"]} == set(first.buckets)
        arns = [topic["TopicArn"] for topic in session.client("sns").list_topics()["Topics"]]
        assert sorted(arn.rsplit(":", 1)[1] for arn in arns) == sorted(first.topics)


def test_create_resources_accepts_a_mapping_of_clients_and_only_uses_what_it_needs(tmp_path: Path) -> None:
    template = load_template(
        _write(
            tmp_path,
            """
Resources:
  OnlyTable:
    Type: AWS::DynamoDB::Table
    Properties:
      AttributeDefinitions: [{AttributeName: id, AttributeType: S}]
      KeySchema: [{AttributeName: id, KeyType: HASH}]
""",
        )
    )
    with mock_aws():
        created = create_resources({"dynamodb": boto3.client("dynamodb", region_name="eu-west-1")}, template)

    assert created.tables == ["OnlyTable"]
