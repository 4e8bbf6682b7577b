"""Anthropic's Messages API: pure conversions to and from OpenAI chat, usage mapping, errors and the
model catalogue shape. No I/O here; the relay glue lives in ``relay.endpoints.messages``."""
