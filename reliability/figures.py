"""What a case measured: one row of the table in docs/reliability.md."""

from __future__ import annotations

from dataclasses import dataclass, field


def percentile(values: list[float], share: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(share * (len(ordered) - 1))))
    return ordered[index]


@dataclass
class Row:
    case: str
    target: str
    tried: int = 0
    passed: int = 0
    latencies_ms: list[float] = field(default_factory=list)
    rss_mb: tuple[float, float] | None = None  # (before, peak)
    fds: tuple[int, int] | None = None  # (before, peak)
    leftovers: int | None = None
    notes: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # why tries failed (the first few)

    @property
    def failed(self) -> int:
        return self.tried - self.passed

    @property
    def met(self) -> bool:
        return self.tried > 0 and self.failed == 0 and not self.leftovers

    def attempt(self, ok: bool, problem: str = "") -> None:
        self.tried += 1
        if ok:
            self.passed += 1
        elif problem and len(self.problems) < 5:
            self.problems.append(problem)

    def note(self, text: str) -> None:
        self.notes.append(text)

    def figures(self) -> str:
        parts = []
        if self.tried:
            parts.append(f"success {100 * self.passed / self.tried:.1f} %")
        p50, p99 = percentile(self.latencies_ms, 0.5), percentile(self.latencies_ms, 0.99)
        if p50 is not None and p99 is not None:
            parts.append(f"p50 {_ms(p50)}, p99 {_ms(p99)}")
        if self.rss_mb is not None:
            parts.append(f"RSS {self.rss_mb[0]:.0f} → {self.rss_mb[1]:.0f} MB")
        if self.fds is not None:
            parts.append(f"fds {self.fds[0]} → {self.fds[1]}")
        if self.leftovers is not None:
            parts.append(f"leftovers {self.leftovers}")
        return "; ".join(parts + self.notes)


def _ms(value: float) -> str:
    return f"{value / 1000:.2f} s" if value >= 1000 else f"{value:.1f} ms"
