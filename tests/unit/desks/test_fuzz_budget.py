"""Every mail of tests/data/corpus plus generated hostile structures (tests/data/make_hostile.py)
through the whole pipeline - parse, automated check, correlate, routing with regex rules, the
desks - each under a CPU-time budget (issue 13). A mail over budget fails the test; the slowest
mails are printed with their times (run with -s).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from mailtix.desks.outcome import Source
from mailtix.runtime.app import App

TESTS = Path(__file__).parents[2]
sys.path.insert(0, str(TESTS / "data"))
sys.path.insert(0, str(TESTS))
from bench.sweep_corpus import CONFIG, DEPARTMENTS, LOCAL, REPO, SUPPORT, looks_like_mail  # noqa: E402
from make_hostile import hostile_mails  # noqa: E402

# The bad cases took minutes; an ordinary mail takes milliseconds and the largest
# hostile ones up to about 4 s on a busy 2-core machine (measured, printed below).
BUDGET = 6.0  # seconds of CPU per mail
ROUTING = """\
[[rule]]
name = "Outages are urgent"
when = { subject = "urgent.*(down|outage)" }
then = { priority = "urgent" }

[[rule]]
name = "Invoices by body"
when = { body = "invoice|refund|(pay(ment)?\\\\s+)+due" }
then = { tags = ["billing"] }
continue = true

[[rule]]
name = "Mailers by header"
when = { header = { "x-mailer" = "(outlook|thunderbird).*[0-9]+" } }
then = { tags = ["client"] }
continue = true
"""


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[App]:
    base = tmp_path_factory.mktemp("fuzz")
    config = CONFIG.format(base=base, support=SUPPORT, templates=REPO / "templates")
    config = config.replace("[rules]\n", '[rules]\nrouting = "routing.toml"\n')
    (base / "mailtix.toml").write_text(config)
    (base / "departments.toml").write_text(DEPARTMENTS)
    (base / "routing.toml").write_text(ROUTING)
    application = App.open(base / "mailtix.toml")
    yield application
    application.db.close()


def corpus_mails() -> Iterator[tuple[str, bytes]]:
    for path in sorted(p for p in LOCAL.rglob("*") if p.is_file()):
        if looks_like_mail(path):
            yield str(path.relative_to(LOCAL)), path.read_bytes()


def test_no_mail_takes_more_than_its_cpu_budget(app: App) -> None:
    app.pipeline.cpu_budget = 1000.0  # measure here; the pipeline's own net must not hide it
    times: dict[str, list[tuple[float, str, str]]] = {"corpus": [], "generated": []}
    mails = [("corpus", m) for m in corpus_mails()] + [("generated", m) for m in hostile_mails()]
    for uid, (kind, (name, raw)) in enumerate(mails, start=1):
        started = time.process_time()
        outcome = app.pipeline.process(raw, Source("support", 1, uid))
        times[kind].append((time.process_time() - started, name, outcome.kind))
    over = []
    for kind, measured in times.items():
        measured.sort(reverse=True)
        total = sum(seconds for seconds, _, _ in measured)
        print(f"\n{len(measured)} {kind} mails, {total:.1f} s CPU; the slowest:")
        for seconds, name, outcome in measured[:10]:
            print(f"  {seconds:6.2f} s  {outcome:<11}  {name}")
        over += [(round(seconds, 2), name) for seconds, name, _ in measured if seconds > BUDGET]
    assert not over, f"over the {BUDGET} s budget: {over}"
