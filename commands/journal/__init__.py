"""The trade journal: /trade open|close|note|export, /trades, /metrics, its metrics and charts.

Imports the command core, events and projections; never another room, a front end, sync or
disnake. The chart worker is its own process and imports only matplotlib, msgspec and the
commands' root error (``commands.core.errors``, which imports nothing)."""
