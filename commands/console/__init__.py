"""The local console: the bot's slash commands typed against a local journal.

Imports the command core, the rooms and the wiring; never disnake or sync."""
