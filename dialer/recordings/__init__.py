"""Call recordings: the file Asterisk's MixMonitor wrote, verified, archived with its metadata,
kept no longer than the retention policy allows.

Modules, one job each:
`config` the settings; `paths` where files are; `wavcheck` what a WAV file holds; `files` moving
a file into the archive atomically; `store` the SQL; `archiver` the daemon component that turns
pending rows into archived ones; `retention` purge and legal holds; `audit_check` re-hashing the
archive; `integration` the engine hooks (Originate variables, the pending row, wake-ups).

This package's `__init__` imports nothing: `dialer.config.models` imports `dialer.recordings.config`.
"""
