"""The task engine: asynchronous upstream jobs (Midjourney, Suno, and any later provider) billed once.

``tollway.tasks.submit`` runs every submit (reserve → record the task → submit upstream → settle →
accept); a provider plugs in with the small :class:`~tollway.tasks.submit.TaskSubmit` protocol. What
follows an accepted task (polls, callbacks, refunds, image copies, notify hooks) is
``tollway.mj.engine.TaskEngine``, shared by every provider's tasks.
"""
