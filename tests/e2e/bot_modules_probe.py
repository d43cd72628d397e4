"""Run the real bot in a fresh process and print which heavy libraries it holds afterwards.

    python -m tests.e2e.bot_modules_probe DATA_DIR

Prepares sample data in ``DATA_DIR``, starts the bot (scheduler on) against the Discord stand-in,
runs a day's work (a watchlist, the daily picks at 09:30 New York time, ``/trade open``,
``/metrics`` with its chart, ``/trades``), stops it, and prints one JSON line: the top-level
packages of ``HEAVY`` that are in ``sys.modules``, and the projections' faults.
``tests/e2e/test_bot_memory.py`` runs it in a child so that the test process's own imports
(pandas for the calendar tests) do not count.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

from bot import keep_pandas_out
from projections.runner import fault_messages
from tests.e2e.bot_harness import (
    HALF_HOUR,
    START,
    asleep_until_the_run,
    eventually,
    prepare_template,
    running_bot,
    schedule_daily_picks,
)
from tests.e2e.discord_standin import serve_standin

HEAVY = ("pandas", "exchange_calendars", "matplotlib")
"""Libraries the long-running bot must not hold (tens of MiB each, needed only in children)."""
MODULE = "tests.e2e.bot_modules_probe"


async def day_of_work(data_dir: Path) -> list[str]:
    """The bot's startup and a day's commands, the daily run included; the projections' faults
    after them (a library refused its import of pandas must not make one fail)."""
    keep_pandas_out()  # as `ibpicker bot` does at its start (bot.main)
    async with serve_standin() as standin, running_bot(standin, data_dir, scheduler=True) as r:
        picks = standin.world.guild.channel("picks")
        await schedule_daily_picks(r)
        await asleep_until_the_run(r)
        r.time.set(START + timedelta(seconds=HALF_HOUR))
        await standin.wait_for_channel_message(picks.id)
        await eventually(lambda: bool(standin.channel_posts), "the daily post")
        await r.open_trade()
        await r.run("metrics")
        await r.run("trades")
        return fault_messages(r.app.service.runner, r.app.service.analytics_runner)


def main() -> None:
    """Prepare (in a child: as a deployed bot, this process starts with data), run, print the
    heavy packages loaded (a ``None`` entry is an import made to fail, not a loaded module)."""
    if sys.argv[1:2] == ["--prepare"]:
        prepare_template(Path(sys.argv[2]))
        return
    root = Path(sys.argv[1])
    subprocess.run([sys.executable, "-m", MODULE, "--prepare", str(root)], check=True)
    faults = asyncio.run(day_of_work(root / "template"))
    loaded = sorted(name for name in HEAVY if sys.modules.get(name) is not None)
    print(json.dumps({"loaded": loaded, "projection_faults": faults}))


if __name__ == "__main__":
    main()
