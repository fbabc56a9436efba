"""`kubemcp operator` and `kubemcp secret ... --kubernetes` on the command line (no cluster needed)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from kubemcp.cli import build_parser, main


def test_operator_options() -> None:
    args = build_parser().parse_args(
        ["operator", "-n", "a", "--namespace", "b", "--gateway-image", "img:1", "--liveness", "http://0.0.0.0:8080/h"]
    )
    assert (args.namespace, args.all_namespaces, args.gateway_image, args.liveness) == (
        ["a", "b"],
        False,
        "img:1",
        "http://0.0.0.0:8080/h",
    )
    assert build_parser().parse_args(["operator", "--all-namespaces"]).all_namespaces is True
    with pytest.raises(SystemExit):
        build_parser().parse_args(["operator", "-A", "-n", "x"])


def test_a_broken_kubeconfig_fails_before_the_operator_starts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = str(tmp_path / "nothing")
    assert main(["operator", "--namespace", "x", "--kubeconfig", missing]) == 1
    assert f"cannot load kubeconfig {missing}" in capsys.readouterr().err


def test_secret_options_for_kubernetes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = build_parser().parse_args(["secret", "set", "a.b=VALUE", "--kubernetes", "-n", "team", "--secret-name", "s"])
    assert (args.kubernetes, args.namespace, args.secret_name) == (True, "team", "s")
    assert build_parser().parse_args(["secret", "ls"]).secret_name == "kubemcp-secrets"
    missing = str(tmp_path / "nothing")
    assert main(["secret", "set", "a.b=TOPSECRET", "--kubernetes", "--kubeconfig", missing]) == 1
    out = capsys.readouterr()
    assert "TOPSECRET" not in out.out + out.err
    assert not (tmp_path / "kubemcp-home" / "secrets.env").exists()


def test_python_dash_m_runs_the_operator_command() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "kubemcp.controller", "--help"], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0
    assert "--all-namespaces" in done.stdout
