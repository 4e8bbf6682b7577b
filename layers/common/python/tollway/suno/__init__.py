"""The Suno relay (new-api's ``/suno/...`` protocol): tollway's own tasks over Suno-API upstreams, charged
on accept and refunded exactly once on failure or timeout (docs/suno.md).

It reuses the Midjourney task machinery (``tollway.mj``): the task store and its refund transaction,
the forward-only state engine and the scheduled sweep. A Suno task is a :class:`tollway.mj.model.Task`
with ``kind="suno"``; what is Suno's own lives here:

- ``model``: actions, price keys, task ids; ``request``: the submit body (validated, only the protocol's
  keys kept); ``pricing``: what an action costs;
- ``upstream``: the Suno-API client; ``news``: an upstream task as a state update; ``render``: the
  TaskDto and the ``{code, message, data}`` envelopes;
- ``poll``: the sweep's poller and the fetch-time refresh; ``runtime``: the upstream client next to the
  Midjourney runtime.
"""
