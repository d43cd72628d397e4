"""Tests of commands/core/."""
