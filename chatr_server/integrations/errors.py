"""Errors shared by the outside-service integrations."""

from __future__ import annotations


class DeliveryError(RuntimeError):
    """An email or SMS could not be handed to its provider.

    The message is deliberately generic: callers may show it or log it, and it
    must never carry the recipient's codes, the body, or provider credentials.
    """
