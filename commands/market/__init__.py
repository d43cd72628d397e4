"""Market data: /fetch, /status, /watchlist, the fetch gathering, the market read model over the
analytics, and the ``ibpicker fetch`` / ``ibpicker scan`` command line.

The handlers, gathering and read model import the command core, events, projections, fetchers and
analysis; never another room, a front end, sync or disnake. The command-line glue
(``market_cli``, ``cli_service``) is a front end kept beside its feature: it alone also imports
the console's exit rules and the wiring."""
