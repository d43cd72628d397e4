"""Projections of the journal: pure in-memory state folds for the handlers, DuckDB analytics tables
loaded in columnar batches, the runner that keeps them caught up, and atomic rebuilds.

May import events; must not import commands, fetchers, sync or bot.
"""
