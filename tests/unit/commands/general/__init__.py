"""Tests of commands/general/."""
