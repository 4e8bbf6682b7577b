"""The Claude tests' SDK factory, shared with the Bedrock tests."""

from tests.integration.claude.conftest import sdk_factory

__all__ = ["sdk_factory"]
