"""template.yaml, translated offline by the SAM translator exactly as CloudFormation's SAM transform would.

cfn-lint (since 1.54) and `sam validate --lint` check `AWS::Serverless::*` resources only against SAM's loose
schema, and a misspelled `ResponseTransferMode` silently yields a *buffered* integration (6 MB response cap)
that every linter accepts. So the properties that matter are asserted here on the generated CloudFormation.
"""

from __future__ import annotations

import copy
import json
import os
import re
import shutil
import stat
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3
import pytest
import yaml
from samtranslator.parser.parser import Parser
from samtranslator.translator.translator import Translator
from samtranslator.yaml_helper import intrinsics_multi_constructor

if TYPE_CHECKING:
    from collections.abc import Iterator

ROOT = Path(__file__).resolve().parents[3]
TEMPLATE = ROOT / "template.yaml"
RUN_SH = ROOT / "functions" / "relay" / "run.sh"

ANY = "x-amazon-apigateway-any-method"
INTEGRATION = "x-amazon-apigateway-integration"
TABLES = (
    "AccountsTable",
    "KeysTable",
    "HoldsTable",
    "LedgerTable",
    "UsageTable",
    "ConfigTable",
    "TasksTable",
    "CodesTable",
    "ConsoleTable",
)
FUNCTIONS = ("RelayFunction", "AdminFunction", "MjCallbackFunction")

Template = dict[str, Any]


class _CfnLoader(yaml.SafeLoader):
    """SafeLoader that reads `!Ref`/`!Sub`/`!GetAtt`… as their long forms.

    samtranslator's own `yaml_parse` registers the same constructor on the *global* SafeLoader; a subclass
    keeps that side effect out of every other test in the session.
    """


_CfnLoader.add_multi_constructor("!", intrinsics_multi_constructor)


def load_template() -> Template:
    loaded = yaml.load(TEMPLATE.read_text(encoding="utf-8"), Loader=_CfnLoader)  # noqa: S506 - a SafeLoader
    assert isinstance(loaded, dict)
    return loaded


def translate(
    template: Template, layer_uri: str = "s3://bucket/layer.zip", parameters: dict[str, Any] | None = None
) -> Template:
    """The CloudFormation that the SAM transform makes of `template` (no AWS call, no credentials)."""
    sam = copy.deepcopy(template)
    for resource in sam["Resources"].values():
        props = resource.get("Properties", {})
        # The translator wants packaged (S3) locations, as `sam deploy` would have uploaded them.
        if "CodeUri" in props:
            props["CodeUri"] = "s3://bucket/code.zip"
        if "ContentUri" in props:
            props["ContentUri"] = layer_uri
    session = boto3.session.Session(region_name="us-east-1")
    out = Translator({}, Parser(), boto_session=session).translate(sam, parameter_values=parameters or {})
    assert isinstance(out, dict)
    return out


@pytest.fixture(scope="module")
def template() -> Template:
    return load_template()


@pytest.fixture(scope="module")
def cfn(template: Template) -> Template:
    return translate(template)


def resources_of(cfn: Template, type_: str) -> dict[str, Any]:
    return {name: res for name, res in cfn["Resources"].items() if res["Type"] == type_}


def api_body(cfn: Template) -> dict[str, Any]:
    (api,) = resources_of(cfn, "AWS::ApiGateway::RestApi").values()
    body = api["Properties"]["Body"]
    assert isinstance(body, dict)
    return body


def integration(cfn: Template, path: str, method: str) -> dict[str, Any]:
    found = api_body(cfn)["paths"][path][method][INTEGRATION]
    assert isinstance(found, dict)
    return found


def uri_of(integ: dict[str, Any]) -> str:
    uri = integ["uri"]
    text = uri["Fn::Sub"] if isinstance(uri, dict) else uri
    assert isinstance(text, str)
    return text


def is_streaming(integ: dict[str, Any]) -> bool:
    """API Gateway streams a Lambda proxy response only with both the mode and the streaming invoke URI."""
    uri = uri_of(integ)
    return (
        integ.get("type") == "aws_proxy"
        and integ.get("responseTransferMode") == "STREAM"
        and "/2021-11-15/functions/" in uri
        and uri.endswith("/response-streaming-invocations")
    )


def is_buffered(integ: dict[str, Any]) -> bool:
    uri = uri_of(integ)
    return (
        integ.get("type") == "aws_proxy"
        and integ.get("responseTransferMode", "BUFFERED") == "BUFFERED"
        and "/2015-03-31/functions/" in uri
        and uri.endswith("/invocations")
    )


def function(cfn: Template, logical_id: str) -> dict[str, Any]:
    res = cfn["Resources"][logical_id]
    assert res["Type"] == "AWS::Lambda::Function"
    props = res["Properties"]
    assert isinstance(props, dict)
    return props


def env(cfn: Template, logical_id: str) -> dict[str, Any]:
    variables = function(cfn, logical_id)["Environment"]["Variables"]
    assert isinstance(variables, dict)
    return variables


# ---------------------------------------------------------------------------------------------- routes


@pytest.mark.parametrize("path", ["/", "/{proxy+}"])
def test_relay_routes_stream_for_up_to_15_minutes(cfn: Template, path: str) -> None:
    integ = integration(cfn, path, ANY)
    assert is_streaming(integ), integ
    assert integ["timeoutInMillis"] == 900000
    # SnapStart only applies to published versions: API Gateway must call the alias, not $LATEST.
    assert "${RelayFunctionAliaslive}" in uri_of(integ)


@pytest.mark.parametrize("spelling", ["STREAM", "STREAMING", "response_stream", "RESPONSE_STREAMING"])
def test_misspelled_response_transfer_mode_gives_a_buffered_integration(template: Template, spelling: str) -> None:
    """Proves the streaming assertion above can fail: a near-miss spelling is accepted and buffers."""
    mutated = copy.deepcopy(template)
    proxy = mutated["Resources"]["RelayFunction"]["Properties"]["Events"]["Proxy"]["Properties"]
    assert proxy["ResponseTransferMode"] == "RESPONSE_STREAM"
    proxy["ResponseTransferMode"] = spelling

    out = translate(mutated)

    assert not is_streaming(integration(out, "/{proxy+}", ANY))
    assert is_buffered(integration(out, "/{proxy+}", ANY))
    assert is_streaming(integration(out, "/", ANY))  # the untouched event still streams


def test_routes_are_exactly_the_four_of_the_contract(cfn: Template) -> None:
    routes = {(path, method) for path, item in api_body(cfn)["paths"].items() for method in item}
    assert routes == {
        ("/", ANY),
        ("/{proxy+}", ANY),
        ("/admin/{command}", "post"),
        ("/mj/callback/{proxy+}", "post"),
    }


def test_admin_route_requires_sigv4_and_invokes_through_the_resource_policy(cfn: Template) -> None:
    body = api_body(cfn)
    method = body["paths"]["/admin/{command}"]["post"]
    assert method["security"] == [{"AWS_IAM": []}]
    assert body["components"]["securitySchemes"]["AWS_IAM"]["x-amazon-apigateway-authtype"] == "awsSigv4"
    integ = method[INTEGRATION]
    assert is_buffered(integ)
    assert "${AdminFunction.Arn}" in uri_of(integ)
    # No caller-credentials passthrough (SAM's default arn:aws:iam::*:user/* would reject IAM roles).
    assert "credentials" not in integ
    permissions = [
        res["Properties"]
        for res in resources_of(cfn, "AWS::Lambda::Permission").values()
        if res["Properties"]["FunctionName"] == {"Ref": "AdminFunction"}
        and res["Properties"]["Principal"] == "apigateway.amazonaws.com"
    ]
    assert len(permissions) == 1
    assert permissions[0]["SourceArn"]["Fn::Sub"][0].endswith("/POST/admin/*")


def test_midjourney_callback_is_buffered_and_unauthenticated_at_the_gateway(cfn: Template) -> None:
    method = api_body(cfn)["paths"]["/mj/callback/{proxy+}"]["post"]
    assert is_buffered(method[INTEGRATION])
    assert "${MjCallbackFunction.Arn}" in uri_of(method[INTEGRATION])
    assert "security" not in method  # the per-task signature in the URL is checked by the function


def test_api_is_regional_and_takes_binary_and_multipart_bodies(cfn: Template) -> None:
    (api,) = resources_of(cfn, "AWS::ApiGateway::RestApi").values()
    assert api["Properties"]["EndpointConfiguration"]["Types"] == ["REGIONAL"]
    wanted = {"multipart/form-data", "application/octet-stream", "audio/*", "image/*"}
    assert wanted <= set(api_body(cfn)["x-amazon-apigateway-binary-media-types"])
    assert {t.replace("~1", "/") for t in api["Properties"]["BinaryMediaTypes"]} >= wanted


def test_only_one_stage_is_created(cfn: Template, template: Template) -> None:
    (stage,) = resources_of(cfn, "AWS::ApiGateway::Stage").values()
    assert stage["Properties"]["StageName"] == {"Ref": "StageName"}
    assert template["Parameters"]["StageName"]["Default"] == "live"


# ------------------------------------------------------------------------------------------- functions


def test_every_function_is_python313_arm64_within_the_lambda_timeout(cfn: Template) -> None:
    functions = resources_of(cfn, "AWS::Lambda::Function")
    assert set(functions) == set(FUNCTIONS)
    for name, res in functions.items():
        props = res["Properties"]
        assert props["Runtime"] == "python3.13", name
        assert props["Architectures"] == ["arm64"], name
        assert isinstance(props["Timeout"], int), name
        assert 1 <= props["Timeout"] <= 900, name
    assert function(cfn, "RelayFunction")["Timeout"] == 900


def with_adapter(value: Any, enabled: bool = True) -> Any:
    """``value`` as deployed (the default SamLocal=false) or as sam local runs it (SamLocal=true)."""
    if isinstance(value, dict) and "Fn::If" in value and value["Fn::If"][0] == "UseWebAdapter":
        return value["Fn::If"][1 if enabled else 2]
    if isinstance(value, list):
        return [v for v in (with_adapter(i, enabled) for i in value) if v != {"Ref": "AWS::NoValue"}]
    return value


def test_handlers(cfn: Template) -> None:
    assert with_adapter(function(cfn, "RelayFunction")["Handler"]) == "run.sh"
    assert with_adapter(function(cfn, "RelayFunction")["Handler"], False) == "relay.lambda_buffered.handler"
    assert function(cfn, "AdminFunction")["Handler"] == "admin_api.handler.lambda_handler"
    assert function(cfn, "MjCallbackFunction")["Handler"] == "mj_callback.handler.lambda_handler"
    assert (ROOT / "functions/admin/admin_api").is_dir()
    assert (ROOT / "functions/mj_callback/mj_callback").is_dir()


def test_relay_runs_under_lambda_web_adapter_in_streaming_mode(cfn: Template) -> None:
    variables = env(cfn, "RelayFunction")
    # LWA maps any other value (case-insensitively) to buffered.
    assert variables["AWS_LWA_INVOKE_MODE"] == "response_stream"
    assert with_adapter(variables["AWS_LAMBDA_EXEC_WRAPPER"]) == "/opt/bootstrap"
    assert variables["AWS_LWA_READINESS_CHECK_PATH"] == "/healthz"
    assert variables["AWS_LWA_PORT"] == variables["PORT"] == "8080"
    assert "AWS_LWA_ASYNC_INIT" not in variables  # SnapStart must snapshot a ready app
    layers = with_adapter(function(cfn, "RelayFunction")["Layers"])
    assert layers[0] == {"Ref": next(iter(resources_of(cfn, "AWS::Lambda::LayerVersion")))}
    lwa = layers[1]["Fn::Sub"]
    assert lwa.startswith("arn:aws:lambda:${AWS::Region}:753240598075:layer:LambdaAdapterLayerArm64:")


def test_every_function_uses_the_common_layer_and_only_the_relay_uses_lwa(cfn: Template) -> None:
    (layer_id,) = resources_of(cfn, "AWS::Lambda::LayerVersion")
    for name in FUNCTIONS:
        layers = with_adapter(function(cfn, name)["Layers"])
        assert {"Ref": layer_id} in layers, name
        assert len(layers) == (2 if name == "RelayFunction" else 1), name
    layer = cfn["Resources"][layer_id]["Properties"]
    assert layer["CompatibleRuntimes"] == ["python3.13"]
    assert layer["CompatibleArchitectures"] == ["arm64"]


def test_settings_reach_every_function(cfn: Template) -> None:
    for name in FUNCTIONS:
        variables = env(cfn, name)
        for table in TABLES:
            setting = "TOLLWAY_" + table.removesuffix("Table").upper() + "_TABLE"
            assert variables[setting] == {"Ref": table}, (name, setting)
        assert variables["TOLLWAY_SECRETS_PREFIX"] == {"Fn::Sub": "tollway/${AWS::StackName}/"}
        assert variables["TOLLWAY_STAGE"] == {"Ref": "StageName"}
        assert variables["TOLLWAY_REGION"] == {"Ref": "AWS::Region"}
    assert env(cfn, "RelayFunction")["TOLLWAY_CORS_ORIGINS"] == {"Ref": "CorsOrigins"}
    assert env(cfn, "AdminFunction")["TOLLWAY_ALERTS_TOPIC_ARN"] == {"Ref": "AlertsTopic"}
    assert env(cfn, "AdminFunction")["TOLLWAY_EXPORT_BUCKET"] == {"Ref": "ExportBucket"}


def test_without_the_web_adapter_the_relay_is_a_plain_handler_for_sam_local(cfn: Template, template: Template) -> None:
    """SamLocal=true (samconfig.toml's local_invoke/local_start_api): no LWA layer, no exec wrapper, the
    buffered handler, the emulator's endpoint; deployed, the default keeps streaming through LWA."""
    assert template["Parameters"]["SamLocal"]["Default"] == "false"
    for name in FUNCTIONS:
        assert with_adapter(env(cfn, name)["TOLLWAY_AWS_ENDPOINT_URL"]) == {"Ref": "AWS::NoValue"}
        assert with_adapter(env(cfn, name)["TOLLWAY_AWS_ENDPOINT_URL"], False).startswith("http://")
    relay = function(cfn, "RelayFunction")
    assert len(with_adapter(relay["Layers"], False)) == 1
    assert with_adapter(env(cfn, "RelayFunction")["AWS_LAMBDA_EXEC_WRAPPER"], False) == {"Ref": "AWS::NoValue"}
    module, _, name = with_adapter(relay["Handler"], False).rpartition(".")
    assert (ROOT / "functions" / "relay" / (module.replace(".", "/") + ".py")).is_file() and name == "handler"
    config = tomllib.loads((ROOT / "samconfig.toml").read_text())["default"]
    for command in ("local_invoke", "local_start_api"):
        assert "SamLocal=true" in config[command]["parameters"]["parameter_overrides"]
        assert (ROOT / config[command]["parameters"]["env_vars"]).is_file()


def test_the_sam_local_env_file_sets_only_declared_variables(cfn: Template) -> None:
    """`sam local --env-vars` overrides only variables the template declares; any other is silently lost."""
    overrides = json.loads((ROOT / "events" / "sam-local-env.json").read_text())
    for section, values in overrides.items():
        names = [section] if section != "Parameters" else list(FUNCTIONS)
        for name in names:
            declared = set(env(cfn, name))
            missing = set(values) - declared
            if section == "Parameters":
                missing -= {"TOLLWAY_MJ_IMAGE_BUCKET"} if name not in declared else set()
            assert not missing, (section, name, sorted(missing))
    assert overrides["Parameters"]["TOLLWAY_AWS_ENDPOINT_URL"].startswith("http://127.0.0.1:")


def test_cors_default_is_a_json_list(template: Template) -> None:
    assert json.loads(template["Parameters"]["CorsOrigins"]["Default"]) == ["*"]


def test_relay_snapstart_is_on_by_default_on_the_alias(cfn: Template, template: Template) -> None:
    props = function(cfn, "RelayFunction")
    assert props["SnapStart"] == {"ApplyOn": {"Ref": "RelaySnapStart"}}
    parameter = template["Parameters"]["RelaySnapStart"]
    assert parameter["Default"] == "PublishedVersions"
    assert set(parameter["AllowedValues"]) == {"PublishedVersions", "None"}
    assert props.get("EphemeralStorage", {"Size": 512})["Size"] <= 512  # SnapStart's limit
    (alias,) = resources_of(cfn, "AWS::Lambda::Alias").values()
    assert alias["Properties"]["FunctionName"] == {"Ref": "RelayFunction"}


def _parameter_refs(node: object, parameters: set[str]) -> Iterator[str]:
    """Names of template parameters used anywhere under `node` (Ref and ${Name} in Sub)."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "Ref" and value in parameters:
                yield value
            elif key == "Fn::Sub":
                text = value[0] if isinstance(value, list) else value
                yield from (name for name in re.findall(r"\$\{([^}!]+)\}", text) if name in parameters)
            yield from _parameter_refs(value, parameters)
    elif isinstance(node, list):
        for item in node:
            yield from _parameter_refs(item, parameters)


def test_every_relay_parameter_republishes_the_relay_version(template: Template) -> None:
    """SAM hashes the properties *as written* into the version's name, so a parameter-only change would keep
    the alias (and SnapStart snapshot) on the old configuration. VersionDescription carries each parameter."""
    parameters = set(template["Parameters"])
    relay = copy.deepcopy(template["Resources"]["RelayFunction"]["Properties"])
    description = relay.pop("VersionDescription")
    used = set(_parameter_refs(relay, parameters)) | set(_parameter_refs(template["Globals"]["Function"], parameters))
    assert used, "the relay uses no parameter? then this test needs a look"
    assert used <= set(_parameter_refs(description, parameters))


def test_relay_version_description_fits_lambdas_256_characters(template: Template) -> None:
    """Every parameter in it is bounded, and the longest values still fit (else the deploy fails)."""
    parameters = template["Parameters"]
    text = template["Resources"]["RelayFunction"]["Properties"]["VersionDescription"]["Fn::Sub"]
    longest = text
    for name in set(re.findall(r"\$\{([^}!]+)\}", text)):
        spec = parameters[name]
        if "AllowedValues" in spec:
            bound = max(len(str(value)) for value in spec["AllowedValues"])
        elif "MaxLength" in spec:
            bound = int(spec["MaxLength"])
        else:
            assert spec["Type"] == "Number", f"{name} has no upper bound"
            bound = len(str(spec["MaxValue"]))
        longest = longest.replace("${" + name + "}", "x" * bound)
    assert len(longest) <= 256


def test_a_new_layer_publishes_a_new_relay_version(template: Template, cfn: Template) -> None:
    out = translate(template, layer_uri="s3://bucket/another-layer.zip")
    versions_before = set(resources_of(cfn, "AWS::Lambda::Version"))
    versions_after = set(resources_of(out, "AWS::Lambda::Version"))
    assert len(versions_before) == len(versions_after) == 1
    assert versions_before != versions_after


def _schedule(cfn: Template, command_prefix: str) -> dict[str, Any]:
    """The one schedule whose registry event runs a command starting with ``command_prefix``."""
    (rule,) = [
        r
        for r in resources_of(cfn, "AWS::Events::Rule").values()
        if json.loads(r["Properties"]["Targets"][0]["Input"])["command"].startswith(command_prefix)
    ]
    return rule


def test_maintenance_runs_on_a_schedule_with_the_registry_event(cfn: Template, template: Template) -> None:
    rule = _schedule(cfn, "maintenance.run")
    assert rule["Properties"]["ScheduleExpression"] == {"Ref": "MaintenanceSchedule"}
    assert template["Parameters"]["MaintenanceSchedule"]["Default"] == "rate(5 minutes)"
    (target,) = rule["Properties"]["Targets"]
    assert target["Arn"] == {"Fn::GetAtt": ["AdminFunction", "Arn"]}
    assert json.loads(target["Input"]) == {"command": "maintenance.run", "args": {}, "actor": "schedule"}


def test_midjourney_sweep_runs_on_its_own_schedule(cfn: Template, template: Template) -> None:
    assert len(resources_of(cfn, "AWS::Events::Rule")) == 2
    rule = _schedule(cfn, "mj.sweep")
    assert rule["Properties"]["ScheduleExpression"] == {"Ref": "MjSweepSchedule"}
    assert template["Parameters"]["MjSweepSchedule"]["Default"] == "rate(1 minute)"
    (target,) = rule["Properties"]["Targets"]
    assert target["Arn"] == {"Fn::GetAtt": ["AdminFunction", "Arn"]}
    assert json.loads(target["Input"]) == {"command": "mj.sweep", "args": {}, "actor": "schedule"}


def test_every_makefile_build_has_its_target(template: Template) -> None:
    for name, res in template["Resources"].items():
        if res.get("Metadata", {}).get("BuildMethod") != "makefile":
            continue
        props = res["Properties"]
        source = ROOT / (props.get("CodeUri") or props["ContentUri"])
        makefile = (source / "Makefile").read_text(encoding="utf-8")
        assert re.search(rf"^build-{name}:", makefile, re.MULTILINE), name
    layer = template["Resources"]["CommonLayer"]
    assert layer["Metadata"] == {"BuildMethod": "makefile", "BuildArchitecture": "arm64"}


# ------------------------------------------------------------------------------------------------- IAM


def _grants(cfn: Template, function_id: str) -> dict[str, set[str]]:
    """{resource: actions} of the function's inline policies; resources named by logical id (+ suffix)."""
    role_id = function(cfn, function_id)["Role"]["Fn::GetAtt"][0]
    grants: dict[str, set[str]] = {}
    for policy in cfn["Resources"][role_id]["Properties"].get("Policies", []):
        for statement in policy["PolicyDocument"]["Statement"]:
            assert statement["Effect"] == "Allow"
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            targets = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
            for target in targets:
                grants.setdefault(_resource_name(target), set()).update(actions)
    return grants


def _resource_name(target: object) -> str:
    if isinstance(target, dict) and "Fn::GetAtt" in target:
        return str(target["Fn::GetAtt"][0])
    if isinstance(target, dict) and "Ref" in target:
        return str(target["Ref"])
    if isinstance(target, dict) and "Fn::Sub" in target:
        text = str(target["Fn::Sub"])
        if text.endswith(":secret:tollway/${AWS::StackName}/*"):
            return "secrets"
        if text.endswith(":secret:tollway/${AWS::StackName}/mj/*"):
            return "secrets/mj"
        if text.endswith(":secret:tollway/${AWS::StackName}/console/*"):
            return "secrets/console"
        if text.endswith(":identity/*") and ":ses:" in text:
            return "ses-identities"
        match = re.fullmatch(r"\$\{(\w+)\.Arn\}(/.*)", text)
        if match:
            return match.group(1) + match.group(2)
    raise AssertionError(f"unexpected policy resource {target!r}")


HOT = {
    "dynamodb:GetItem",
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    "dynamodb:DeleteItem",
    "dynamodb:ConditionCheckItem",
}


def test_relay_permissions_are_exactly_its_hot_path(cfn: Template) -> None:
    history = {"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:BatchWriteItem", "dynamodb:Query"}
    assert _grants(cfn, "RelayFunction") == {
        "AccountsTable": HOT,
        "KeysTable": HOT,
        "HoldsTable": HOT,
        "LedgerTable": history,
        "LedgerTable/index/*": history,
        "UsageTable": history,
        "UsageTable/index/*": history,
        "ConfigTable": {"dynamodb:GetItem", "dynamodb:Query"},
        "CodesTable": {"dynamodb:GetItem", "dynamodb:UpdateItem"},  # POST /api/redeem
        "secrets": {"secretsmanager:GetSecretValue"},
        # Midjourney tasks, its signing key (created on first use), relay-mode image copies.
        "TasksTable": {
            "dynamodb:GetItem",
            "dynamodb:BatchGetItem",
            "dynamodb:PutItem",
            "dynamodb:UpdateItem",
            "dynamodb:DeleteItem",
        },
        "secrets/mj": {"secretsmanager:CreateSecret"},
        "ExportBucket/mj-images/*": {"s3:GetObject", "s3:PutObject"},
        # The customer console: logins, revocations, rate-limit windows, invites; its session key;
        # verification mail (docs/console.md).
        "ConsoleTable": HOT,
        "secrets/console": {"secretsmanager:CreateSecret"},
        "ses-identities": {"ses:SendEmail"},
    }


def test_midjourney_callback_permissions(cfn: Template) -> None:
    assert _grants(cfn, "MjCallbackFunction") == {
        "AccountsTable": HOT,
        "KeysTable": HOT,
        "HoldsTable": HOT,
        # entries are never rewritten; a refund's history is a batch of puts, as every movement's is
        "LedgerTable": {"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:BatchWriteItem"},
        "UsageTable": {"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:BatchWriteItem"},
        "ConfigTable": {"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:Query"},
        "secrets": {"secretsmanager:GetSecretValue"},
        "secrets/mj": {"secretsmanager:CreateSecret"},
        "TasksTable": {"dynamodb:GetItem", "dynamodb:UpdateItem"},
        "ExportBucket/mj-images/*": {"s3:GetObject", "s3:PutObject"},
    }


def test_admin_permissions(cfn: Template) -> None:
    grants = _grants(cfn, "AdminFunction")
    for table in TABLES:
        for resource in (table, f"{table}/index/*"):
            assert HOT | {"dynamodb:Query", "dynamodb:Scan", "dynamodb:BatchWriteItem"} <= grants[resource]
    assert grants["secrets"] == {
        "secretsmanager:CreateSecret",
        "secretsmanager:PutSecretValue",
        "secretsmanager:DeleteSecret",
        "secretsmanager:GetSecretValue",
        "secretsmanager:DescribeSecret",
    }
    assert grants["ExportBucket/*"] >= {"s3:GetObject", "s3:PutObject"}
    assert grants["ExportBucket"] == {"s3:ListBucket"}
    assert grants["AlertsTopic"] == {"sns:Publish"}


def test_no_wildcard_actions_or_resources(cfn: Template) -> None:
    # _grants refuses any resource that is not one of ours (a bare "*" included); scoped suffixes such as
    # "/index/*" and "ExportBucket/*" are fine.
    for name in FUNCTIONS:
        for resource, actions in _grants(cfn, name).items():
            # "ses-identities": the account's verified SES identities (the console's sender), by ARN
            ours = set(cfn["Resources"]) | {"secrets", "ses-identities"}
            assert resource.split("/")[0] in ours, (name, resource)
            assert not any("*" in action for action in actions), (name, actions)


# ---------------------------------------------------------------------------------------------- state


def test_every_table_is_on_demand_recoverable_and_protected(cfn: Template) -> None:
    tables = resources_of(cfn, "AWS::DynamoDB::Table")
    assert set(tables) == set(TABLES)
    for name, res in tables.items():
        props = res["Properties"]
        assert props["BillingMode"] == "PAY_PER_REQUEST", name
        assert props["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True, name
        assert props["DeletionProtectionEnabled"] is True, name
        assert props["SSESpecification"]["SSEEnabled"] is True, name
        assert res["DeletionPolicy"] == res["UpdateReplacePolicy"] == "Retain", name


def test_table_keys_and_indexes_are_the_contract(cfn: Template) -> None:
    def shape(props: dict[str, Any]) -> tuple[tuple[str, ...], dict[str, tuple[str, ...]]]:
        keys = tuple(k["AttributeName"] for k in props["KeySchema"])
        indexes = {
            gsi["IndexName"]: tuple(k["AttributeName"] for k in gsi["KeySchema"])
            for gsi in props.get("GlobalSecondaryIndexes", [])
        }
        return keys, indexes

    shapes = {name: shape(res["Properties"]) for name, res in resources_of(cfn, "AWS::DynamoDB::Table").items()}
    assert shapes == {
        "AccountsTable": (("account_id",), {}),
        "KeysTable": (("key_hash",), {"by_key_id": ("key_id",), "by_account": ("account_id", "key_id")}),
        "HoldsTable": (("hold_id",), {}),
        "LedgerTable": (("account_id", "entry_id"), {}),
        "UsageTable": (
            ("account_id", "request_id"),
            {"by_day": ("day_shard", "request_id")},
        ),
        "ConfigTable": (("pk", "sk"), {}),
        "TasksTable": (("task_id",), {"open": ("open_shard", "created_at")}),
        "CodesTable": (("code_hash",), {"by_batch": ("batch_id", "code_id")}),
        "ConsoleTable": (("pk", "sk"), {}),
    }


def test_export_bucket_is_private_encrypted_and_expires_exports(cfn: Template) -> None:
    props = cfn["Resources"]["ExportBucket"]["Properties"]
    (rule,) = props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] in {"AES256", "aws:kms"}
    assert all(props["PublicAccessBlockConfiguration"][key] is True for key in (
        "BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets"
    ))  # fmt: skip
    expiring = [r for r in props["LifecycleConfiguration"]["Rules"] if r.get("Prefix") == "exports/"]
    assert [(r["Status"], r["ExpirationInDays"]) for r in expiring] == [("Enabled", 7)]


# ------------------------------------------------------------------------------------- alarms, outputs


def test_errors_and_throttles_of_every_function_alert(cfn: Template) -> None:
    alarms = resources_of(cfn, "AWS::CloudWatch::Alarm").values()
    for name in FUNCTIONS:
        watched = {
            a["Properties"]["MetricName"]
            for a in alarms
            if a["Properties"].get("Namespace") == "AWS/Lambda"
            and a["Properties"]["Dimensions"] == [{"Name": "FunctionName", "Value": {"Ref": name}}]
            and a["Properties"]["AlarmActions"] == [{"Ref": "AlertsTopic"}]
        }
        assert watched == {"Errors", "Throttles"}, name


def test_hot_tables_alert_on_throttling_and_system_errors(cfn: Template) -> None:
    alarms = resources_of(cfn, "AWS::CloudWatch::Alarm").values()
    for table in ("AccountsTable", "KeysTable", "HoldsTable"):
        metrics = set()
        for alarm in alarms:
            if alarm["Properties"]["AlarmActions"] != [{"Ref": "AlertsTopic"}]:
                continue
            for metric in alarm["Properties"].get("Metrics", []):
                stat = metric.get("MetricStat", {}).get("Metric", {})
                if {"Name": "TableName", "Value": {"Ref": table}} in stat.get("Dimensions", []):
                    metrics.add(stat["MetricName"])
        assert {"ReadThrottleEvents", "WriteThrottleEvents", "SystemErrors"} <= metrics, table
    # SystemErrors and ThrottledRequests are only published per operation: without that dimension an alarm
    # would never see a data point.
    for alarm in alarms:
        for metric in alarm["Properties"].get("Metrics", []):
            stat = metric.get("MetricStat", {}).get("Metric", {})
            if stat.get("MetricName") in {"SystemErrors", "ThrottledRequests"}:
                assert "Operation" in {d["Name"] for d in stat["Dimensions"]}


def test_outputs(cfn: Template) -> None:
    outputs = cfn["Outputs"]
    expected = {
        "ApiUrl",
        "RelayFunctionName",
        "AdminFunctionName",
        "MjCallbackFunctionName",
        "AlertsTopicArn",
        "ExportBucketName",
        *(f"{table}Name" for table in TABLES),
    }
    assert expected <= set(outputs)
    url = outputs["ApiUrl"]["Value"]["Fn::Sub"]
    assert url.startswith("https://${RelayApi}.execute-api.${AWS::Region}.")
    assert url.endswith("/${StageName}/")


def _references(node: object) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "Ref":
                yield str(value)
            elif key == "Fn::GetAtt":
                yield str(value[0] if isinstance(value, list) else value.split(".")[0])
            elif key == "Fn::Sub":
                text, variables = (value[0], value[1]) if isinstance(value, list) else (value, {})
                for name in re.findall(r"\$\{([^}!]+)\}", text):
                    if name not in variables:
                        yield name.split(".")[0]
                yield from _references(variables)
                continue
            yield from _references(value)
    elif isinstance(node, list):
        for item in node:
            yield from _references(item)


def test_every_reference_in_the_generated_template_resolves(cfn: Template) -> None:
    known = set(cfn["Resources"]) | set(cfn.get("Parameters", {}))
    dangling = {
        name
        for section in ("Resources", "Outputs")
        for name in _references(cfn[section])
        if name not in known and not name.startswith("AWS::")
    }
    assert not dangling


# ---------------------------------------------------------------------------------------------- run.sh


def test_run_sh_is_executable_and_tracked_as_such() -> None:
    mode = RUN_SH.stat().st_mode
    executable = stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH
    assert mode & executable == executable
    if shutil.which("git") and (ROOT / ".git").exists():
        listed = subprocess.run(
            ["git", "ls-files", "--stage", "--", "functions/relay/run.sh"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        if listed:  # tracked: Lambda needs mode 755 inside the zip, which comes from git
            assert listed.startswith("100755 "), listed


def test_run_sh_starts_uvicorn_on_loopback_with_the_layer_on_the_path(tmp_path: Path) -> None:
    """Runs the real script with a stand-in `python` that records what it was started with."""
    record = tmp_path / "record.json"
    fake = tmp_path / "bin" / "python"
    fake.parent.mkdir()
    fake.write_text(
        "#!/bin/sh\n"
        f'exec "{sys.executable}" -c \'import json, os, sys; '
        f'json.dump({{"argv": sys.argv[1:], "pythonpath": os.environ["PYTHONPATH"]}}, open("{record}", "w"))\' "$@"\n'
    )
    fake.chmod(0o755)
    environ = {
        "PATH": f"{fake.parent}:/usr/bin:/bin",
        "LAMBDA_TASK_ROOT": "/var/task",
        "LAMBDA_RUNTIME_DIR": "/var/runtime",
        "PYTHONPATH": "/from/before",
        "PORT": "8080",
    }
    subprocess.run(["/bin/bash", str(RUN_SH)], env=environ, check=True, timeout=30)

    seen = json.loads(record.read_text())
    assert seen["pythonpath"].split(":") == ["/var/task", "/opt/python", "/from/before", "/var/runtime"]
    assert seen["argv"] == [
        "-m",
        "uvicorn",
        "--factory",
        "relay.app:app_from_env",
        "--host",
        "127.0.0.1",
        "--port",
        "8080",
        "--loop",
        "uvloop",
        "--http",
        "httptools",
        "--no-access-log",
        "--timeout-keep-alive",
        "75",
    ]


def test_run_sh_port_defaults_to_lwa_port(tmp_path: Path) -> None:
    record = tmp_path / "argv.json"
    fake = tmp_path / "python"
    fake.write_text(
        f'#!/bin/sh\nexec "{sys.executable}" -c '
        f'\'import json, sys; json.dump(sys.argv[1:], open("{record}", "w"))\' "$@"\n'
    )
    fake.chmod(0o755)
    environ = {"PATH": f"{tmp_path}:/usr/bin:/bin", "HOME": os.environ.get("HOME", "/tmp")}
    subprocess.run(["/bin/bash", str(RUN_SH)], env=environ, check=True, timeout=30)
    argv = json.loads(record.read_text())
    assert argv[argv.index("--port") + 1] == "8080"


# ------------------------------------------------------------------------- volume mode (VolumeMode=fargate)

VOLUME_ON = {
    "VolumeMode": "fargate",
    "RelayImageUri": "123456789012.dkr.ecr.us-east-1.amazonaws.com/tollway-relay:1",
    "VolumeVpcId": "vpc-0123456789abcdef0",
    "VolumeSubnetIds": "subnet-0123456789abcdef0,subnet-0123456789abcdef1",
}


def _condition_values(cfn: Template, parameters: dict[str, Any]) -> dict[str, bool]:
    """Every condition of the translated template, evaluated for `parameters` (defaults elsewhere)."""
    values = {name: spec.get("Default") for name, spec in cfn.get("Parameters", {}).items()}
    values.update(parameters)
    conditions: dict[str, Any] = cfn.get("Conditions", {})
    done: dict[str, bool] = {}

    def value(node: Any) -> Any:
        if isinstance(node, dict) and "Ref" in node:
            return values[node["Ref"]]
        return node

    def truth(node: Any) -> bool:
        ((fn, args),) = node.items()
        match fn:
            case "Fn::Equals":
                return bool(str(value(args[0])) == str(value(args[1])))
            case "Fn::Not":
                return not truth(args[0])
            case "Fn::And":
                return all(truth(a) for a in args)
            case "Fn::Or":
                return any(truth(a) for a in args)
            case "Condition":
                return condition(args)
        raise AssertionError(f"unknown condition function {fn}")

    def condition(name: str) -> bool:
        if name not in done:
            done[name] = truth(conditions[name])
        return done[name]

    return {name: condition(name) for name in conditions}


def rendered(template: Template, parameters: dict[str, Any]) -> Template:
    """The template through the SAM translator with `parameters`, then the resources CloudFormation
    would create for them (their conditions evaluated)."""
    cfn = translate(template, parameters=parameters)
    conditions = _condition_values(cfn, parameters)
    cfn["Resources"] = {
        name: res for name, res in cfn["Resources"].items() if conditions.get(res.get("Condition", ""), True)
    }
    return cfn


@pytest.fixture(scope="module")
def volume(template: Template) -> Template:
    return rendered(template, VOLUME_ON)


def _volume_resources(cfn: Template) -> set[str]:
    return {
        name
        for name, res in cfn["Resources"].items()
        if res["Type"].startswith(("AWS::ECS::", "AWS::ElasticLoadBalancingV2::", "AWS::ApplicationAutoScaling::"))
    }


def test_volume_mode_is_off_by_default_and_adds_nothing(template: Template) -> None:
    assert template["Parameters"]["VolumeMode"]["Default"] == "off"
    off = rendered(template, {})
    assert _volume_resources(off) == set()
    assert not [name for name in off["Resources"] if name.startswith("Volume")]


def test_volume_mode_adds_a_fargate_service_behind_a_load_balancer_and_keeps_every_function(
    template: Template, volume: Template
) -> None:
    off = rendered(template, {})
    assert set(off["Resources"]) < set(volume["Resources"])  # the Lambda shape is all still there
    types = {res["Type"] for res in volume["Resources"].values()}
    assert {
        "AWS::ECS::Cluster",
        "AWS::ECS::TaskDefinition",
        "AWS::ECS::Service",
        "AWS::ElasticLoadBalancingV2::LoadBalancer",
        "AWS::ElasticLoadBalancingV2::Listener",
        "AWS::ElasticLoadBalancingV2::TargetGroup",
        "AWS::ApplicationAutoScaling::ScalableTarget",
        "AWS::ApplicationAutoScaling::ScalingPolicy",
    } <= types
    for name in FUNCTIONS:
        function(volume, name)


def test_volume_task_is_arm64_fargate_running_run_sh_with_the_relays_settings(volume: Template) -> None:
    task = volume["Resources"]["VolumeTaskDefinition"]["Properties"]
    assert task["RequiresCompatibilities"] == ["FARGATE"]
    assert task["RuntimePlatform"] == {"CpuArchitecture": "ARM64", "OperatingSystemFamily": "LINUX"}
    (container,) = task["ContainerDefinitions"]
    variables = {v["Name"]: v["Value"] for v in container["Environment"]}
    relay = {k: v for k, v in env(volume, "RelayFunction").items() if k.startswith("TOLLWAY_")}
    relay.pop("TOLLWAY_AWS_ENDPOINT_URL")  # sam local only
    # a Lambda environment may freeze once its answer is sent; the task outlives its responses
    assert relay.pop("TOLLWAY_SETTLE_AFTER_ANSWER") == "false"
    assert variables["TOLLWAY_SETTLE_AFTER_ANSWER"] == "true"
    assert {k: v for k, v in variables.items() if k in relay} == relay
    assert variables["RELAY_HOST"] == "0.0.0.0"
    assert container["PortMappings"] == [{"ContainerPort": 8080, "Protocol": "tcp"}]
    assert variables["PORT"] == "8080"


def test_volume_task_role_grants_exactly_what_the_relay_function_grants(volume: Template) -> None:
    role = volume["Resources"]["VolumeTaskRole"]["Properties"]
    (policy,) = role["Policies"]
    relay_role = function(volume, "RelayFunction")["Role"]["Fn::GetAtt"][0]
    relay_statements = [
        statement
        for p in volume["Resources"][relay_role]["Properties"]["Policies"]
        for statement in p["PolicyDocument"]["Statement"]
    ]
    assert policy["PolicyDocument"]["Statement"] == relay_statements


def test_volume_streams_outlive_the_alb_idle_timeout_and_scale_in(volume: Template) -> None:
    """Heartbeats come well inside the ALB's idle timeout; uvicorn keeps idle connections longer than
    the ALB (else a 502 on reuse); a draining task keeps its streams as long as a stream may last."""
    res = volume["Resources"]
    alb = {a["Key"]: a["Value"] for a in res["VolumeLoadBalancer"]["Properties"]["LoadBalancerAttributes"]}
    idle = int(alb["idle_timeout.timeout_seconds"])
    (container,) = res["VolumeTaskDefinition"]["Properties"]["ContainerDefinitions"]
    variables = {v["Name"]: v["Value"] for v in container["Environment"]}
    assert float(variables["TOLLWAY_HEARTBEAT_S"]) * 4 <= idle
    assert int(variables["RELAY_KEEP_ALIVE_S"]) > idle
    assert idle >= 290  # a non-streaming answer may wait this long for its first byte (non_stream_deadline_s)
    group = {a["Key"]: a["Value"] for a in res["VolumeTargetGroup"]["Properties"]["TargetGroupAttributes"]}
    assert int(group["deregistration_delay.timeout_seconds"]) >= 900
    assert res["VolumeTargetGroup"]["Properties"]["HealthCheckPath"] == "/healthz"


def test_volume_tasks_admit_only_the_load_balancer(volume: Template) -> None:
    (rule,) = volume["Resources"]["VolumeTaskSecurityGroup"]["Properties"]["SecurityGroupIngress"]
    assert rule["SourceSecurityGroupId"] == {"Ref": "VolumeAlbSecurityGroup"}
    assert "CidrIp" not in rule


def test_the_container_image_runs_run_sh_from_the_lambda_layout() -> None:
    dockerfile = (ROOT / "container" / "relay" / "Dockerfile").read_text(encoding="utf-8")
    assert 'ENTRYPOINT ["/var/task/run.sh"]' in dockerfile
    assert "COPY --chmod=755 functions/relay/run.sh /var/task/run.sh" in dockerfile
    assert "COPY layers/common/python/ /opt/python/" in dockerfile
    assert "python:3.13" in dockerfile  # the Lambda runtime's Python


def test_run_sh_listens_where_and_as_long_as_the_container_says(tmp_path: Path) -> None:
    record = tmp_path / "argv.json"
    fake = tmp_path / "python"
    fake.write_text(
        f'#!/bin/sh\nexec "{sys.executable}" -c '
        f'\'import json, sys; json.dump(sys.argv[1:], open("{record}", "w"))\' "$@"\n'
    )
    fake.chmod(0o755)
    environ = {"PATH": f"{tmp_path}:/usr/bin:/bin", "RELAY_HOST": "0.0.0.0", "RELAY_KEEP_ALIVE_S": "620"}
    subprocess.run(["/bin/bash", str(RUN_SH)], env=environ, check=True, timeout=30)
    argv = json.loads(record.read_text())
    assert argv[argv.index("--host") + 1] == "0.0.0.0"
    assert argv[argv.index("--timeout-keep-alive") + 1] == "620"
    assert argv[argv.index("--factory") + 1] == "relay.app:app_from_env"


# ---------------------------------------------------------------------------------------------- bedrock


def _bedrock_policies(cfn: Template, models: str, roles: str) -> list[dict[str, Any]]:
    """The relay role's Bedrock statements CloudFormation would create for these parameter values."""
    conditions = {"BedrockEnabled": models != "", "BedrockRolesNamed": roles != ""}
    values = {"BedrockModels": models, "BedrockAssumeRoles": roles}
    statements = []
    for resource in resources_of(cfn, "AWS::IAM::Policy").values():
        if not conditions[resource["Condition"]]:
            continue
        relay, volume = resource["Properties"]["Roles"]  # the volume-mode task role only with VolumeMode=fargate
        assert relay == {"Ref": "RelayFunctionRole"}
        assert volume == {"Fn::If": ["VolumeFargate", {"Ref": "VolumeTaskRole"}, {"Ref": "AWS::NoValue"}]}
        for statement in resource["Properties"]["PolicyDocument"]["Statement"]:
            sep, ref = statement["Resource"]["Fn::Split"]
            statements.append({**statement, "Resource": values[ref["Ref"]].split(sep)})
    return statements


def test_bedrock_permissions_are_off_by_default(template: Template, cfn: Template) -> None:
    assert template["Parameters"]["BedrockModels"]["Default"] == ""
    assert template["Parameters"]["BedrockAssumeRoles"]["Default"] == ""
    assert _bedrock_policies(cfn, "", "") == []
    inline = json.dumps(cfn["Resources"]["RelayFunctionRole"]["Properties"]["Policies"])
    assert "bedrock:" not in inline and "sts:AssumeRole" not in inline


def test_bedrock_invoke_is_scoped_to_the_listed_models(cfn: Template) -> None:
    models = (
        "arn:aws:bedrock:*::foundation-model/anthropic.claude-*,"
        "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.*"
    )
    (bedrock,) = _bedrock_policies(cfn, models, "")
    assert bedrock["Sid"] == "BedrockInvoke" and bedrock["Effect"] == "Allow"
    assert bedrock["Action"] == ["bedrock:InvokeModel", "bedrock:InvokeModelWithResponseStream"]
    assert bedrock["Resource"] == models.split(",")


def test_assume_role_only_when_a_role_is_named(cfn: Template) -> None:
    roles = "arn:aws:iam::210987654321:role/tollway-bedrock"
    statements = _bedrock_policies(cfn, "arn:aws:bedrock:*::foundation-model/*", roles)
    (assume,) = [s for s in statements if s["Sid"] == "BedrockAssumeRole"]
    assert assume["Action"] == "sts:AssumeRole" and assume["Resource"] == [roles]


def test_no_other_role_may_call_bedrock(cfn: Template) -> None:
    for name, role in resources_of(cfn, "AWS::IAM::Role").items():
        assert "bedrock:" not in json.dumps(role), name
