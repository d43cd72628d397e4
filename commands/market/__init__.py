"""Market data: /fetch, /status, /watchlist, the market read model over the analytics, and the
``ibpicker fetch`` / ``ibpicker scan`` command line.

Imports the command core, events, projections, fetchers and analysis; never another room (bar the
CLI glue), a front end's cogs, sync or disnake."""
