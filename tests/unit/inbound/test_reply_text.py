"""mailtix.inbound.reply_text: hit rates on third-party reply fixtures, plus one test per
client style.

The fixtures and scoring live in tests/bench/measure_replies.py (run it to see the table);
``-s`` prints the same figures here. The floors are what the implementation reaches, rounded down.
"""

from __future__ import annotations

import time

import pytest
from bench.measure_replies import all_cases, score, table

from mailtix.decisions.relay_guard import notification_markers
from mailtix.inbound.reply_text import ReplyText, cut_quoted_mail, visible_reply

FLOORS = {  # share of fixtures right once whitespace is normalised
    "email-reply-trimmer": 0.80,
    "talon": 0.90,
    "email-reply-parser-crisp": 0.95,
}


def test_hit_rate_per_source_reaches_its_floor() -> None:
    cases = all_cases()
    by_source, _, _ = score(cases)
    print("\n" + table(cases))
    assert set(by_source) == set(FLOORS)
    assert sum(s.total for s in by_source.values()) >= 64 + 12 + 44
    for source, floor in FLOORS.items():
        result = by_source[source]
        assert result.whitespace / result.total >= floor, f"{source}: {result}"


def test_every_fixture_keeps_some_text_and_is_fast() -> None:
    for case in all_cases():
        started = time.thread_time()  # CPU time: a wait for a core on a busy machine is not counted
        result = visible_reply(case.text)
        assert time.thread_time() - started < 0.05, case.name
        if case.text.strip():
            assert result.text.strip(), case.name


REPLY = "Thanks, the refund is on its way.\n\nAlice"


def _check(mail: str, method_prefix: str, expected: str = REPLY) -> ReplyText:
    result = visible_reply(mail)
    assert result.text == expected
    assert result.method.startswith(method_prefix), result.method
    assert result.removed
    return result


def test_gmail_on_wrote_with_quoted_lines() -> None:
    mail = (
        f"{REPLY}\n\nOn Mon, 23 Nov 2026 at 10:00, Carol <c@x> wrote:\n"
        "> Where is my refund?\n>\n> Carol\n"
    )
    result = _check(mail, "quote-header 'On … wrote:'")
    assert result.removed.startswith("On Mon, 23 Nov 2026")


def test_gmail_header_split_over_two_lines() -> None:
    mail = f"{REPLY}\n\nOn Mon, 23 Nov 2026 at 10:00, Carol <\nc@x> wrote:\n\n> Where is it?\n"
    _check(mail, "")


def test_outlook_original_message() -> None:
    mail = f"{REPLY}\n\n-----Original Message-----\nFrom: Carol\nSent: Monday\n\nWhere is it?\n"
    _check(mail, "outlook-separator")


@pytest.mark.parametrize(
    "block",
    [
        "From: Carol <c@x>\nSent: Monday, 23 November 2026 10:00\nTo: help@x\nSubject: Refund",
        "Von: Carol <c@x>\nGesendet: Montag, 23. November 2026 10:00\nAn: help@x\nBetreff: Geld",
        "________________________________\nFrom: Carol <c@x>\nSent: Monday\nTo: help@x",
    ],
)
def test_outlook_header_block(block: str) -> None:
    mail = f"{REPLY}\n\n{block}\n\nWhere is my refund?\n"
    result = visible_reply(mail)
    assert result.text == REPLY
    assert "outlook" in result.method or "header-block" in result.method
    assert "Where is my refund?" in result.removed


def test_german_am_schrieb() -> None:
    mail = f"{REPLY}\n\nAm 23.11.2026 um 10:00 schrieb Carol <c@x>:\n> Wo ist mein Geld?\n"
    _check(mail, "quote-header")


def test_apple_mail_on_at_wrote() -> None:
    mail = f"{REPLY}\n\n> On 23 Nov 2026, at 10:00, Carol <c@x> wrote:\n>\n> Where is it?\n"
    _check(mail, "quote-header")


def test_thunderbird_on_date_wrote() -> None:
    mail = f"{REPLY}\n\nOn 23.11.26 10:00, Carol wrote:\n> Where is it?\n"
    _check(mail, "quote-header")


def test_rfc3676_signature() -> None:
    mail = f"{REPLY}\n\n-- \nAlice Example\nSupport, Example Ltd\n+1 555 0100\n"
    result = _check(mail, "signature '-- '")
    assert result.removed.startswith("-- \nAlice Example")


def test_sent_from_my_phone() -> None:
    _check(f"{REPLY}\n\nSent from my iPhone\n", "signature 'Sent from my")


def test_plain_reply_is_unchanged() -> None:
    text = "Hello Carol,\n\n    indented code stays\n- a list item stays\n\nThanks,\nAlice"
    assert visible_reply(text) == ReplyText(text, "", "none")
    assert visible_reply(text + "\n\n\n").text == text


def test_bottom_posted_reply_is_kept() -> None:
    mail = f"On Mon, 23 Nov 2026 at 10:00, Carol <c@x> wrote:\n> Where is my refund?\n\n{REPLY}\n"
    result = visible_reply(mail)
    assert result.text == REPLY
    assert "bottom-posted" in result.method
    assert "Where is my refund?" in result.removed


def test_interleaved_reply_keeps_every_answer() -> None:
    mail = (
        "Hi Carol, answers inline.\n\n"
        "On Mon, 23 Nov 2026 at 10:00, Carol <c@x> wrote:\n"
        "> Where is my refund?\n\nIt was sent today.\n\n"
        "> And the invoice?\n\nAttached.\n\n"
        "> Thanks\n> Carol\n"
    )
    text = visible_reply(mail).text
    for answer in ("answers inline", "It was sent today.", "Attached."):
        assert answer in text
    assert "> Carol" not in text


def test_everything_quoted_is_returned_unchanged() -> None:
    mail = "On Mon, 23 Nov 2026 at 10:00, Carol <c@x> wrote:\n> Where is my refund?"
    assert visible_reply(mail) == ReplyText(mail, "", "none")
    assert visible_reply("> only a quote").method == "none"


def test_sentence_with_wrote_is_not_a_quote_header() -> None:
    text = "When I finally\nfigured it out, I wrote one of my own:\n\nhttps://example.org/guide"
    assert visible_reply(text).text == text


def test_never_raises_and_is_fast() -> None:
    assert visible_reply("").text == ""
    assert visible_reply("\x00\r\n>\r\n-- \r\n").text.startswith("\x00")
    assert visible_reply(">\r\n-- \r\n").method == "none"
    big = (REPLY + "\n") * 900 + "\nOn Mon, 23 Nov 2026, Carol <c@x> wrote:\n" + "> q\n" * 1200

    small, large = big[:10_000], big[:40_000]
    runs: dict[str, list[float]] = {small: [], large: []}
    for _ in range(7):  # in turns, so a busy spell slows both; CPU time, not wall time
        for text in (small, large):
            started = time.thread_time()
            visible_reply(text)
            runs[text].append(time.thread_time() - started)

    # Linear, not quadratic or worse (catastrophic backtracking): four times the text takes
    # about four times as long. Relative, so it holds on a slow or busy machine.
    assert min(runs[large]) < 10 * min(runs[small])


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("\n\n-- \nAlice\n\nOn Mon, 23 Nov 2026 at 10:00, S <s@x> wrote:\n> hi\n", ""),
        ("On Mon, 23 Nov 2026 at 10:00, S <s@x> wrote:\n> hi\n", ""),
        ("> hi\n> there\n", ""),
        ("   \n", ""),
        ("Done.\n\n-- \nAlice\n\nOn Mon, 23 Nov 2026 at 10:00, S <s@x> wrote:\n> hi\n", "Done."),
        ("> question?\n\nanswer below the quote\n", "> question?\n\nanswer below the quote"),
    ],
)
def test_authored_words_is_empty_for_quote_and_signature_only(text: str, expected: str) -> None:
    from mailtix.inbound.reply_text import authored_words

    assert authored_words(text) == expected


# --- issue 13: separators other tools write, and the quoted notification ---------------------


@pytest.mark.parametrize(
    "separator",
    [
        "---Original Message---",
        "--- Original Message ---",
        "---Ursprüngliche Nachricht---",
        "##- Please type your reply above this line -##",
        "-- Reply above this line --",
        "## Bitte antworten Sie oberhalb dieser Zeile ##",
    ],
)
def test_history_under_other_tools_separators_is_cut(separator: str) -> None:
    text = f"Thanks, done.\n\n{separator}\nOld text: the printer jams.\nJohn\n"
    assert visible_reply(text).text == "Thanks, done."


def test_three_dash_heading_of_the_senders_own_is_kept() -> None:
    text = "--- Update ---\nThe printer works again.\n"
    assert visible_reply(text).text == text.rstrip()


NOTIFICATION = (
    "New ticket — [SUP-1] Printer jams\n\nFrom: Carol <carol@example.org>\n\nIt jams.\n"
    + "-" * 70
    + "\nStatus:      new\nReply to this mail to answer the customer (your address is never "
    "shown).\n"
)


def markers() -> tuple[str, ...]:
    return notification_markers(NOTIFICATION)


@pytest.mark.parametrize("prefix", ["", "> "])
def test_quoted_notification_under_hungarian_outlook_headers_is_cut(prefix: str) -> None:
    quoted = "".join(f"{prefix}{line}\n" for line in NOTIFICATION.splitlines())
    text = (
        "Kedves Carol, kapcsolja ki.\n\n________________________________\n"
        "Feladó: ACME Support <support@acme.example>\nElküldve: 2026. november 23., hétfő\n"
        "Címzett: Alice Agent <alice@acme.example>\nTárgy: [SUP-1] New ticket: Printer jams\n\n"
        + quoted
    )
    assert cut_quoted_mail(text, markers()) == "Kedves Carol, kapcsolja ki."


def test_a_note_line_above_the_quoted_notification_is_the_agents() -> None:
    text = "Note: restart it.\n" + NOTIFICATION
    assert cut_quoted_mail(text, markers()) == "Note: restart it."


def test_text_without_the_notification_is_unchanged() -> None:
    assert cut_quoted_mail("Status: fixed\nbye", markers()) == "Status: fixed\nbye"
