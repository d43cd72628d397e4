"""Picks: /analyze, /signals, /strategies, /schedule, and the daily run's rules.

Imports the command core, events, projections and analysis; never another room, a front end, sync
or disnake."""
