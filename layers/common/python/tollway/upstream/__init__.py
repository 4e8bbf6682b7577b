"""Upstream adapters: how tollway talks to a channel (``client``, ``response``, ``failures``).

Nothing is re-exported here: importing one module (a Bedrock transport needs ``response``) must not
pull in the others.
"""
