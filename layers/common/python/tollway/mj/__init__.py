"""The Midjourney relay: tollway's own tasks over MJ-Proxy upstreams, per-action pricing, modes,
callbacks, refunds, notifyHook delivery and image copies (docs/midjourney.md).

Module map:

- ``model``: the task and its state order; ``actions``: paths and buttons → actions and price keys;
  ``modes``: speed and image-URL modes; ``pricing``: what an action costs;
- ``ports`` / ``dynamodb`` / ``memory``: the task store (with the refund, an MJ ledger operation);
- ``signing``: callback and webhook signatures; ``render``: the task as clients read it;
- ``upstream``: the MJ-Proxy client; ``engine``: applying upstream state (forward only), refunds,
  hooks and image copies; ``notify``: webhook delivery; ``images``: relay-mode image copies;
- ``sweep``: the scheduled polling and timeouts; ``runtime``: everything wired from ``Services``.
"""
