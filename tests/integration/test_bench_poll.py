"""The benchmarks run end to end at a tiny N: bench_poll.py on its own private mail stack,
both mixes, the acknowledgements sent and left in the outbox, every count checked by the script
itself (it exits 1 when one is off); bench_lmtp.py on both mixes, every mail answered 250 with
its receipt. Their figures are not asserted: timing is the scripts' job."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from support.mailstack import MailStack

BENCH = Path(__file__).resolve().parents[1] / "bench" / "bench_poll.py"


def test_the_poll_benchmark_runs_both_mixes_both_ways(mailstack: MailStack) -> None:
    """(The fixture: the mail stack can run here; the script starts one of its own.)"""
    argv = [sys.executable, str(BENCH), "--messages", "12", "--floor-runs", "1"]
    argv += ["--mailtix-runs", "1", "--profile-messages", "5"]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    report = proc.stdout
    assert "--- project mix" in report and "--- realistic mix" in report
    assert report.count("RATIO ") == 4 and report.count("statements per mail") == 4
    assert "WARNING" not in report and "cProfile of `mailtix poll --once`" in report


def test_the_lmtp_benchmark_runs_both_mixes() -> None:
    """bench_lmtp.py exits 1 unless every mail was answered 250 and has its receipt."""
    script = BENCH.with_name("bench_lmtp.py")
    for mix in ("realistic", "project"):
        argv = [sys.executable, str(script), "--messages", "12", "--runs", "1", "--mix", mix]
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
        assert f'"mix": "{mix}", "messages": 12' in proc.stdout
