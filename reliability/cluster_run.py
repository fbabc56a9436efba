"""`make reliability-cluster`: the fault cases on the real test cluster, each run a few times, and their
table in docs/reliability.md (between the `reliability-cluster` markers).

.venv/bin/python reliability/cluster_run.py [--rounds N] [--docs PATH]

The cases are the cluster tests marked `fault` (tests/runtimes/test_kubernetes_faults_cluster.py, the
missing image in tests/runtimes/test_kubernetes_pods_cluster.py, the operator killed mid-reconcile in
tests/controller/test_operator_cluster.py), repeated `--rounds` times in one pytest session (so the images
are built once), on the instance `KUBEMCP_CLUSTER_INSTANCE` names. A cluster this script started is brought
down at the end.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
for folder in (REPO, REPO / "tests"):
    if str(folder) not in sys.path:
        sys.path.append(str(folder))

from reliability import report  # noqa: E402
from reliability.cluster_outcomes import OUTCOMES_ENV, ROUNDS_ENV  # noqa: E402

START = "<!-- reliability-cluster:start -->"
END = "<!-- reliability-cluster:end -->"
DOCS = REPO / "docs" / "reliability.md"
FIGURES_ENV = "KUBEMCP_FAULT_FIGURES"  # the tests write their figures there (tests/cluster_pods.py)
MAX_ROUNDS = 10
SESSION_TIMEOUT_SECONDS = 120 * 60
TESTS = ["tests/runtimes", "tests/controller/test_operator_cluster.py"]
TARGETS = {
    "API server restarted during calls": "calls in flight and while it is away fail naming the server; "
    "calls after it succeed; no Pod left",
    "server Pod OOM-killed mid-call": "the call fails with OOMKilled, naming the server; others unaffected; "
    "no Pod left",
    "attach stream cut (kubelet killed)": "the calls fail naming the server; the long-lived instance is replaced; "
    "no Pod left",
    "server image does not exist": "the call fails at once with the reason, not after the start timeout; "
    "no Pod or Job left",
    "operator killed mid-reconcile": "the restarted operator converges; exactly what is asked exists; "
    "no discovery Pod or Job left",
}


@dataclass
class Case:
    name: str
    tried: int = 0
    passed: int = 0
    reasons: list[str] = field(default_factory=list)
    figures: list[dict[str, float]] = field(default_factory=list)

    def describe(self) -> str:
        parts = []
        for key, label in (
            ("seconds_to_error", "time to the error"),
            ("seconds_new_calls_failed", "new calls failed within"),
            ("seconds_to_converge", "time to converge"),
        ):
            values = [f[key] for f in self.figures if key in f]
            if values:
                parts.append(f"{label}: median {statistics.median(values):.2f} s, max {max(values):.2f} s")
        left = [f["leftovers"] for f in self.figures if "leftovers" in f]
        if left:
            parts.append(f"leftovers {int(max(left))}")
        return "; ".join(parts) or "-"


def _run(rounds: int, work: Path, env: dict[str, str]) -> None:
    argv = [str(REPO / ".venv" / "bin" / "pytest"), "-q", "-p", "reliability.cluster_outcomes", "-m", "fault"]
    argv += ["-p", "no:cacheprovider", *TESTS]
    started = time.monotonic()
    log = work / "pytest.log"
    with log.open("wb") as out:
        result = subprocess.run(
            argv,
            cwd=REPO,
            env={**env, ROUNDS_ENV: str(rounds)},
            stdout=out,
            stderr=subprocess.STDOUT,
            timeout=SESSION_TIMEOUT_SECONDS,
            check=False,
        )
    print(f"{rounds} rounds: pytest exit {result.returncode} in {time.monotonic() - started:.0f} s")
    print(log.read_text(errors="replace")[-3000:])


def _collect(outcomes: Path, figures: Path) -> dict[str, Case]:
    cases = {name: Case(name) for name in TARGETS}
    for line in outcomes.read_text().splitlines() if outcomes.exists() else []:
        record = json.loads(line)
        case = cases.setdefault(record["case"], Case(record["case"]))
        case.tried += 1
        if record["outcome"] == "passed":
            case.passed += 1
        elif record["reason"]:
            case.reasons.append(record["reason"])
    for line in figures.read_text().splitlines() if figures.exists() else []:
        record = json.loads(line)
        name = record.pop("case")
        cases.setdefault(name, Case(name)).figures.append(record)
    return cases


def render(cases: dict[str, Case], rounds: int, minutes: float) -> str:
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        START,
        "## Faults in the cluster",
        "",
        f"Measured {now} by `.venv/bin/python reliability/cluster_run.py` (`make reliability-cluster`): "
        f"{rounds} rounds in {minutes:.1f} min (image builds included) on the one-node test cluster "
        f"(tests/cluster), {os.cpu_count()} CPUs shared with other work. Each round runs the cluster tests "
        "marked `fault`: a real gateway "
        "(`--runtime kubernetes`) or operator on this machine, the probe server in Pods. Time to the error is "
        "from the fault (or the call) to the client's error; leftovers are the server Pods and Jobs still there "
        "after the gateway stopped and a bounded wait.",
        "",
        "| Case | Target | Tried | Passed | Failed | Figures |",
        "|---|---|---:|---:|---:|---|",
    ]
    for case in cases.values():
        target = TARGETS.get(case.name, "")
        failed = case.tried - case.passed
        lines.append(f"| {case.name} | {target} | {case.tried} | {case.passed} | {failed} | {case.describe()} |")
    failures = [case for case in cases.values() if case.reasons]
    if failures:
        lines += ["", "### Failures"]
        for case in failures:
            lines.append(f"- {case.name}: {'; '.join(sorted(set(case.reasons)))}")
    lines.append(END)
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help=f"times each case runs (1-{MAX_ROUNDS})")
    parser.add_argument("--docs", type=Path, default=DOCS)
    args = parser.parse_args()
    rounds = max(1, min(args.rounds, MAX_ROUNDS))
    from cluster import harness

    missing = harness.missing_prerequisites()
    if missing or not harness.binaries_present():
        print("the test cluster's prerequisites are missing: run `bash tests/cluster/setup.sh` first", file=sys.stderr)
        return 2
    cluster = harness.up()
    started = time.monotonic()
    try:
        with tempfile.TemporaryDirectory(prefix="kubemcp-faults-") as folder:
            work = Path(folder)
            outcomes, figures = work / "outcomes.jsonl", work / "figures.jsonl"
            env = {
                **os.environ,
                "KUBEMCP_CLUSTER": "1",
                "PYTHONPATH": str(REPO),
                OUTCOMES_ENV: str(outcomes),
                FIGURES_ENV: str(figures),
            }
            _run(rounds, work, env)
            cases = _collect(outcomes, figures)
            section = render(cases, rounds, (time.monotonic() - started) / 60)
    finally:
        if not cluster.reused:
            harness.down()
    if not any(case.tried for case in cases.values()):
        print("no fault case ran (see the pytest output above): docs left unchanged", file=sys.stderr)
        return 1
    report.write(args.docs, section, START, END)  # after the `reliability` section
    print(section)
    return 0 if all(case.tried and case.passed == case.tried for case in cases.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
