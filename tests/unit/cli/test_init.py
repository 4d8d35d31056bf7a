"""``mailtix init DIR`` and ``mailtix --version`` as a user runs them (the real CLI in a
subprocess): a starting configuration that is private, loads with its generated agent secret,
and is never written over."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import tomllib
from pathlib import Path

from mailtix.config.load import load_config
from mailtix.domain.version import mailtix_version

ENV = {"MAILTIX_SMTP_PASSWORD": "smtp-secret", "MAILTIX_IMAP_PASSWORD": "imap-secret"}


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mailtix", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **(env or {})},
    )


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_init_writes_a_private_configuration_that_loads(tmp_path: Path) -> None:
    target = tmp_path / "etc" / "mailtix"
    proc = run("init", str(target))
    assert proc.returncode == 0, proc.stderr
    assert "check --connect" in proc.stdout and "run" in proc.stdout
    written = sorted(p.relative_to(target).as_posix() for p in target.rglob("*") if p.is_file())
    assert {"mailtix.toml", "secrets/agent-secret", "config/departments.toml",
            "config/routing.toml"} <= set(written)  # fmt: skip
    assert all(mode(target / name) == 0o600 for name in written)
    assert all(mode(p) == 0o700 for p in [target, *target.rglob("*")] if p.is_dir())
    assert (target / "templates").is_dir() and not any((target / "templates").iterdir())
    secret = (target / "secrets" / "agent-secret").read_text().strip()
    assert len(secret) >= 32
    assert tomllib.loads((target / "mailtix.toml").read_text())["agents"]["secret_file"]
    config = load_config(target / "mailtix.toml", ENV)
    assert config.agents_policy.secret == secret
    assert config.agents_policy.secret_file == target / "secrets" / "agent-secret"
    assert {d.name for d in config.departments} >= {"general"}
    assert secret not in proc.stdout + proc.stderr


def test_init_overwrites_nothing_and_writes_nothing_when_a_file_exists(tmp_path: Path) -> None:
    (tmp_path / "config").mkdir()
    mine = tmp_path / "config" / "routing.toml"
    mine.write_text("# my rules\n")
    proc = run("init", str(tmp_path))
    assert proc.returncode == 2
    assert len(proc.stderr.strip().splitlines()) == 1
    assert str(mine) in proc.stderr and "nothing was written" in proc.stderr
    assert mine.read_text() == "# my rules\n"
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["config", "routing.toml"]


def test_a_file_where_templates_should_be_stops_init_before_it_writes(tmp_path: Path) -> None:
    (tmp_path / "templates").write_text("not a directory\n")
    proc = run("init", str(tmp_path))
    assert proc.returncode == 2 and str(tmp_path / "templates") in proc.stderr
    assert [p.name for p in tmp_path.iterdir()] == ["templates"]


def test_two_inits_make_two_different_secrets(tmp_path: Path) -> None:
    for name in ("a", "b"):
        assert run("init", str(tmp_path / name)).returncode == 0
    first, second = (tmp_path / n / "secrets" / "agent-secret" for n in ("a", "b"))
    assert first.read_text() != second.read_text()


def test_version_is_the_installed_distributions() -> None:
    proc = run("--version")
    assert proc.returncode == 0
    assert proc.stdout == f"mailtix {mailtix_version()}\n"
    pyproject = tomllib.loads((Path(__file__).parents[3] / "pyproject.toml").read_text())
    assert mailtix_version() == pyproject["project"]["version"]


def test_a_fresh_init_checks_clean(tmp_path: Path) -> None:
    """What init writes passes check with no warning (the example BigCorp speaks German,
    which ships)."""
    target = tmp_path / "etc"
    assert run("init", str(target)).returncode == 0
    proc = run("--config", str(target / "mailtix.toml"), "check", env=ENV)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == "" and proc.stdout.startswith("ok:")


def test_without_a_config_the_hint_names_init(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "MAILTIX_CONFIG"}
    proc = subprocess.run(
        [sys.executable, "-m", "mailtix", "status"],
        capture_output=True, text=True, timeout=60, cwd=tmp_path, env=env,
    )  # fmt: skip
    assert proc.returncode == 2
    assert proc.stderr.startswith("mailtix: mailtix.toml: config file not found")
    assert "`mailtix init DIR`" in proc.stderr and "Traceback" not in proc.stderr
