"""End-to-end tests: the real disnake client against the local Discord stand-in."""
