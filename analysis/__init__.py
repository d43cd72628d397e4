"""Indicators, the strategy file format (schema and loader), the evaluator, signals and position
sizing: pure computation over numpy arrays.

May import events (to describe signals); must not import commands, fetchers, sync or bot."""
