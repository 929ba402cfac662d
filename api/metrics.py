"""Prometheus metrics: requests and latency per route, time per pipeline stage, index sizes."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.25, 0.5, 1, 2.5, 5, 10, 30)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("ipscreen_requests_total", "HTTP requests",
                                ["route", "method", "status"], registry=self.registry)
        self.latency = Histogram("ipscreen_request_seconds", "HTTP request latency",
                                 ["route", "method"], buckets=BUCKETS, registry=self.registry)
        self.stage = Histogram("ipscreen_stage_seconds", "Time per pipeline stage",
                               ["stage"], buckets=BUCKETS, registry=self.registry)
        self.index_vectors = Gauge("ipscreen_index_vectors", "Vectors per loaded index",
                                   ["index"], registry=self.registry)
        self.registry_revision = Gauge("ipscreen_registry_revision", "Registry revision",
                                       registry=self.registry)
        self.index_revision = Gauge("ipscreen_index_revision",
                                    "Registry revision of the loaded indexes",
                                    registry=self.registry)
