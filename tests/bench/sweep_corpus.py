"""Run every mail of a corpus (default tests/data/corpus; --corpus DIR for another collection of
the same layout) through ``Pipeline.process`` and count the outcomes.

    .venv/bin/python tests/bench/sweep_corpus.py [--corpus DIR] [--hostile] [--slowest N]
        [--keep] [-v]

A throwaway SQLite store and a Maildir SMTP sink in a temp dir (the demo's config shape); one
``Source(mailbox, uidvalidity=1, uid=n)`` per file. Files that do not start with a header block
(talon/trimmer bodies, .json/.yml expectations, TNEF blobs ...) are skipped and counted.
Reports tickets, follow-ups, ignored (by reason prefix), duplicates, quarantined (by reason),
deferred, crashes (exceptions escaping ``process``; must be 0) and "internal error" quarantine
reasons (should be 0), then drains the outbox into the Maildir sink. Prints time and peak RSS,
and the N slowest mails by CPU time (--slowest, default 10). --hostile adds the generated
hostile mails of tests/data/make_hostile.py (named "hostile/<case>").
"""

from __future__ import annotations

import argparse
import re
import resource
import shutil
import sys
import tempfile
import time
import traceback
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from mailtix.desks.outcome import Outcome, Source  # noqa: E402
from mailtix.outbound import outbox  # noqa: E402
from mailtix.runtime.app import App  # noqa: E402
from mailtix.store.models import QuarantineItem  # noqa: E402

LOCAL = REPO / "tests" / "data" / "corpus"
SUPPORT = "support@sweep.example"

CONFIG = """\
[store]
url = "sqlite:///{base}/sweep.db"

[tickets]
prefix = "SWP"

[smtp]
maildir = "{base}/outgoing"

[[mailbox]]
name = "support"
address = "{support}"
display_name = "Sweep Support"
maildir = "{base}/inbox"
department = "general"

[rules]
departments = "departments.toml"

[templates]
dir = "{templates}"
"""

DEPARTMENTS = """\
[[department]]
name = "general"
agents = ["agent@sweep.example"]

[[agent]]
email = "agent@sweep.example"
name = "Sweep Agent"
"""

# The first non-blank line of a mail: a header field ("Name:", obsolete "Name  :" too) or an
# mbox "From " line.
_FIRST_LINE = re.compile(rb"(>?From |[!-9;-~]+[ \t]*:)")
EXPECTATION_SUFFIXES = (".json", ".yml", ".list")  # expected results next to the mails


def looks_like_mail(path: Path) -> bool:
    """Decide by content: the file starts (after blank lines and a UTF-8 BOM) with a header
    field or an mbox From line, or has one junk line before the header (parse.py accepts that,
    e.g. Zammad's "---- Original email message ----"). Expectation files are never mails."""
    if path.suffix.lower() in EXPECTATION_SUFFIXES:
        return False
    head = path.read_bytes()[:4096].removeprefix(b"\xef\xbb\xbf").lstrip(b"\r\n\t ")
    second = re.split(rb"\r\n|\n|\r", head, maxsplit=1)[-1]
    return bool(_FIRST_LINE.match(head) or re.match(rb"[!-9;-~]+:", second))


def rss_mb() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    return peak / 1024


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", type=Path, default=None)
    parser.add_argument("--keep", action="store_true", help="keep the temp dir and print it")
    parser.add_argument("-v", "--verbose", action="store_true", help="list every quarantine")
    parser.add_argument("--slowest", type=int, default=10, metavar="N", help="list the N slowest")
    parser.add_argument("--hostile", action="store_true", help="add tests/data/make_hostile.py")
    args = parser.parse_args()
    corpus = args.corpus or LOCAL
    files = sorted(p for p in corpus.rglob("*") if p.is_file())
    mails = [p for p in files if looks_like_mail(p)]
    skipped = [p for p in files if p not in set(mails)]
    skipped_by_folder = Counter(p.relative_to(corpus).parts[0] for p in skipped)
    print(f"corpus: {corpus}: {len(files)} files, {len(mails)} mails, {len(skipped)} skipped")
    print(f"skipped by folder: {dict(skipped_by_folder.most_common())}")

    base = Path(tempfile.mkdtemp(prefix="mailtix-sweep-"))
    templates = REPO / "templates"
    (base / "mailtix.toml").write_text(
        CONFIG.format(base=base, support=SUPPORT, templates=templates)
    )
    (base / "departments.toml").write_text(DEPARTMENTS)
    app = App.open(base / "mailtix.toml")

    kinds: Counter[str] = Counter()
    ignored: Counter[str] = Counter()
    quarantined: Counter[str] = Counter()
    crashes: list[tuple[Path, str]] = []
    per_file: list[tuple[Path, Outcome]] = []
    slowest: list[tuple[float, Path]] = []
    rss_before = rss_mb()
    started = time.perf_counter()
    for uid, (path, raw) in enumerate(inputs(mails, corpus, args.hostile), start=1):
        t0 = time.process_time()
        try:
            outcome = app.pipeline.process(raw, Source("support", uidvalidity=1, uid=uid))
        except Exception:  # noqa: BLE001 - counting crashes is the point
            crashes.append((path, traceback.format_exc(limit=3)))
            continue
        slowest.append((time.process_time() - t0, path))
        per_file.append((path, outcome))
        kinds[outcome.kind] += 1
        if outcome.kind == "ignored":
            ignored[group(outcome.detail)] += 1
        elif outcome.kind == "quarantined":
            quarantined[group(outcome.detail)] += 1
    elapsed = time.perf_counter() - started
    t0 = time.perf_counter()
    sent = dict(outbox.drain(app.config.smtp, app.clock))
    draining = time.perf_counter() - t0
    written = len(list((base / "outgoing" / "new").glob("*")))

    each = elapsed / max(len(per_file), 1) * 1000
    print(
        f"\nprocessed {len(per_file)} mails in {elapsed:.1f} s ({each:.1f} ms each); outbox"
        f" drained in {draining:.1f} s: {sent}, {written} files in the sink"
    )
    print(f"peak RSS {rss_mb():.0f} MB (before the sweep {rss_before:.0f} MB)")
    print("\noutcomes:")
    for kind in ("ticket", "followup", "ignored", "duplicate", "quarantined", "deferred"):
        print(f"  {kind:<12} {kinds.get(kind, 0):>5}")
    for kind in sorted(
        set(kinds) - {"ticket", "followup", "ignored", "duplicate", "quarantined", "deferred"}
    ):
        print(f"  {kind:<12} {kinds[kind]:>5}  (unexpected kind)")
    print(f"  {'crashes':<12} {len(crashes):>5}  (exceptions escaping process; must be 0)")
    print("\nignored, by reason:")
    for reason, n in ignored.most_common():
        print(f"  {n:>5}  {reason}")
    print("\nquarantined, by reason:")
    for reason, n in quarantined.most_common():
        print(f"  {n:>5}  {reason}")
    internal = [
        (p, o.detail)
        for p, o in per_file
        if o.kind == "quarantined" and o.detail.startswith("internal error")
    ]
    deferred = [(p, o.detail) for p, o in per_file if o.kind == "deferred"]
    print(f"\ninternal errors (should be 0): {len(internal)}; deferred: {len(deferred)}")
    for path, detail in internal + deferred:
        print(f"  {path.relative_to(corpus)}: {detail[:200]}")
    for path, trace in crashes:
        print(f"CRASH {path.relative_to(corpus)}:\n{trace}")
    if args.verbose:
        print("\nquarantined files:")
        for path, outcome in per_file:
            if outcome.kind == "quarantined":
                print(f"  {path.relative_to(corpus)}: {outcome.detail[:150]}")
    held = QuarantineItem.select().count()
    print(f"\nquarantine table rows: {held}")
    print(f"\nslowest {args.slowest}, by CPU time:")
    for seconds, path in sorted(slowest, reverse=True)[: args.slowest]:
        print(f"  {seconds:6.2f} s  {path.relative_to(corpus)}")
    if args.keep:
        print(f"kept {base}")
    else:
        app.db.close()
        shutil.rmtree(base, ignore_errors=True)
    return 1 if crashes else 0


def inputs(mails: list[Path], corpus: Path, hostile: bool) -> Iterator[tuple[Path, bytes]]:
    """(path, raw bytes) of every corpus mail, then of the generated hostile ones."""
    for path in mails:
        yield path, path.read_bytes()
    if hostile:
        sys.path.insert(0, str(REPO / "tests" / "data"))
        from make_hostile import hostile_mails

        for name, raw in hostile_mails():
            yield corpus / "hostile" / name, raw


def group(detail: str) -> str:
    """A reason without its variable tail: digits folded, parenthesised details dropped, and
    cut after the first "prefix: inner" pair."""
    text = re.sub(r"\s*\(.*", "", re.sub(r"\d+", "N", detail))
    head, _, rest = text.partition(": ")
    return (f"{head}: {rest.partition(': ')[0]}" if rest else head)[:100]


if __name__ == "__main__":
    raise SystemExit(main())
