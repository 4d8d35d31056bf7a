"""Run parse_message and classify over the third-party corpus copied into tests/data/corpus.

Pure and offline. See tests/data/SOURCES.md for where each folder came from.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from mailtix.decisions.automated import classify
from mailtix.domain.errors import ParseError
from mailtix.domain.values import ParsedMail
from mailtix.inbound.parse import parse_message

CORPUS = Path(__file__).parents[2] / "data" / "corpus"
ZAMMAD = CORPUS / "zammad" / "test" / "data" / "mail"
SISIMAI = CORPUS / "sisimai-set-of-emails"
BOUNCE_PY = CORPUS / "bounce-email-py" / "tests"
EXPECTATIONS = (".yml", ".json")
# Files in the copy that are not emails at all (ParseError is the right answer).
NOT_EMAILS = frozenset({"rt/t/data/emails/lorem-ipsum"})  # plain prose, no header

# Zammad expectation fields that mailtix deliberately reads differently, with the reason.
KNOWN_ZAMMAD_DIFFERENCES: dict[tuple[str, str], str] = {
    ("mail016", "from_email"): "no From header; Zammad falls back to Reply-To, mailtix says None",
    ("mail018", "subject"): "Zammad leaves the UTF-7 encoded word undecoded; mailtix decodes it",
    ("mail071", "from_email"): "addr-spec with spaces ('power quadrant system@...') is invalid",
    ("mail076", "from_email"): 'garbage From ("...transfer"@example.com>) is not an address',
    ("mail087", "from_email"): "'Test test@example.com' without <> is not a valid mailbox",
    ("mail087", "file"): "Zammad names the PDF 'file'; mailtix keeps filename=fax_1234.pdf",
    ("mail035", "from_email"): "Zammad keeps the quotes of a quoted local part around the address",
    ("mail053", "from_email"): "'MAILER-DAEMON' without a domain is not an address",
    ("mail053", "file"): "Zammad names the headers part 'file'; mailtix uses its description",
    ("mail068", "from_email"): "continuation lines without indentation end the header early",
    ("mail068", "subject"): "continuation lines without indentation end the header early",
}
# Names Zammad invents for unnamed parts; mailtix uses Content-Description/Content-ID instead.
ZAMMAD_INVENTED_NAMES = frozenset(
    {"message.html", "document.html", "document1.html", "video.mov", "video1.mov"}
    | {"delivery-status.txt"}
)


def corpus_files() -> list[Path]:
    return sorted(p for p in CORPUS.rglob("*") if p.is_file() and not p.name.endswith(EXPECTATIONS))


@cache
def parsed(path: Path) -> ParsedMail:
    return parse_message(path.read_bytes())


def header_fields(mail: ParsedMail) -> list[str]:
    values = [mail.subject, mail.message_id or "", mail.return_path or ""]
    values += list(mail.in_reply_to + mail.references)
    for address in (mail.sender, *mail.to, *mail.cc, *mail.reply_to):
        if address is not None:
            values += [address.email, address.name]
    values += [value for pair in mail.headers for value in pair]
    values += [attachment.filename for attachment in mail.attachments]
    return values


def test_corpus_is_there() -> None:
    assert len(corpus_files()) > 200


def test_every_mail_parses_and_header_fields_are_clean() -> None:
    not_mails = []
    for path in corpus_files():
        try:
            mail = parsed(path)
        except ParseError as error:
            assert str(error).startswith("not an email"), (path, error)
            not_mails.append(path.relative_to(CORPUS).as_posix())
            continue
        for value in header_fields(mail):
            assert not set(value) & {"\r", "\n", "\x00"}, (path, value)
        assert "\x00" not in mail.text
        if mail.html is not None:
            assert "<script" not in mail.html.lower()
    print(f"{len(not_mails)} non-mails: {not_mails}")
    assert set(not_mails) == NOT_EMAILS


def test_quick_mime_reader_reads_every_mail_as_the_full_parser_does(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """mime_tree.read parses only header blocks with the stdlib parser and cuts bodies at
    boundary lines instead of letting it split every body into lines: the result must be the
    same, mail by mail, over the whole corpus (and it must be taken for most of it, multipart
    mails included, or it saves nothing)."""
    import mailtix.inbound.mime_tree

    taken = Counter[str]()
    real = mailtix.inbound.mime_tree.read

    def counting(raw: bytes, body_at: int) -> Any:
        msg = real(raw, body_at)
        if msg is not None:
            taken["multipart" if msg.is_multipart() else "one part"] += 1
        return msg

    differ = []
    for path in corpus_files():
        raw = path.read_bytes()
        monkeypatch.setattr(mailtix.inbound.mime_tree, "read", counting)
        fast = outcome(raw)
        monkeypatch.setattr(mailtix.inbound.mime_tree, "read", lambda raw, body_at: None)
        if outcome(raw) != fast:
            differ.append(path.relative_to(CORPUS).as_posix())
    print(f"quick reader taken for {dict(taken)} of {len(corpus_files())} files")
    assert differ == []
    assert taken["one part"] > len(corpus_files()) // 3
    assert taken["multipart"] > len(corpus_files()) // 10


def outcome(raw: bytes) -> ParsedMail | str:
    try:
        return parse_message(raw)
    except ParseError as error:
        return f"ParseError: {error}"


# ---------------------------------------------------------------- zammad expectations


def yaml_scalar(text: str, key: str) -> str | None:
    """The top-level scalar ``key`` of a Zammad .yml (plain, '...' or "..." style, folded)."""
    match = re.search(rf"^{key}:(.*(?:\n  .*)*)", text, re.M)
    if match is None:
        return None
    value = " ".join(line.strip() for line in match.group(1).split("\n")).strip()
    if value.startswith("'"):
        return value[1:-1].replace("''", "'")
    if value.startswith('"'):
        return json.loads(value)  # YAML double quotes escape like JSON for these files
    return value


def yaml_filenames(text: str) -> list[str]:
    names = re.findall(r"^  filename: (.*)$", text, re.M)
    return [yaml_scalar(f"filename: {name}", "filename") or "" for name in names]


def squash(text: str) -> str:
    return " ".join(text.split())


ZAMMAD_BOXES = sorted(ZAMMAD.glob("*.box"))


@pytest.mark.parametrize("box", ZAMMAD_BOXES, ids=[b.stem for b in ZAMMAD_BOXES])
def test_zammad_expectations(box: Path) -> None:
    expected = box.with_suffix(".yml").read_text(encoding="utf-8")
    mail = parsed(box)
    from_email = yaml_scalar(expected, "from_email")
    if from_email and (box.stem, "from_email") not in KNOWN_ZAMMAD_DIFFERENCES:
        assert mail.sender is not None and mail.sender.email == from_email.lower()
    subject = yaml_scalar(expected, "subject")
    if subject is not None and (box.stem, "subject") not in KNOWN_ZAMMAD_DIFFERENCES:
        assert squash(mail.subject) == squash(subject)
    ours = {attachment.filename for attachment in mail.attachments}
    for name in yaml_filenames(expected):
        if name in ZAMMAD_INVENTED_NAMES or (box.stem, name) in KNOWN_ZAMMAD_DIFFERENCES:
            continue
        assert name in ours, (name, ours)


# ---------------------------------------------------------------- bounce / auto-reply detector


def detector_cases() -> list[tuple[Path, str]]:
    """(mail, expected) with expected "bounce", "auto-reply" or "not-bounce"."""
    table = json.loads((SISIMAI / "expected-from-p5-sisimai.json").read_text())["expected"]
    cases = []
    for name, entry in sorted(table.items()):
        reasons = {recipient["reason"] for recipient in entry["recipients"]}
        if reasons == {"feedback"}:
            continue  # ARF complaints are neither bounces nor auto-replies
        cases.append((SISIMAI / name, "auto-reply" if reasons == {"vacation"} else "bounce"))
    cases += [(path, "not-bounce") for path in sorted((SISIMAI / "maildir" / "not").glob("*"))]
    cases += [(path, "bounce") for path in sorted((BOUNCE_PY / "bounces").glob("*"))]
    cases += [(path, "not-bounce") for path in sorted((BOUNCE_PY / "non_bounces").glob("*"))]
    return cases


def test_bounce_detector_precision_and_recall() -> None:
    true_pos = false_pos = false_neg = 0
    misses = []
    for path, expected in detector_cases():
        if expected == "auto-reply":
            continue
        is_bounce = classify(parsed(path)).kind == "bounce"
        true_pos += is_bounce and expected == "bounce"
        false_pos += is_bounce and expected == "not-bounce"
        false_neg += not is_bounce and expected == "bounce"
        if is_bounce != (expected == "bounce"):
            misses.append(path.name)
    precision = true_pos / (true_pos + false_pos)
    recall = true_pos / (true_pos + false_neg)
    print(f"bounce precision {precision:.3f} recall {recall:.3f} (tp={true_pos}) misses={misses}")
    assert recall >= 0.95
    assert precision >= 0.95


def test_vacation_samples_are_auto_replies() -> None:
    cases = [path for path, expected in detector_cases() if expected == "auto-reply"]
    verdicts = {path.name: classify(parsed(path)) for path in cases}
    print({name: (v.kind, v.reason) for name, v in verdicts.items()})
    hits = sum(verdict.kind == "auto-reply" for verdict in verdicts.values())
    assert cases and hits / len(cases) >= 0.8


def test_out_of_office_non_bounces_are_not_bounces() -> None:
    kinds = {
        path.name: classify(parsed(path)).kind
        for path, expected in detector_cases()
        if expected == "not-bounce" and path.parent.name == "non_bounces"
    }
    print(kinds)
    assert len(kinds) == 3 and "bounce" not in kinds.values()
