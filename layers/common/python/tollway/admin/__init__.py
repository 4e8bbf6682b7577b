"""Operator commands: one registry, one pydantic argument model and one handler per command."""

from tollway.admin.registry import REGISTRY, AdminContext, Command, Registry

__all__ = ["REGISTRY", "AdminContext", "Command", "Registry"]
