"""The benchmarks' own code at a tiny N: the realistic mix is what issue 22 specifies, and the
in-process pipeline benchmark runs and counts (no timing asserted; bench_poll.py itself, which
needs the mail stack, is smoke-run by tests/integration/test_bench_poll.py)."""

from __future__ import annotations

import email
import email.policy
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench import bench_pipeline, gen_mix  # noqa: E402


def test_the_realistic_mix_has_the_proportions_of_the_spec() -> None:
    raws, stats = gen_mix.generate(2000)
    assert gen_mix.generate(50)[0] == gen_mix.generate(50)[0]  # fixed seed, fixed bytes
    n = len(raws)
    assert 2100 <= stats.bytes / n <= 2500  # ~2.3 KB
    assert 0.27 <= stats.replies / n <= 0.33
    assert 0.42 <= stats.html / n <= 0.48 and 0.12 <= stats.attachment / n <= 0.18
    assert stats.new + stats.replies == n and len(stats.customers) < stats.new / 2
    openers: list[str] = []  # ticket k-1's customer, in the order the store numbers them
    for raw in raws:
        mail = email.message_from_bytes(raw, policy=email.policy.default)
        sender = mail["From"].addresses[0].addr_spec
        tag = re.search(r"\[SUP-(\d+)\]", str(mail["Subject"]))
        if tag is None:
            openers.append(sender)
            continue
        number = int(tag.group(1))
        assert 1 <= number <= len(openers) and openers[number - 1] == sender  # theirs, earlier
    regulars = sum(1 for s in openers if s.startswith("regular"))
    assert 0.2 <= regulars / len(openers) <= 0.3  # a few customers with many tickets


def test_the_pipeline_benchmark_handles_and_counts_every_mail() -> None:
    result = bench_pipeline.run("realistic", 30, agents=True)
    _, stats = gen_mix.generate(30)
    assert result["outcomes"] == {"ticket": stats.new, "followup": stats.replies}
    assert result["outbox"] == {"acknowledgement": stats.new, "notification": 30}
    assert result["statements"] > 30 and result["by_kind"]["INSERT"] > 0
