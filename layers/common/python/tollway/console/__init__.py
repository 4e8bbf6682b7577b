"""The customer console's shared core: logins, sessions, passwords, options (docs/console.md).

The console's HTTP routes live in the relay (``relay.console``); the operator's commands
(``console.settings``, ``console.invite``) live with the other admin commands. Both use this package.
"""
