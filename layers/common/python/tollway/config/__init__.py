"""Operator configuration: channels, price overrides, groups; and the cached catalog the relay reads."""

from tollway.config.catalog import Catalog, CatalogCache
from tollway.config.model import Channel, ChannelStatus, Group
from tollway.config.ports import ConfigStore, SecretStore

__all__ = ["Catalog", "CatalogCache", "Channel", "ChannelStatus", "ConfigStore", "Group", "SecretStore"]
