"""The event journal: event types (frozen msgspec Structs with stable tags), their codec and
upcasters, and the append-only SQLite journal built on the eventsourcing library's SQLite
persistence.

Imports nothing of ours: every other package depends on this one, never the reverse.
"""
