"""Prometheus metrics of one server process, served at ``/metrics`` (prometheus_client's text format).

Why prometheus_client: it is the reference client, keeps the exposition format right, and costs a
dict update per observation. What is measured:

- runs: ``opencdm_runs_total{status}`` (ended runs), ``opencdm_run_duration_seconds{status}``;
- data: ``opencdm_rows_total`` / ``opencdm_bytes_total`` by ``direction`` (read: the FROM connector,
  written: the TO connector) and ``connector``, growing while runs report progress;
- clusters (read when scraped): runs in flight, partition slots and slots in use, runs waiting for a slot;
- the API: ``opencdm_http_request_duration_seconds{method, route, status}`` by route template.

Who may scrape is ``OPENCDM_METRICS``: ``loopback`` (default: clients on 127.0.0.1/::1 only), ``open``,
or ``off``; with ``OPENCDM_METRICS_TOKEN`` set, a scrape must send ``Authorization: Bearer <token>``.
"""

from __future__ import annotations

import hmac
import ipaddress
import time
from collections.abc import Callable, Iterable

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST

REGISTRY = CollectorRegistry()
RUNS = Counter("opencdm_runs", "Runs that ended, by final status.", ["status"], registry=REGISTRY)
RUN_SECONDS = Histogram("opencdm_run_duration_seconds", "Wall time of ended runs.", ["status"], registry=REGISTRY,
                        buckets=(1, 5, 15, 60, 300, 900, 3600, 4 * 3600, 24 * 3600))
ROWS = Counter("opencdm_rows", "Rows moved, read by the FROM connector or written by the TO connector.",
               ["direction", "connector"], registry=REGISTRY)
BYTES = Counter("opencdm_bytes", "Bytes moved (as the counters count them), by direction and connector.",
                ["direction", "connector"], registry=REGISTRY)
HTTP_SECONDS = Histogram("opencdm_http_request_duration_seconds", "API request latency by route template.",
                         ["method", "route", "status"], registry=REGISTRY,
                         buckets=(0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10))


class RunMeter:
    """One run's share of the counters: adds what grew since the last report (an attempt that starts
    again from zero adds nothing until it passes what was counted)."""

    def __init__(self, from_connector: str, to_connector: str) -> None:
        self.labels = (("read", from_connector), ("written", to_connector))
        self.seen = [0, 0, 0, 0]  # rows read, rows written, bytes read, bytes written
        self.started = time.monotonic()

    def progress(self, rows_read: int, rows_written: int, bytes_read: int, bytes_written: int) -> None:
        now = [rows_read, rows_written, bytes_read, bytes_written]
        grew = [max(0, n - s) for n, s in zip(now, self.seen)]
        self.seen = [max(n, s) for n, s in zip(now, self.seen)]
        for i, (direction, connector) in enumerate(self.labels):
            if grew[i]:
                ROWS.labels(direction, connector).inc(grew[i])
            if grew[i + 2]:
                BYTES.labels(direction, connector).inc(grew[i + 2])

    def ended(self, status: str) -> None:
        RUNS.labels(status).inc()
        RUN_SECONDS.labels(status).observe(time.monotonic() - self.started)


class ClusterCollector:
    """Gauges read from the live runtimes at scrape time: ``runtimes()`` yields (cluster id, runtime)."""

    def __init__(self, runtimes: Callable[[], Iterable[tuple[str, object]]]) -> None:
        self.runtimes = runtimes

    def collect(self):
        families = {
            "runs": GaugeMetricFamily("opencdm_cluster_runs", "Runs in flight on the cluster.", labels=["cluster"]),
            "slots": GaugeMetricFamily("opencdm_cluster_slots", "Partitions the cluster runs at once.",
                                       labels=["cluster"]),
            "in-use": GaugeMetricFamily("opencdm_cluster_slots_in_use", "Partitions running now.", labels=["cluster"]),
            "waiting": GaugeMetricFamily("opencdm_runs_waiting_for_slot", "Runs waiting for a partition slot.",
                                         labels=["cluster"]),
        }
        for cluster_id, rt in self.runtimes():
            usage = rt.backend.slots.usage() | {"runs": len(rt.active)}
            for key, family in families.items():
                family.add_metric([cluster_id], usage[key])
        yield from families.values()


_installed: list[ClusterCollector] = []  # the registered cluster gauges (one app per process at a time)


def install(runtimes: Callable[[], Iterable[tuple[str, object]]]) -> None:
    """Register the cluster gauges of this server (a second app in the process replaces the first's)."""
    while _installed:
        REGISTRY.unregister(_installed.pop())
    _installed.append(ClusterCollector(runtimes))
    REGISTRY.register(_installed[0])


def allowed(mode: str, token: str | None, client_host: str | None, authorization: str | None) -> bool:
    if mode == "off":
        return False
    if token:
        given = (authorization or "").removeprefix("Bearer ").strip()
        return hmac.compare_digest(given.encode(), token.encode())
    if mode == "open":
        return True
    try:
        return ipaddress.ip_address(client_host or "").is_loopback
    except ValueError:
        return False


def exposition() -> tuple[bytes, str]:
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
