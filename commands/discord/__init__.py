"""The Discord front end: cogs (slash commands, buttons, modals), rendering, views, the error
handler, the daily post loop and ``ibpicker bot``.

The only folder of ``commands`` that imports disnake. Imports the core, the rooms and the wiring;
holds no domain logic; never imports ``bot.py`` (which assembles the cogs)."""
