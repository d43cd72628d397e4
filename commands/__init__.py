"""Command handlers (plain functions: command + state + clock -> events + reply) and the thin
disnake cogs and console that call them.

May import events, projections, analysis and fetchers; nothing imports bot.py."""
