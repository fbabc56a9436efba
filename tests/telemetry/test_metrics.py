"""The gateway's registry: the admission-control hook and the start phases a runtime marks."""

from __future__ import annotations

from kubemcp.telemetry import calls
from kubemcp.telemetry.metrics import exposition, record_queue_depth
from prometheus_client.parser import text_string_to_metric_families


def _sample(name: str, **labels: str) -> float | None:
    for family in text_string_to_metric_families(exposition().decode()):
        for sample in family.samples:
            if sample.name == name and sample.labels == labels:
                return sample.value
    return None


def test_queue_depth_hook_sets_the_gauge() -> None:
    record_queue_depth("queued-server", 3)
    assert _sample("kubemcp_backend_queue_depth", server="queued-server") == 3
    record_queue_depth("queued-server", 0)
    assert _sample("kubemcp_backend_queue_depth", server="queued-server") == 0


def test_phases_are_marked_only_while_an_instance_starts_and_go_to_the_calls_note() -> None:
    calls.mark("created")  # nothing is being started: ignored
    assert _sample("kubemcp_instance_start_phase_seconds_count", server="phased", phase="created") is None
    with calls.noting() as note:
        phases = calls.StartPhases("phased")
        with calls.starting(phases):
            calls.mark("created")
            calls.mark("created")  # once per start
            calls.mark("running")
        phases.mark("initialized")
        phases.finished(ok=True)
        calls.note_warm("phased", "miss")
    assert list(note.phases) == ["created", "running", "initialized"]
    assert note.warm is False
    assert _sample("kubemcp_instance_start_phase_seconds_count", server="phased", phase="created") == 1
    assert _sample("kubemcp_instance_starts_total", server="phased", outcome="ok") == 1
    assert _sample("kubemcp_warm_pool_takes_total", server="phased", result="miss") == 1
