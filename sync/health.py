"""The health server (aiohttp): liveness, readiness and Prometheus metrics for the platform.

- ``/healthz``: 200 while the event loop answers (a blocked loop cannot answer: the probe fails);
- ``/readyz``: 200 only when restored, projections caught up, the writer lease held and Discord
  connected; otherwise 503 with the reasons, e.g. "waiting for lease held by another instance".
  A replica on the shared PostgreSQL journal (``sync.replica``) holds no lease: it is ready while
  its projections are within a bound of the journal's head (events and seconds);
- ``/metrics``: Prometheus text: journal head, shipped position, lag, segments, restore seconds,
  lease state; the replica's shards and its lag behind the journal head.

The server only reads a ``HealthStatus`` snapshot from a callable, so it knows nothing of how the
runtime is wired.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator

import msgspec
from aiohttp import web
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

log = logging.getLogger(__name__)

LEASE_STATES = ("idle", "waiting", "held", "suspended", "lost", "released")
NO_LEASE = "unused"
"""The lease state of a replica on the shared PostgreSQL journal: it takes no lease."""


class HealthStatus(msgspec.Struct, frozen=True, kw_only=True):
    """A snapshot of what health and metrics report."""

    restored: bool
    caught_up: bool
    lease_state: str
    discord_connected: bool
    journal_head: int
    shipped: int
    segments: int
    restore_seconds: float
    store_available: bool
    stopping: bool = False
    failure: str | None = None
    projection_faults: list[str] = []
    """Projections stopped at an event they could not apply: reported, not a reason to take the
    instance out (everything that does not read them keeps working)."""
    shards: list[int] | None = None
    """The Discord shards this replica runs (``None``: one unsharded client)."""
    shard_count: int | None = None
    applied_position: int | None = None
    """A replica's projections' position (``None``: the SQLite journal, followed on append)."""
    lag_events: int = 0
    """Positions between the journal's head and the replica's projections."""
    lag_seconds: float = 0.0
    """How long ago the oldest event the replica's projections lack was recorded."""
    max_lag_events: int | None = None
    max_lag_seconds: float | None = None

    def reasons_not_ready(self) -> list[str]:
        """Why the instance should not get traffic (empty when ready)."""
        reasons = []
        if self.stopping:
            reasons.append("shutting down")
        if not self.restored:
            reasons.append("restoring the journal from Blob")
        elif not self.caught_up:
            reasons.append("projections catching up")
        if self.lease_state == NO_LEASE:
            reasons += self._lag_reasons()
        elif self.lease_state == "waiting":
            reasons.append("waiting for lease held by another instance")
        elif self.lease_state != "held":
            reasons.append(f"writer lease {self.lease_state}")
        if not self.discord_connected:
            reasons.append("Discord not connected")
        if self.failure:
            reasons.append(f"shipping stopped: {self.failure}")
        return reasons

    def _lag_reasons(self) -> list[str]:
        """A replica behind the shared journal's head beyond its bounds is not ready: it would
        answer from projections that lack what other replicas appended."""
        over_events = self.max_lag_events is not None and self.lag_events > self.max_lag_events
        over_s = self.max_lag_seconds is not None and self.lag_seconds > self.max_lag_seconds
        if not (over_events or over_s):
            return []
        return [
            f"projections {self.lag_events} events ({self.lag_seconds:.1f} s) behind the "
            f"journal head (bound {self.max_lag_events} events, {self.max_lag_seconds} s)"
        ]


class _StatusCollector(Collector):
    def __init__(self, status: Callable[[], HealthStatus]) -> None:
        self._status = status

    def collect(self) -> Iterator[Metric]:
        s = self._status()
        gauges = [
            ("ibpicker_journal_head", "Last position in the local journal.", s.journal_head),
            ("ibpicker_shipped_position", "Last position shipped to Blob.", s.shipped),
            (
                "ibpicker_shipping_lag_events",
                "Events appended but not yet in Blob.",
                max(0, s.journal_head - s.shipped),
            ),
            ("ibpicker_segments", "Segments listed in the manifest.", s.segments),
            ("ibpicker_restore_seconds", "Duration of the last restore.", s.restore_seconds),
            ("ibpicker_blob_store_available", "1 when Blob answers.", int(s.store_available)),
            ("ibpicker_ready", "1 when ready for traffic.", int(not s.reasons_not_ready())),
            (
                "ibpicker_replica_lag_events",
                "Positions between the journal head and this replica's projections.",
                s.lag_events,
            ),
            (
                "ibpicker_replica_lag_seconds",
                "Age of the oldest event this replica's projections lack (0 when caught up).",
                s.lag_seconds,
            ),
            ("ibpicker_shard_count", "Discord shards in all (0: not sharded).", s.shard_count or 0),
        ]
        if s.applied_position is not None:
            gauges.append(
                (
                    "ibpicker_projections_position",
                    "Journal position this replica's projections have applied.",
                    s.applied_position,
                )
            )
        for name, doc, value in gauges:
            yield GaugeMetricFamily(name, doc, value=float(value))
        lease = GaugeMetricFamily(
            "ibpicker_lease_state", "Writer lease state (1 on the current one).", labels=["state"]
        )
        for state in (*LEASE_STATES, NO_LEASE):
            lease.add_metric([state], 1.0 if state == s.lease_state else 0.0)
        yield lease
        shards = GaugeMetricFamily(
            "ibpicker_shard", "1 for each Discord shard this replica runs.", labels=["shard"]
        )
        for shard in s.shards or ():
            shards.add_metric([str(shard)], 1.0)
        yield shards


class HealthServer:
    """Serves ``/healthz``, ``/readyz`` and ``/metrics`` on ``host:port`` (port 0: any free)."""

    def __init__(self, status: Callable[[], HealthStatus], *, host: str, port: int) -> None:
        self._status = status
        self.host = host
        self.port = port
        self._registry = CollectorRegistry(auto_describe=False)
        self._registry.register(_StatusCollector(status))
        self._runner: web.AppRunner | None = None

    def app(self) -> web.Application:
        """The aiohttp application."""
        app = web.Application()
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/readyz", self._readyz)
        app.router.add_get("/metrics", self._metrics)
        return app

    async def start(self) -> None:
        """Listen; ``self.port`` is the actual port afterwards."""
        self._runner = web.AppRunner(self.app(), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        # With port 0 the OS picked one: read it back from the listening socket.
        sockets = getattr(site._server, "sockets", None) or []
        if sockets:
            self.port = int(sockets[0].getsockname()[1])
        log.info("health server on http://%s:%d", self.host, self.port)

    async def stop(self) -> None:
        """Stop listening."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _healthz(self, request: web.Request) -> web.Response:
        return web.json_response({"alive": True})

    async def _readyz(self, request: web.Request) -> web.Response:
        status = self._status()
        reasons = status.reasons_not_ready()
        body = {
            "ready": not reasons,
            "reasons": reasons,
            "lease": status.lease_state,
            "degraded": status.projection_faults,
            "shards": status.shards,
            "shard_count": status.shard_count,
            "lag": {"events": status.lag_events, "seconds": round(status.lag_seconds, 3)},
        }
        return web.json_response(body, status=200 if not reasons else 503)

    async def _metrics(self, request: web.Request) -> web.Response:
        return web.Response(
            body=generate_latest(self._registry),
            headers={"Content-Type": "text/plain; version=0.0.4; charset=utf-8"},
        )
