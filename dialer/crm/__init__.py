"""Customer management: contacts and their history, tags, notes, callbacks, export and erasure."""
