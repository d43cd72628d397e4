"""The backtest room: ``/backtest`` and ``/backtests``, and ``ibpicker backtest`` (its CLI front
end, ``backtest_cli``, kept beside the feature as the market room keeps ``ibpicker fetch``).

A backtest reads only what the journal holds (bars, flow alerts, earnings dates from the DuckDB
projections, at a known journal position), the exchange's sessions from the calendar and a
strategy at an exact version, runs the engine in ``analysis.backtest`` (pure computation), and
appends ``backtest_completed`` so the run can be repeated to the byte. Imports the core, never
another room; only ``commands.discord`` imports disnake.
"""
