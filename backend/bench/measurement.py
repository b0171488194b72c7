"""One endpoint measured under load: the median run of a phase, and every run."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bench.load import LoadResult


@dataclass
class Measurement:
    key: str
    label: str
    server: str
    users: int
    workers: int
    connections: int
    result: LoadResult
    baseline: str | None = None
    load_before: float = 0.0
    runs: list[LoadResult] = field(default_factory=list)

    @property
    def rps_range(self) -> str:
        """``2,329`` or, with repeated runs, ``2,329 (2,115-2,794)``."""
        text = f"{self.result.rps:,.0f}"
        if len(self.runs) > 1:
            low = min(run.rps for run in self.runs)
            high = max(run.rps for run in self.runs)
            text += f" ({low:,.0f}-{high:,.0f})"
        return text

    @property
    def cpu_ms_per_request(self) -> float:
        """CPU the server spent per answered request: robust to a busy machine, unlike req/s."""
        rps = self.result.rps
        return 1000 * self.result.cpu_cores.get("server", 0.0) / rps if rps else 0.0

    def ms(self, percentile: str) -> float:
        return self.result.latency_us[percentile] / 1000

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "label": self.label,
            "server": self.server,
            "users": self.users,
            "workers": self.workers,
            "connections": self.connections,
            "baseline": self.baseline,
            "load_before": round(self.load_before, 2),
            "server_cpu_ms_per_request": round(self.cpu_ms_per_request, 3),
            "runs": [run.to_dict() for run in self.runs],
            **self.result.to_dict(),
        }
