"""Tests of commands/market/."""
