"""``mailtix report --format csv`` piped to a file is a CSV a spreadsheet reads: its CRLF row
ends are not shown as "␍" (control pictures are for characters from mail), while ``--output``
writes the RFC 4180 bytes unchanged."""

from __future__ import annotations

import csv
import io
import subprocess
import sys
from pathlib import Path

from support.config import small_config


def mailtix(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mailtix", "--config", str(config), *args],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def test_csv_on_stdout_has_plain_row_ends(tmp_path: Path) -> None:
    config = small_config(tmp_path, routing="")
    proc = mailtix(config, "report", "--format", "csv")
    assert proc.returncode == 0, proc.stderr
    assert "\u240d" not in proc.stdout
    rows = list(csv.reader(io.StringIO(proc.stdout)))
    assert rows[0][0] == "section" and rows[0][-1] == "satisfaction_average"
    assert rows[1][0] == "overall"
    target = tmp_path / "r.csv"
    assert mailtix(config, "report", "--format", "csv", "--output", str(target)).returncode == 0
    written = target.read_bytes()
    assert written.startswith(b"section,") and b"satisfaction_average\r\n" in written
