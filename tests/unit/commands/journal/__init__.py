"""Tests of commands/journal/."""
