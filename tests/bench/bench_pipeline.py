"""Per-message cost of the pipeline and store alone, in process, no mail server (not a test).

    .venv/bin/python tests/bench/bench_pipeline.py [--mix realistic|project] [--messages N]
        [--agents] [--profile] [--json]

The same mails as ``bench_poll.py`` (``--mix``), handed to ``Pipeline.process_batch`` in
batches of 100 as the poller hands them (parse, thread, route, commit; the outbox filled, not
sent) on a fresh SQLite store in a temporary directory. Reports CPU time per message (this
process's user + system time: the machine is shared, so wall-clock time is noise) and SQL
statements per message, counted at ``Database.execute_sql`` (every statement peewee runs, and
every plain one of ``store.lookups``/``store.statements``), by kind (SELECT, INSERT, ...).
``--profile`` adds a cProfile of the run. Used by ``tests/unit/desks/test_bench_smoke.py`` at
a tiny N.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import pstats
import resource
import sys
import tempfile
import textwrap
import time
from collections import Counter
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(HERE.parent))

from bench import gen_mix  # noqa: E402

BATCH = 100  # messages fetched per IMAP batch (the poller's default volume allows this)

ROUTING = """\
[[rule]]
name = "Invoices go to billing"
when = { subject = "invoice|refund|receipt" }
then = { department = "billing", priority = "high", tags = ["invoice"] }
"""


def write_config(directory: Path, agents: bool) -> Path:
    people = ('agents = ["alice@example.test"]', 'agents = ["bob@example.test"]')
    if not agents:
        people = ("", "")
    (directory / "departments.toml").write_text(
        f'[[department]]\nname = "general"\n{people[0]}\n\n'
        f'[[department]]\nname = "billing"\n{people[1]}\n'
    )
    (directory / "routing.toml").write_text(ROUTING)
    config = directory / "mailtix.toml"
    config.write_text(
        textwrap.dedent(
            f"""\
            [store]
            url = "sqlite:///{directory / "mailtix.db"}"

            [smtp]
            maildir = "{directory / "outgoing"}"

            [[mailbox]]
            name = "support"
            address = "support@example.test"
            display_name = "ACME Support"
            maildir = "{directory / "inbox"}"

            [rules]
            departments = "departments.toml"
            routing = "routing.toml"

            [tickets]
            auto_reply_budget_per_hour = 1000000
            auto_reply_limit_per_hour = 1000000
            max_mails_per_ticket_per_hour = 1000000

            [agents]
            notifications_per_hour = 1000000

            [templates]
            dir = "{REPO / "templates"}"
            """
        )
    )
    return config


def mails(mix: str, n: int) -> list[bytes]:
    if mix == "realistic":
        return gen_mix.generate(n)[0]
    from bench import bench_poll

    return bench_poll.generate(n)[0]


def run(mix: str, n: int, agents: bool, profile: bool = False) -> dict[str, Any]:
    """Handle ``n`` mails of ``mix`` on a fresh store; the figures (see the module doc)."""
    from peewee import Database

    from mailtix.desks.outcome import Source
    from mailtix.runtime.app import App

    raws = mails(mix, n)
    statements: Counter[str] = Counter()
    texts: Counter[str] = Counter()
    seconds: Counter[str] = Counter()
    original = Database.execute_sql

    def counted(self: Database, sql: str, params: Any = None, *args: Any, **kw: Any) -> Any:
        statements[sql.lstrip().split(None, 1)[0].upper()] += 1
        texts[sql] += 1
        begun = time.perf_counter()
        try:
            return original(self, sql, params, *args, **kw)
        finally:
            seconds[sql] += time.perf_counter() - begun

    with tempfile.TemporaryDirectory(prefix="mailtix-bench-pipeline-") as tmp:
        directory = Path(tmp)
        app = App.open(write_config(directory, agents))
        outcomes: Counter[str] = Counter()
        profiler = cProfile.Profile() if profile else None
        Database.execute_sql = counted  # type: ignore[method-assign]
        cpu_before = _cpu()
        try:
            if profiler:
                profiler.enable()
            for start in range(0, n, BATCH):
                batch = [
                    (raw, Source("support", 1, start + i + 1))
                    for i, raw in enumerate(raws[start : start + BATCH])
                ]
                for group in app.pipeline.process_batch("support", batch):
                    outcomes.update(o.kind for o in group)
            if profiler:
                profiler.disable()
        finally:
            Database.execute_sql = original  # type: ignore[method-assign]
        cpu = _cpu() - cpu_before
        outbox = dict(app.db.execute_sql("select kind, count(*) from outbox group by 1").fetchall())
        app.db.close()
    result: dict[str, Any] = {
        "mix": mix, "messages": n, "agents": agents, "cpu_seconds": cpu,
        "cpu_ms_per_message": 1000 * cpu / n, "statements": sum(statements.values()),
        "statements_per_message": sum(statements.values()) / n,
        "by_kind": dict(statements.most_common()), "outcomes": dict(outcomes),
        "outbox": outbox, "top_statements": [
            (count, round(1000 * seconds[sql], 1), sql[:150])
            for sql, count in texts.most_common(25)
        ], "maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }  # fmt: skip
    if profiler:
        out = io.StringIO()
        stats = pstats.Stats(profiler, stream=out)
        stats.sort_stats("cumulative").print_stats(r"mailtix/", 40)
        stats.sort_stats("tottime").print_stats(25)
        result["profile"] = out.getvalue()
    return result


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--mix", choices=("realistic", "project"), default="realistic")
    parser.add_argument("--messages", type=int, default=1000)
    parser.add_argument("--agents", action="store_true", help="an agent per department")
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--statements", action="store_true", help="the most frequent SQL")
    args = parser.parse_args()
    result = run(args.mix, args.messages, args.agents, args.profile)
    profile = result.pop("profile", "")
    if not args.statements and not args.json:
        result.pop("top_statements")
    if args.json:
        print(json.dumps(result))
        return 0
    print(
        f"{args.mix} mix, N={args.messages}, agents {'yes' if args.agents else 'no'}: "
        f"{result['cpu_ms_per_message']:.2f} ms CPU/message, "
        f"{result['statements_per_message']:.1f} SQL statements/message {result['by_kind']}, "
        f"peak RSS {result['maxrss_mb']:.0f} MB\noutcomes {result['outcomes']}, "
        f"outbox {result['outbox']}"
    )
    if args.statements:
        for count, ms, sql in result["top_statements"]:
            print(f"{count:6d} {ms:8.1f} ms  {sql}")
    print(profile)
    return 0


if __name__ == "__main__":
    sys.exit(main())
