"""Relay routes that are not OpenAI endpoints (and so are not ``EndpointSpec`` pipelines)."""
