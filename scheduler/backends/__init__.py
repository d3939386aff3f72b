"""Backends make the policy's decisions real: start, signal and stop ranks, report their state.

``base`` holds the :class:`~scheduler.backends.base.Backend` interface, ``types`` the plain
data it exchanges, ``local`` the embedded default (processes on this machine).
"""
