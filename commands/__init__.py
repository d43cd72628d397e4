"""Commands, one room per feature: ``core`` (what every command shares: specs, the value gate, the
handler contract, the service), ``general``, ``market``, ``picks``, ``journal`` (each its handlers,
the plain functions command + state + clock -> events + reply, and what they gather), and the
front ends ``discord`` (the only room that imports disnake) and ``console``; ``registry`` joins
the rooms' routes and ``wiring`` assembles a service.

May import events, projections, analysis and fetchers; never sync or SQLite; nothing imports
bot.py. Each room's ``__init__`` says what it must not import."""
