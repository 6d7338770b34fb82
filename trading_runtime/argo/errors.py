"""Errors of the Argo commands: each says what to change."""

__all__ = ["ArgoError", "ArgoUnreachableError"]


class ArgoError(Exception):
    """A batch that cannot be rendered or submitted; the message says what to change."""


class ArgoUnreachableError(ArgoError):
    """No answer from the Argo server (connection refused, TLS, timeout): maybe transient."""
