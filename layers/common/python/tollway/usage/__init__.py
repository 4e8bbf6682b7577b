"""Reading usage records: the one query module behind usage.query and the customers' usage views."""

from tollway.usage.query import Page, UsageFilter, UsageReader

__all__ = ["Page", "UsageFilter", "UsageReader"]
