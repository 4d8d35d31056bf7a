"""Measure the automated-mail detector (mailtix.decisions.automated.classify) and the bounce
address reader (mailtix.decisions.bounces.read_bounce) on tests/data/corpus (or any corpus of
the same layout given with --corpus). Prints tables; asserts nothing.

    .venv/bin/python tests/bench/measure_detector.py [-v] [--corpus DIR]

Labels (see tests/data/SOURCES.md and the notes printed with the table):

* sisimai-set-of-emails: ``expected-from-p5-sisimai.json``. A sample whose recipients all have
  reason "vacation" is an auto-reply, all "feedback" is an ARF complaint (left out of both
  precision/recall figures and shown on a line of its own), anything else listed is a bounce
  (this includes the 4 "delivered" success DSNs: still DSNs a help desk must not answer).
  ``maildir/dos`` and ``maildir/mac`` are the same mails with CRLF / CR line endings; they get
  the expectation of the same name in ``maildir/bsd`` and count as separate samples (a "bsd
  only" line is printed too). ``maildir/not`` = neither. Samples without an entry (bsd files not
  in the table, ``maildir/tmp``) are not labelled and not counted.
* flufl-bounce: every sample is a bounce (the table lists them all, except bounce_01.txt and
  dumbass_01.txt, which the table's note calls bounces too); ``temporary_failure`` tells delay
  warnings from permanent failures; ``bouncing_addresses`` feed the address measure.
* bounce-email-py: ``tests/bounces`` = bounce, ``tests/non_bounces`` = auto-reply
  (``tests/fixtures/no_subject.txt`` is not labelled).
* bounceparser-perl: labelled from file names, contents and upstream t/*.t (see BOUNCEPARSER).

A sample is predicted "bounce" when ``classify(...).kind == "bounce"`` and "auto-reply" when
``kind == "auto-reply"``; a mail parse_message rejects predicts neither.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from mailtix.decisions import automated  # noqa: E402
from mailtix.decisions.bounces import read_bounce  # noqa: E402
from mailtix.domain.errors import ParseError  # noqa: E402
from mailtix.domain.values import ParsedMail  # noqa: E402
from mailtix.inbound.parse import parse_message  # noqa: E402

LOCAL = REPO / "tests" / "data" / "corpus"
LABELS = ("bounce", "auto-reply")

# bounceparser-perl files that are not bounces, with the reason for the label.
BOUNCEPARSER: dict[str, tuple[str, str]] = {
    "autoreply.msg": ("auto-reply", "upstream t/autoreply.t"),
    "aol-vacation.msg": ("auto-reply", "upstream t/non-bounce.t; Auto-Submitted: auto-replied"),
    "polish-autoreply.msg": ("auto-reply", "upstream t/non-bounce.t; 'Automatyczna odpowiedz'"),
    "warning-6.msg": ("auto-reply", "content: Lotus 'AUTO: ... is out of the office'"),
    "bluebottle.msg": ("neither", "challenge/response; upstream t/non-bounce.t"),
    "boxbe-cr.msg": ("neither", "challenge/response; upstream t/non-bounce.t"),
    "boxbe-cr2.msg": ("neither", "challenge/response; upstream t/non-bounce.t"),
    "spam-bogus-email-in-report.msg": ("neither", "content: a spam mail, not a DSN"),
    "spam-lots-of-bogus-addresses.msg": ("neither", "content: a spam mail, not a DSN"),
    "spam-with-badly-parsed-email.msg": ("neither", "content: a spam mail, not a DSN"),
    "spam-with-image.msg": ("neither", "content: spam; upstream expects no reports"),
    "virus-caused-multiple-weird-reports.msg": ("neither", "content: a virus mail, not a DSN"),
}
# Deviations from the brief's/upstream's wording, printed with the table.
BOUNCEPARSER_NOTES = (
    "non-autoreply.msg labelled bounce, not neither: it is an Exim 'Mail delivery failed' DSN "
    "and upstream t/non-autoreply.t asserts is_bounce",
    "whitelist.msg labelled bounce although upstream t/non-bounce.t says is_bounce=0: it is a "
    "Postfix multipart/report DSN for a 550 RCPT rejection (asking to whitelist the server)",
    "warning-5.msg labelled bounce (upstream t/warnings.t: is_bounce): From <>, Return-Path <>, "
    "'That's not a valid user here', but it carries Auto-Submitted: auto-replied",
)


@dataclass(frozen=True)
class Sample:
    source: str  # table row
    path: Path
    label: str  # bounce | auto-reply | neither | feedback
    expected_addresses: frozenset[str] = frozenset()
    temporary: bool | None = None  # flufl: a delay warning
    variant: str = ""  # sisimai: bsd | dos | mac | not


# ---------------------------------------------------------------- labelled samples


def sisimai(corpus: Path) -> Iterator[Sample]:
    root = corpus / "sisimai-set-of-emails"
    table = json.loads((root / "expected-from-p5-sisimai.json").read_text())["expected"]
    for name, entry in sorted(table.items()):
        reasons = {r["reason"] for r in entry["recipients"]}
        label = (
            "auto-reply"
            if reasons == {"vacation"}
            else "feedback"
            if reasons == {"feedback"}
            else "bounce"
        )
        base = Path(name).name
        for variant in ("bsd", "dos", "mac"):
            path = root / "maildir" / variant / base
            if path.is_file():
                yield Sample("sisimai", path, label, variant=variant)
    for path in sorted((root / "maildir" / "not").glob("*")):
        yield Sample("sisimai", path, "neither", variant="not")


def sisimai_unlabelled(corpus: Path) -> int:
    root = corpus / "sisimai-set-of-emails"
    table = json.loads((root / "expected-from-p5-sisimai.json").read_text())["expected"]
    names = {Path(n).name for n in table}
    count = 0
    for variant in ("bsd", "dos", "mac", "tmp"):
        count += sum(
            1
            for p in (root / "maildir" / variant).glob("*")
            if p.is_file() and (variant == "tmp" or p.name not in names)
        )
    return count


def flufl(corpus: Path) -> Iterator[Sample]:
    root = corpus / "flufl-bounce"
    table = json.loads((root / "expected-from-detectors-table.json").read_text())["expected"]
    for path in sorted((root / "flufl" / "bounce" / "tests" / "data").glob("*.txt")):
        entries = table.get(path.relative_to(root).as_posix(), [])
        addresses = frozenset(a.lower() for e in entries for a in e["bouncing_addresses"])
        temporary = any(e["temporary_failure"] for e in entries) if entries else None
        yield Sample("flufl-bounce", path, "bounce", addresses, temporary)


def bounce_email_py(corpus: Path) -> Iterator[Sample]:
    root = corpus / "bounce-email-py" / "tests"
    for path in sorted((root / "bounces").glob("*")):
        yield Sample("bounce-email-py", path, "bounce")
    for path in sorted((root / "non_bounces").glob("*")):
        yield Sample("bounce-email-py", path, "auto-reply")


def bounceparser(corpus: Path) -> Iterator[Sample]:
    root = corpus / "bounceparser-perl"
    for path in sorted(root.glob("*/corpus/*.msg")):
        label = BOUNCEPARSER.get(path.name, ("bounce", ""))[0]
        yield Sample("bounceparser-perl", path, label)


SOURCES: dict[str, Callable[[Path], Iterator[Sample]]] = {
    "sisimai": sisimai,
    "flufl-bounce": flufl,
    "bounce-email-py": bounce_email_py,
    "bounceparser-perl": bounceparser,
}
LABELLED_FOLDERS = {
    "sisimai-set-of-emails",
    "flufl-bounce",
    "bounce-email-py",
    "bounceparser-perl",
}


# ---------------------------------------------------------------- measuring


@dataclass
class Result:
    sample: Sample
    kind: str  # classify(...).kind, or "unparseable"
    reason: str
    seconds: float


def predict(path: Path) -> tuple[str, str, ParsedMail | None]:
    try:
        mail = parse_message(path.read_bytes())
    except ParseError as exc:
        return "unparseable", str(exc), None
    verdict = automated.classify(mail, frozenset())
    return verdict.kind, verdict.reason, mail


def measure(samples: list[Sample]) -> list[Result]:
    results = []
    for sample in samples:
        started = time.perf_counter()
        kind, reason, _ = predict(sample.path)
        results.append(Result(sample, kind, reason, time.perf_counter() - started))
    return results


def scores(results: list[Result], label: str) -> tuple[int, int, int, int]:
    """(true positives, false positives, false negatives, samples) for ``label``."""
    scored = [r for r in results if r.sample.label != "feedback"]
    tp = sum(r.kind == label and r.sample.label == label for r in scored)
    fp = sum(r.kind == label and r.sample.label != label for r in scored)
    fn = sum(r.kind != label and r.sample.label == label for r in scored)
    return tp, fp, fn, len(scored)


def ratio(num: int, den: int) -> str:
    return f"{num / den:6.1%}" if den else "    - "


def row(name: str, results: list[Result]) -> str:
    cells = [f"{name:<24}", f"{len(results):>5}"]
    for label in LABELS:
        tp, fp, fn, _ = scores(results, label)
        cells += [f"{tp + fn:>5}", ratio(tp, tp + fp), ratio(tp, tp + fn), f"{fp:>3}", f"{fn:>3}"]
    return "  ".join(cells)


def header() -> str:
    cells = [f"{'source':<24}", f"{'n':>5}"]
    for label in ("bounce", "auto"):
        cells += [f"{label[:5]:>5}", f"{'prec':>6}", f"{'recall':>6}", f"{'FP':>3}", f"{'FN':>3}"]
    return "  ".join(cells)


def print_table(results: list[Result]) -> None:
    by_source: dict[str, list[Result]] = defaultdict(list)
    for r in results:
        by_source[r.sample.source].append(r)
    print(header())
    print("-" * len(header()))
    for name, rows in by_source.items():
        print(row(name, rows))
        if name == "sisimai":
            for variant in ("bsd", "dos", "mac"):
                subset = [r for r in rows if r.sample.variant in (variant, "not")]
                print(row(f"  sisimai {variant}+not", subset))
    print("-" * len(header()))
    print(row("overall", results))
    bsd_only = [r for r in results if r.sample.variant not in ("dos", "mac")]
    print(row("overall, sisimai bsd only", bsd_only))
    feedback = [r for r in results if r.sample.label == "feedback"]
    if feedback:
        kinds = Counter(r.kind for r in feedback)
        bsd = Counter(r.kind for r in feedback if r.sample.variant == "bsd")
        print(
            f"\nARF complaints (sisimai reason 'feedback'; excluded from both figures): "
            f"{len(feedback)} samples -> {dict(kinds)}; bsd only -> {dict(bsd)}"
        )


def print_confusion(results: list[Result]) -> None:
    table: dict[str, Counter[str]] = defaultdict(Counter)
    for r in results:
        table[r.sample.label][r.kind] += 1
    kinds = sorted({k for c in table.values() for k in c})
    print("\nconfusion (rows: label, columns: classify kind)")
    print(f"{'':<12}" + "".join(f"{k:>12}" for k in kinds))
    for label in ("bounce", "auto-reply", "neither", "feedback"):
        if label in table:
            print(f"{label:<12}" + "".join(f"{table[label][k]:>12}" for k in kinds))


def print_misclassified(results: list[Result], corpus: Path) -> None:
    print("\nmisclassified (label -> kind: reason)")
    for r in results:
        label = r.sample.label
        wrong = r.kind != label if label in LABELS else label == "neither" and r.kind in LABELS
        if wrong:
            rel = r.sample.path.relative_to(corpus)
            print(f"  {rel}  {label} -> {r.kind}: {r.reason[:90]}")


def measure_addresses(results: list[Result]) -> None:
    """flufl: expected bouncing addresses found by read_bounce; sisimai has no expected
    addresses in the derived file, so only "some address found" is shown for it."""
    print("\nbounce address extraction (read_bounce)")
    flufl_rows = [
        r for r in results if r.sample.source == "flufl-bounce" and r.sample.expected_addresses
    ]
    found = bucket_ok = 0
    misses = []
    started = time.perf_counter()
    for r in flufl_rows:
        bounce = read_bounce(r.sample.path.read_bytes())
        if r.sample.expected_addresses <= bounce.addresses:
            found += 1
            bucket = bounce.temporary if r.sample.temporary else bounce.permanent
            bucket_ok += r.sample.expected_addresses <= bucket
        else:
            missing = sorted(r.sample.expected_addresses - bounce.addresses)
            misses.append((r.sample.path.name, missing, sorted(bounce.addresses)))
    n = len(flufl_rows)
    temp = sum(bool(r.sample.temporary) for r in flufl_rows)
    print(
        f"  flufl-bounce: {found}/{n} ({ratio(found, n).strip()}) samples with all expected "
        f"addresses found; of those, {bucket_ok} in the right bucket "
        f"(temporary vs permanent; {temp} samples are delay warnings)"
    )
    for kind_label, source in (("bounce", "sisimai"), ("bounce", "bounce-email-py")):
        rows = [
            r
            for r in results
            if r.sample.source == source
            and r.sample.label == kind_label
            and r.sample.variant in ("", "bsd")
        ]
        some = sum(bool(read_bounce(r.sample.path.read_bytes()).addresses) for r in rows)
        print(
            f"  {source} (no expected addresses; bsd only): {some}/{len(rows)} "
            f"({ratio(some, len(rows)).strip()}) bounces yield at least one address"
        )
    print(f"  ({time.perf_counter() - started:.1f} s)")
    if misses and VERBOSE:
        print("  flufl samples missing an expected address (file: missing; found)")
        for name, missing, got in misses:
            print(f"    {name}: {missing}; found {got[:4]}")


def unlabelled_folders(corpus: Path) -> None:
    """What the detector says about the folders without bounce labels (mostly human mail):
    a bounce/auto-reply verdict there is a likely false positive, listed with -v."""
    print("\nunlabelled folders (no bounce/auto-reply expectations): classify kinds")
    for folder in sorted(p for p in corpus.iterdir() if p.is_dir()):
        if folder.name in LABELLED_FOLDERS:
            continue
        kinds: Counter[str] = Counter()
        flagged = []
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            if not looks_like_mail(path):
                continue
            kind, reason, _ = predict(path)
            kinds[kind] += 1
            if kind in LABELS:
                flagged.append(f"{path.relative_to(corpus)}: {kind} ({reason[:70]})")
        print(f"  {folder.name:<28} {dict(kinds.most_common())}")
        if VERBOSE:
            for line in flagged:
                print(f"      {line}")


def looks_like_mail(path: Path) -> bool:
    if path.suffix in (".json", ".yml", ".list", ".tnef", ".md") or path.name == "COPYING":
        return False
    head = path.read_bytes()[:4000].lstrip(b"\r\n\t ")
    return bool(re.match(rb"(From |[!-9;-~]+:)", head))


VERBOSE = False


def main() -> int:
    global VERBOSE
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="list misclassified files")
    parser.add_argument("--corpus", type=Path, default=None)
    parser.add_argument(
        "--no-unlabelled", action="store_true", help="skip the unlabelled-folder sweep"
    )
    args = parser.parse_args()
    VERBOSE = args.verbose
    corpus = args.corpus or LOCAL
    print(f"corpus: {corpus}\n")

    samples: list[Sample] = []
    for name, source in SOURCES.items():
        try:
            samples += list(source(corpus))
        except FileNotFoundError as exc:
            print(f"  (source {name} missing: {exc})")
    started = time.perf_counter()
    results = measure(samples)
    elapsed = time.perf_counter() - started
    print_table(results)
    print_confusion(results)
    print(
        f"\n{len(results)} labelled samples classified in {elapsed:.1f} s; "
        f"{sisimai_unlabelled(corpus)} sisimai files have no expectation and were not counted"
    )
    print(
        "bounceparser-perl labels: "
        + "; ".join(f"{name}={label}" for name, (label, _) in sorted(BOUNCEPARSER.items()))
        + "; every other t/corpus, xt/corpus file = bounce"
    )
    for note in BOUNCEPARSER_NOTES:
        print(f"  note: {note}")
    measure_addresses(results)
    if not args.no_unlabelled:
        unlabelled_folders(corpus)
    if VERBOSE:
        print_misclassified(results, corpus)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
