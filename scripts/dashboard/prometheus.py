"""A real Prometheus server (the binary tests/cluster/build-prometheus.sh builds) on loopback, scraping
given targets, with its storage in a folder of the caller's; and its HTTP query API."""

from __future__ import annotations

import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import httpx2
import yaml
from support import stop_process


class PrometheusError(RuntimeError):
    """Prometheus did not start, or answered a request with an error."""


@dataclass(frozen=True)
class ScrapeJob:
    """One scrape job: `job` names it (the `job` label), `targets` are host:port on loopback, `labels`
    are added to every series scraped (as the Prometheus Operator adds `pod`, `namespace`, `service`)."""

    job: str
    targets: tuple[str, ...]
    labels: dict[str, str] = field(default_factory=dict)
    metrics_path: str = "/metrics"


def free_port() -> int:
    """A loopback port nobody listens on now (Prometheus takes its address from the command line)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def config(jobs: list[ScrapeJob], interval: float) -> dict[str, Any]:
    every = f"{interval:g}s"
    return {
        "global": {"scrape_interval": every, "scrape_timeout": every, "evaluation_interval": every},
        "scrape_configs": [
            {
                "job_name": job.job,
                "metrics_path": job.metrics_path,
                "static_configs": [{"targets": list(job.targets), "labels": dict(job.labels)}],
            }
            for job in jobs
        ],
    }


class Prometheus:
    """`prometheus` as a child process, stopped by its PID; use as a context manager."""

    def __init__(self, binary: Path, root: Path, jobs: list[ScrapeJob], interval: float = 1.0) -> None:
        self.binary = binary
        self.root = root
        self.jobs = jobs
        self.interval = interval
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log(self) -> str:
        path = self.root / "prometheus.log"
        return path.read_text(errors="replace") if path.is_file() else ""

    def version(self) -> str:
        """The version line the binary prints (`prometheus, version 3.16.0 (...)`)."""
        out = subprocess.run([str(self.binary), "--version"], capture_output=True, text=True, timeout=30)
        return (out.stdout or out.stderr).splitlines()[0]

    def start(self, timeout: float = 60.0) -> Prometheus:
        self.root.mkdir(parents=True, exist_ok=True)
        config_file = self.root / "prometheus.yml"
        config_file.write_text(yaml.safe_dump(config(self.jobs, self.interval), sort_keys=False))
        self.port = free_port()
        self._log = (self.root / "prometheus.log").open("wb")
        self.process = subprocess.Popen(
            [
                str(self.binary),
                f"--config.file={config_file}",
                f"--storage.tsdb.path={self.root / 'data'}",
                "--storage.tsdb.retention.time=1d",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--log.level=warn",
            ],
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=self._log,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise PrometheusError(f"prometheus exited with {self.process.returncode}:\n{self.log[-3000:]}")
            try:
                if httpx2.get(f"{self.url}/-/ready", timeout=2).status_code == 200:
                    return self
            except httpx2.TransportError:
                pass
            time.sleep(0.1)
        self.stop()
        raise PrometheusError(f"prometheus was not ready within {timeout}s:\n{self.log[-3000:]}")

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process)  # by its PID
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> Prometheus:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def api(self, path: str, **params: str | list[str]) -> dict[str, Any]:
        """GET /api/v1/<path>: the whole answer (`status`, `data` or `errorType`/`error`, `warnings`).
        An expression Prometheus rejects comes back as status "error" with HTTP 400/422, not as an
        exception."""
        response = httpx2.get(f"{self.url}/api/v1/{path}", params=params, timeout=30)
        try:
            answer: dict[str, Any] = response.json()
        except ValueError as exc:
            raise PrometheusError(f"{path}: HTTP {response.status_code}, not JSON: {response.text[:300]}") from exc
        return answer

    def query(self, expr: str, at: float | None = None) -> dict[str, Any]:
        params: dict[str, str | list[str]] = {"query": expr}
        if at is not None:
            params["time"] = f"{at:.3f}"
        return self.api("query", **params)

    def query_range(self, expr: str, start: float, end: float, step: float) -> dict[str, Any]:
        return self.api("query_range", query=expr, start=f"{start:.3f}", end=f"{end:.3f}", step=f"{step:g}")

    def label_values(self, label: str, match: str) -> list[str]:
        answer = self.api(f"label/{label}/values", **{"match[]": [match]})
        if answer.get("status") != "success":
            raise PrometheusError(f"label values of {label} for {match}: {answer.get('error')}")
        return [str(value) for value in answer["data"]]

    def scraped(self, job: str) -> bool:
        """Whether every target of `job` was scraped successfully at least once (`up == 1`)."""
        answer = self.query(f'up{{job="{job}"}}')
        results = answer.get("data", {}).get("result", []) if answer.get("status") == "success" else []
        return bool(results) and all(result["value"][1] == "1" for result in results)
