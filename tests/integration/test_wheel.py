"""mailtix installed as an admin installs it: the wheel built from this tree, installed with its
dependencies into a fresh virtualenv outside the checkout, then ``mailtix --version``, ``demo``
(and ``backup`` of its store) and ``init`` + ``check`` run from a directory that is not the
checkout.

Offline: the dependencies come from a wheelhouse beside the test environment
(``<sys.prefix>/wheelhouse``), filled by ``pip wheel`` the first time (the only step that needs
the package index; tests/run.sh has just installed the same packages) and used with
``--no-index`` after that. When it cannot be filled the test fails and says why.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import time
import tomllib
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SOURCES = ("pyproject.toml", "README.md", "mailtix", "templates", "config", "mailtix.toml.example")
WHEELHOUSE = Path(sys.prefix) / "wheelhouse"
PASSWORDS = {"MAILTIX_SMTP_PASSWORD": "smtp-secret", "MAILTIX_IMAP_PASSWORD": "imap-secret"}


def run(*args: str | Path, env: dict[str, str] | None = None, cwd: Path | None = None,
        ) -> subprocess.CompletedProcess[str]:  # fmt: skip
    return subprocess.run(
        [str(a) for a in args], capture_output=True, text=True, timeout=300, env=env, cwd=cwd
    )


def ok(proc: subprocess.CompletedProcess[str]) -> str:
    tail = "\n".join((proc.stdout + proc.stderr).splitlines()[-30:])
    assert proc.returncode == 0, f"{' '.join(proc.args)} exited {proc.returncode}:\n{tail}"
    return proc.stdout


def offline_env() -> dict[str, str]:
    """The environment with no pip configuration at all (no index, no extra find-links)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "PYTHON"))}
    return {**env, "PIP_CONFIG_FILE": os.devnull, "PIP_DISABLE_PIP_VERSION_CHECK": "1"}


def build_wheel(out: Path) -> Path:
    """The wheel of a copy of this tree's sources (no build/ or egg-info left in the checkout)."""
    for module in ("setuptools", "wheel"):
        if importlib.util.find_spec(module) is None:
            pytest.fail(f"{module} is not installed in {sys.prefix}: the test extras bring it "
                        "(bash tests/run.sh, or pip install -e '.[test]')")  # fmt: skip
    source = out / "source"
    for name in SOURCES:
        if (REPO / name).is_dir():
            shutil.copytree(REPO / name, source / name,
                            ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))  # fmt: skip
        else:
            source.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, source / name)
    ok(run(sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
           "--no-index", "-q", "-w", out / "dist", source, env=offline_env()))  # fmt: skip
    (wheel,) = (out / "dist").glob("mailtix-*.whl")
    return wheel


def install(wheel: Path, venv: Path) -> None:
    """``wheel`` and its dependencies into ``venv``, from the wheelhouse only."""
    command = (sys.executable, "-m", "pip", "--python", venv / "bin" / "python", "install",
               "-q", "--no-index", "--find-links", WHEELHOUSE, wheel)  # fmt: skip
    first = run(*command, env=offline_env())
    if first.returncode == 0:
        return
    WHEELHOUSE.mkdir(exist_ok=True)
    fill = run(sys.executable, "-m", "pip", "wheel", "-q", "-w", WHEELHOUSE, wheel)
    for stale in WHEELHOUSE.glob("mailtix-*.whl"):  # only the dependencies are kept
        stale.unlink()
    if fill.returncode != 0:
        pytest.fail(
            f"the dependencies cannot be installed offline: {WHEELHOUSE} lacks some and "
            f"`pip wheel` could not fetch them (no package index?):\n{first.stderr[-1500:]}\n"
            f"{fill.stderr[-1500:]}"
        )
    ok(run(*command, env=offline_env()))


def test_the_wheel_installs_and_runs_outside_the_checkout(tmp_path: Path) -> None:
    assert not tmp_path.resolve().is_relative_to(REPO)
    started = time.perf_counter()
    wheel = build_wheel(tmp_path / "build")
    built = time.perf_counter()
    names = set(zipfile.ZipFile(wheel).namelist())
    shipped = {
        "mailtix/shipped/" + p.relative_to(REPO).as_posix()
        for folder in ("templates", "config")
        for p in (REPO / folder).rglob("*")
        if p.is_file() and not p.name.startswith(".")
    }
    assert shipped | {"mailtix/shipped/mailtix.toml.example"} <= names
    venv = tmp_path / "venv"
    ok(run(sys.executable, "-m", "venv", "--without-pip", venv))
    install(wheel, venv)
    installed = time.perf_counter()
    ok(run(sys.executable, "-m", "pip", "--python", venv / "bin" / "python", "check",
           env=offline_env()))  # fmt: skip

    work = tmp_path / "elsewhere"
    work.mkdir()
    env = {**offline_env(), **PASSWORDS}
    mailtix = venv / "bin" / "mailtix"
    where = ok(run(venv / "bin" / "python", "-c", "import mailtix; print(mailtix.__file__)",
                   env=env, cwd=work))  # fmt: skip
    assert Path(where.strip()).is_relative_to(venv)
    version = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
    assert ok(run(mailtix, "--version", env=env, cwd=work)) == f"mailtix {version}\n"

    demo = ok(run(mailtix, "demo", "--dir", work / "demo", env=env, cwd=work))
    assert "SUP-1" in demo and "acknowledgement" in demo.lower()
    shown = ok(run(mailtix, "--config", work / "demo" / "mailtix.toml", "tickets", "list",
                   "--json", env=env, cwd=work))  # fmt: skip
    assert '"SUP-1"' in shown
    ok(run(mailtix, "--config", work / "demo" / "mailtix.toml", "backup", work / "demo.db",
           env=env, cwd=work))  # fmt: skip
    assert (work / "demo.db").stat().st_size > 0

    ok(run(mailtix, "init", work / "etc", env=env, cwd=work))
    checked = ok(run(mailtix, "--config", work / "etc" / "mailtix.toml", "check",
                     env=env, cwd=work))  # fmt: skip
    assert checked.startswith("ok:") and f"mailtix {version}" in checked
    done = time.perf_counter()
    print(f"\nwheel: built {built - started:.1f} s, venv + install {installed - built:.1f} s, "
          f"commands {done - installed:.1f} s, in all {done - started:.1f} s")  # fmt: skip
