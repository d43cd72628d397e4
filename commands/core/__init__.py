"""The command core: the spec registry, the value gate, the handler contract, the service that
runs every command (validate, gather, handle, append, audit), models, ports and text helpers.

Imports events, projections, analysis and fetchers; never a feature room, a front end, sync,
SQLite or disnake."""
