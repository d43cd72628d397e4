"""The trade journal: /trade open|close|note|export, /trades, /metrics, its metrics and charts.

Imports the command core, events and projections; never another room, a front end, sync or
disnake. The chart worker is its own process and imports only matplotlib and msgspec."""
