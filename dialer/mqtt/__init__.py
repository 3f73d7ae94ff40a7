"""MQTT edge: call, campaign and alert events out through a transactional outbox; commands in.

Modules, one job each: `config` (the [mqtt] section), `payloads` (pydantic models of every message),
`outbox` (the in-transaction hook and the outbox table's SQL), `connection` (one broker connection
with capped-backoff reconnects), `publisher` (drains the outbox in order, marks rows after PUBACK),
`stats` (retained campaign stats), `commands` (cmd/<verb> in, reply/<request_id> out) and
`component` (wires them into the daemon). Importing this package imports none of them.
"""
