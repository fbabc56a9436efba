"""Logging: always to stderr (stdout is the stdio transport), text or JSON, with secrets masked."""

from __future__ import annotations

import json
import logging
import os
import sys
import time

from kubemcp.masking import SecretValues, known_secrets


class SecretMask(logging.Filter):
    """Masks every known secret value, in any of its spellings, in a record's message and traceback."""

    def __init__(self, values: SecretValues) -> None:
        super().__init__()
        self.values = values

    def filter(self, record: logging.LogRecord) -> bool:
        if not self.values:
            return True
        message = record.getMessage()
        masked = self.values.mask(message)
        if masked != message or record.exc_info:
            if record.exc_info:
                masked = f"{masked}\n{self.values.mask(logging.Formatter().formatException(record.exc_info))}"
                record.exc_info = None
                record.exc_text = None
            record.msg, record.args = masked, None
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry)


class RepeatLimit(logging.Filter):
    """Lets at most `burst` records with the same message through per `period` seconds; the first
    record after a quiet spell says how many were left out. For loggers that can repeat one line
    thousands of times a second (refused connections, `accept()` failing when files run out)."""

    def __init__(self, burst: int = 5, period: float = 10.0) -> None:
        super().__init__()
        self.burst = burst
        self.period = period
        self._windows: dict[tuple[str, int, str], tuple[float, int, int]] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        key = (record.name, record.levelno, str(record.msg))
        now = time.monotonic()
        start, passed, dropped = self._windows.get(key, (now, 0, 0))
        if now - start >= self.period:
            if dropped:
                record.msg = f"{record.msg} ({dropped} more like this in the last {self.period:g}s were not logged)"
            self._windows[key] = (now, 1, 0)
            if len(self._windows) > 1000:  # many distinct messages: forget the old windows
                self._windows = {k: v for k, v in self._windows.items() if now - v[0] < self.period}
            return True
        if passed < self.burst:
            self._windows[key] = (start, passed + 1, dropped)
            return True
        self._windows[key] = (start, passed, dropped + 1)
        return False


secret_mask = SecretMask(known_secrets)


def setup_logging(*, debug: bool = False, json_format: bool = False) -> None:
    """`LOG_LEVEL`, `DEBUG` and `KUBEMCP_LOG_FORMAT=json` from the environment apply too."""
    if debug or os.environ.get("DEBUG", "").lower() in {"1", "true", "yes"}:
        level = "DEBUG"
    else:
        level = os.environ.get("LOG_LEVEL", "INFO").upper()
    json_format = json_format or os.environ.get("KUBEMCP_LOG_FORMAT", "").lower() == "json"
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(secret_mask)
    handler.setFormatter(
        JsonFormatter() if json_format else logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    )
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level if level in logging.getLevelNamesMapping() else "INFO")
    for noisy in ("httpx", "httpx2", "mcp", "uvicorn", "sse_starlette"):
        logging.getLogger(noisy).setLevel("WARNING" if root.level > logging.DEBUG else "DEBUG")
