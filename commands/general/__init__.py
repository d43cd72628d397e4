"""The commands about the bot itself: /ping, /help, /about.

Imports the command core and events; never another room, a front end, sync or disnake."""
