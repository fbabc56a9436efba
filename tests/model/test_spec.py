"""Resolving a catalog entry against config and secrets."""

from __future__ import annotations

import sys

import pytest
from kubemcp.errors import ServerUnavailableError
from kubemcp.model.entry import CatalogEntry, CatalogSource
from kubemcp.model.spec import ServerSpec, WarmBounds, build_spec
from pydantic import ValidationError

SOURCE = CatalogSource(path="/c/catalog.yaml", line=3, directory="/c")


def _entry(**values: object) -> CatalogEntry:
    return CatalogEntry.model_validate({"process": {"command": ["{{python}}", "{{catalog_dir}}/s.py"]}, **values})


def test_templates_expand_from_config_and_placeholders() -> None:
    spec = build_spec(
        "notes",
        _entry(env=[{"name": "DB", "value": "{{notes.db.path}}"}, {"name": "FLAG", "value": True}]),
        SOURCE,
        {"db": {"path": "/data/n.db"}},
        {},
    )
    assert spec.environment() == {"DB": "/data/n.db", "FLAG": "true"}
    assert spec.expand("{{python}} {{catalog_dir}}") == f"{sys.executable} /c"


def test_an_unset_config_value_leaves_its_variable_out_as_docker_does() -> None:
    spec = build_spec("notes", _entry(env=[{"name": "DB", "value": "{{notes.db_path}}"}]), SOURCE, {}, {})
    assert spec.environment() == {}


def test_required_config_from_schema() -> None:
    spec = build_spec("notes", _entry(config=[{"name": "notes", "required": ["db_path"]}]), SOURCE, {}, {})
    with pytest.raises(ServerUnavailableError, match=r"server 'notes': .*'db_path' is a required property"):
        spec.check_config()


def test_secrets_map_to_the_entry_env_names_only() -> None:
    entry = _entry(secrets=[{"name": "gh.token", "env": "GITHUB_TOKEN"}])
    spec = build_spec("gh", entry, SOURCE, {}, {"gh.token": "v1", "unrelated": "v2"})
    assert spec.environment() == {"GITHUB_TOKEN": "v1"}
    assert "v1" not in repr(spec)


def test_missing_secret_is_named_without_values() -> None:
    spec = build_spec("gh", _entry(secrets=[{"name": "gh.token", "env": "T"}]), SOURCE, {}, {"other": "v2"})
    with pytest.raises(ServerUnavailableError) as caught:
        spec.environment()
    assert "gh.token" in str(caught.value)
    assert "v2" not in str(caught.value)


def test_digest_tracks_what_changes_listings() -> None:
    base = build_spec("s", _entry(), SOURCE, {"a": 1}, {})
    assert base.digest == build_spec("s", _entry(description="other words"), SOURCE, {"a": 1}, {}).digest
    assert base.digest != build_spec("s", _entry(), SOURCE, {"a": 2}, {}).digest
    assert base.digest != build_spec("s", _entry(image="x/y"), SOURCE, {"a": 1}, {}).digest


def _warm_spec(entry: dict[str, object]) -> ServerSpec:
    source = CatalogSource(path="c.yaml", line=1, directory=".")
    return build_spec("s", CatalogEntry.model_validate({"process": {"command": ["x"]}, **entry}), source, {}, {})


def test_warm_is_an_option_of_any_entry_with_the_old_kubernetes_form_kept() -> None:
    assert _warm_spec({}).warm is None
    assert _warm_spec({"warm": {"min": 1, "max": 3}}).warm == WarmBounds(1, 3)
    assert _warm_spec({"warm": {}}).warm == WarmBounds(1, 4)  # max defaults to 4 (or min, if larger)
    assert _warm_spec({"warm": {"min": 6}}).warm == WarmBounds(6, 6)
    assert _warm_spec({"warm": {"min": 0, "max": 2}}).warm == WarmBounds(0, 2)
    assert _warm_spec({"warm": 2}).warm == WarmBounds(2, 2)  # short for a fixed pool
    assert _warm_spec({"kubernetes": {"warmPool": 2}}).warm == WarmBounds(2, 2)
    assert _warm_spec({"warm": {"min": 0, "max": 0}}).warm is None
    # Resident servers have no warm pool; the warm bounds do not change what the server lists.
    assert _warm_spec({"warm": 2, "longLived": True}).warm is None
    assert _warm_spec({"warm": 2}).digest == _warm_spec({}).digest


def test_warm_bounds_are_checked() -> None:
    for bad in ({"min": 3, "max": 1}, {"max": 21}, {"min": -1}, {"size": 2}):
        with pytest.raises(ValidationError):
            CatalogEntry.model_validate({"process": {"command": ["x"]}, "warm": bad})


def test_a_warm_schedule_is_read_as_daily_utc_windows_in_minutes() -> None:
    schedule = [{"from": "08:00", "to": "18:30", "min": 3}, {"from": "22:00", "to": "02:00", "min": 2}]
    bounds = _warm_spec({"warm": {"min": 1, "max": 4, "schedule": schedule}}).warm
    assert bounds == WarmBounds(1, 4, ((480, 1110, 3), (1320, 120, 2)))
    assert bounds != WarmBounds(1, 4)  # a changed schedule is a changed pool


def test_warm_schedule_windows_are_checked() -> None:
    for bad, message in (
        ({"from": "8:00", "to": "18:00", "min": 1}, "should match pattern"),
        ({"from": "24:00", "to": "18:00", "min": 1}, "should match pattern"),
        ({"from": "08:00", "to": "08:00", "min": 1}, "is empty"),
        ({"from": "08:00", "to": "18:00", "min": 5}, "more than 'max' \\(4\\)"),
        ({"from": "08:00", "to": "18:00"}, "Field required"),
    ):
        with pytest.raises(ValidationError, match=message):
            CatalogEntry.model_validate({"process": {"command": ["x"]}, "warm": {"max": 4, "schedule": [bad]}})
