"""The Discord front end: cogs (slash commands, buttons, modals), rendering, views, the error
handler and the daily post loop (``ibpicker bot``, in ``cli.py``, starts them through ``bot.py``).

The only folder of ``commands`` that imports disnake. Imports the core, the rooms and the wiring;
holds no domain logic; never imports ``bot.py`` (which assembles the cogs)."""
