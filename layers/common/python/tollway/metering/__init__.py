"""Meters: pure readers of upstream answers that find the usage a request is billed by."""
