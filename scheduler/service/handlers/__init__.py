"""The HTTP API's request handlers, one small module per area (chains, logs, nodes, whoami,
openapi), on the shared base in :mod:`scheduler.service.handlers.base`."""
