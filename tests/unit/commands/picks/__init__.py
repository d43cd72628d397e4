"""Tests of commands/picks/."""
