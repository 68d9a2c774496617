"""Chat features over the realtime layer: handshake, presence and event handlers.

The realtime package knows nothing about chat; this package registers the
contract's events on it and calls the same services as the REST handlers.
"""
