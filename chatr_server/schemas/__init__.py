"""Schemas shared by the REST API and the socket layer (marshmallow only, no app imports).

A body accepted both by a route and by an RPC event (``PUT /api/users/me`` and
``users:me:update``) is declared here once, so neither transport imports the other.
"""
