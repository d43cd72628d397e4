"""Running ``ibpicker`` as a separate process in tests: the environment it gets."""

from __future__ import annotations

import os

from settings import ENV_PREFIX, SECRET_ENV


def cli_env(now: str) -> dict[str, str]:
    """This process's environment without any ibpicker setting or provider key (so no network
    and the offline sample data), wide output, and the clock pinned at ``now``
    (``IBPICKER_NOW``)."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(ENV_PREFIX) and k not in SECRET_ENV.values()
    }
    env["COLUMNS"] = "200"
    env["IBPICKER_NOW"] = now
    return env
