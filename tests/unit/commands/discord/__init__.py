"""Tests of commands/discord/."""
