"""Strategies: a server's strategy library (``library``: the resolver every room uses, and the
one place a strategy is added) and ``/strategies``, ``/strategy show|add|remove|settings``; and
drafting with Claude (``draft``, ``draft_prompt``): ``/strategy draft|save|try``, through the
``Drafter`` port.

A room below the other feature rooms (they resolve strategies through it); it imports the command
core, events, projections and analysis; never another room, a front end, sync or disnake."""
