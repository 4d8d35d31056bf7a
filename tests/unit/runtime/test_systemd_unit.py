"""config/mailtix.service: a notify unit with a watchdog, restarts and hardening, that
``systemd-analyze verify`` accepts without a warning (where that command exists)."""

from __future__ import annotations

import configparser
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

UNIT = Path(__file__).resolve().parents[3] / "config" / "mailtix.service"


def service() -> configparser.SectionProxy:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(UNIT.read_text())
    return parser["Service"]


def test_the_unit_is_a_hardened_notify_service_with_a_watchdog() -> None:
    found = service()
    wanted = {
        "Type": "notify", "Restart": "on-failure", "ProtectSystem": "strict",
        "NoNewPrivileges": "yes", "PrivateTmp": "yes", "StateDirectory": "mailtix",
        "UMask": "0077", "ReadWritePaths": "/var/lib/mailtix",
    }  # fmt: skip
    assert {k: found.get(k) for k in wanted} == wanted
    assert int(found["WatchdogSec"]) >= 60  # the daemon feeds it every 30 s at most
    assert found["ExecStart"].endswith(" run")


def test_systemd_analyze_verify_accepts_it(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed: config/mailtix.service NOT verified")
    # the unit names /opt/mailtix; verify checks that ExecStart exists, so point it here
    here = Path(sys.executable).with_name("mailtix")
    copy = tmp_path / "mailtix.service"
    copy.write_text(UNIT.read_text().replace("/opt/mailtix/.venv/bin/mailtix", str(here)))
    proc = subprocess.run(
        [analyze, "verify", str(copy)], capture_output=True, text=True, timeout=60
    )
    problems = [line for line in proc.stderr.splitlines() if "mailtix.service" in line]
    print(f"\nsystemd-analyze verify: exit {proc.returncode}, {proc.stderr.strip() or 'silent'}")
    assert proc.returncode == 0 and problems == [], proc.stderr
