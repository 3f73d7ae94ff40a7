"""The live wallboard: a read-only page the daemon serves (aiohttp, on its own event loop).

config.py holds the `[web]` section, snapshot.py computes the figures from the store and the
engine, stream.py fans them out to the open pages (Server-Sent Events, a bounded queue per page),
server.py has the routes and the access check, component.py ties them into the daemon.
"""
