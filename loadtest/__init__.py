"""Load tester for a chatr deployment (``scripts/loadtest``).

A lean raw Engine.IO v4 / Socket.IO v5 client (aiohttp websockets or long
polling, orjson), several worker processes each owning a slice of the
sockets, a coordinator that drives a fixed offered rate of ``message:send``
between pairs with accepted conversations (or first contacts between random
users) or a reconnect storm (:mod:`.storm`), and /proc based CPU and RSS
accounting of the server and PostgreSQL. Only ever talks to the URL it is
given; every loop is bounded in count and time.

It lives beside the server package, not in it: the server never imports it
(it is a client that only speaks HTTP, Socket.IO and, to seed and verify, SQL),
so it stays out of the wheel and the image, where an SQL seeder that mints
tokens with the JWT secret has no business. ``scripts/loadtest``,
``scripts/fault_drills.py``, ``bench/compare`` and the tests import it from
the repository root.
"""
