"""A ``bedrock`` channel's settings, checked when an operator adds or changes one."""

from __future__ import annotations

import re
from typing import Any

from tollway.bedrock.invoke import is_claude
from tollway.config.model import Channel

__all__ = ["bedrock_claude", "bedrock_settings_problem", "default_base_url", "is_bedrock_model_id"]

_REGION = re.compile(r"^[a-z]{2}(-gov)?-[a-z]+-\d$")
_ROLE = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]{1,512}$")
_KNOWN = {"region", "role_arn", "external_id", "beta_flags"}
# A Bedrock model id (``amazon.nova-pro-v1:0``) or inference profile (``us.anthropic.claude-…``).
_MODEL_ID = re.compile(
    r"^(?:(?:us|us-gov|eu|apac|jp|au|ca|global)\.)?"
    r"(?:anthropic|amazon|meta|mistral|deepseek|cohere|ai21|writer|qwen|openai|twelvelabs|stability)\.[\w.:-]+$"
)


def bedrock_claude(channel: Channel, model: str) -> bool:
    """A Bedrock channel that serves ``model`` with Claude: it takes Anthropic's Messages body natively
    (OpenAI chat requests for it are converted to Messages first, like for an Anthropic channel)."""
    return channel.type == "bedrock" and is_claude(channel.upstream_model(model))


def is_bedrock_model_id(name: str) -> bool:
    return bool(_MODEL_ID.match(name))


def default_base_url(settings: dict[str, Any]) -> str:
    return f"https://bedrock-runtime.{settings.get('region') or 'us-east-1'}.amazonaws.com"


def bedrock_settings_problem(settings: dict[str, Any], has_key: bool) -> str | None:
    """Why these settings cannot make a Bedrock channel (None when they can)."""
    if has_key:
        return "A bedrock channel has no API key: it signs with the function's IAM role (or settings.role_arn)."
    unknown = sorted(set(settings) - _KNOWN)
    if unknown:
        return f"Unknown bedrock settings {unknown}; known: {sorted(_KNOWN)}."
    region = settings.get("region")
    if region is not None and not (isinstance(region, str) and _REGION.match(region)):
        return "settings.region must be an AWS region such as us-east-1."
    role = settings.get("role_arn")
    if role is not None and not (isinstance(role, str) and _ROLE.match(role)):
        return "settings.role_arn must be an IAM role ARN (arn:aws:iam::123456789012:role/name)."
    external = settings.get("external_id")
    if external is not None and not (isinstance(external, str) and 2 <= len(external) <= 1224):
        return "settings.external_id must be a string of 2 to 1224 characters."
    flags = settings.get("beta_flags")
    if flags is not None and not (isinstance(flags, list) and all(isinstance(f, str) for f in flags)):
        return "settings.beta_flags must be a list of anthropic-beta flag names."
    return None
