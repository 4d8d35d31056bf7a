"""Agent verification (pure): HMAC reply tokens and the trusted topmost Authentication-Results."""

from __future__ import annotations

import re

import pytest

from mailtix.decisions.agent_auth import (
    authenticated_sender,
    notification_message_id,
    token_ticket,
    verify_token,
)
from mailtix.domain.values import Address, ParsedMail

SECRET = b"0123456789abcdef-test-secret"
AGENT = "agent@acme.example"
TRUSTED = ("mx.acme.example",)


def token(ticket_id: int = 42, agent: str = AGENT, nonce: str | None = "abcde12345") -> str:
    return notification_message_id(SECRET, ticket_id, agent, "acme.example", nonce=nonce)


def swap(message_id: str, index: int, value: str) -> str:
    """``message_id`` with dot-separated part ``index`` of the local part replaced."""
    local, at, domain = message_id.strip("<>").partition("@")
    parts = local.split(".")
    parts[index] = value
    return f"<{'.'.join(parts)}{at}{domain}>"


# --- reply tokens -------------------------------------------------------------------------


def test_token_round_trip() -> None:
    mid = token()
    assert re.fullmatch(r"<mtx\.42\.abcde12345\.[a-z2-7]{26}@acme\.example>", mid)
    assert verify_token(SECRET, [mid], AGENT) == 42
    assert token_ticket(mid) == 42


def test_random_nonce_is_ten_lower_case_chars_and_unique() -> None:
    first, second = token(nonce=None), token(nonce=None)
    assert first != second
    assert re.fullmatch(r"[a-z0-9]{10}", first.split(".")[2])
    assert verify_token(SECRET, [first], AGENT) == 42


def test_agent_address_not_visible_in_id() -> None:
    mid = token()
    assert "agent" not in mid
    assert "acme.example>" in mid  # only the domain we were given


def test_wrong_agent_does_not_verify() -> None:
    # S4: a notification forwarded to a colleague or outsider and answered by them.
    mid = token()
    assert verify_token(SECRET, [mid], "other@acme.example") is None
    assert verify_token(SECRET, [mid], "mallory@evil.example") is None
    assert verify_token(SECRET, [mid], "") is None


def test_agent_is_case_insensitive() -> None:
    mid = token(agent="Agent@ACME.example")
    assert verify_token(SECRET, [mid], "agent@acme.example") == 42
    assert verify_token(SECRET, [token()], "AGENT@Acme.Example") == 42


def test_wrong_secret_does_not_verify() -> None:
    assert verify_token(b"another-secret-of-enough-bytes", [token()], AGENT) is None


@pytest.mark.parametrize(
    ("index", "value"),
    [
        (1, "43"),  # another ticket
        (1, "042"),  # leading zero: not our format
        (2, "abcde12346"),  # another nonce
        (3, "a" * 26),  # another tag
    ],
)
def test_tampered_token_does_not_verify(index: int, value: str) -> None:
    assert verify_token(SECRET, [swap(token(), index, value)], AGENT) is None


def test_tag_flipped_by_one_character_does_not_verify() -> None:
    mid = token()
    tag = mid.split(".")[3].split("@")[0]
    flipped = tag[:-1] + ("b" if tag[-1] != "b" else "c")
    assert verify_token(SECRET, [swap(mid, 3, flipped)], AGENT) is None


@pytest.mark.parametrize(
    "other",
    [
        "<3f2a9c@acme.example>",
        "<mtx.42@acme.example>",
        "<mtx.42.abcde12345@acme.example>",
        "<mtx.42.abcde12345.short@acme.example>",
        "<mtx.x.abcde12345." + "a" * 26 + "@acme.example>",
        "<MTX.42.abcde12345." + "a" * 26 + "@acme.example>",
        "",
        "<>",
        "mtx.42.abcde12345." + "a" * 26,  # no domain
    ],
)
def test_ids_of_other_shapes_are_ignored(other: str) -> None:
    assert token_ticket(other) is None
    assert verify_token(SECRET, [other], AGENT) is None


def test_token_among_several_references() -> None:
    refs = ["<root@example.org>", token(7, "other@acme.example"), token(9), "<latest@example.org>"]
    assert verify_token(SECRET, refs, AGENT) == 9
    assert verify_token(SECRET, refs, "other@acme.example") == 7
    assert [token_ticket(r) for r in refs] == [None, 7, 9, None]


def test_token_without_angle_brackets_still_read() -> None:
    mid = token().strip("<>")
    assert verify_token(SECRET, [mid], AGENT) == 42
    assert token_ticket(f"  {mid} ") == 42


def test_unverified_token_still_names_a_ticket_for_threading() -> None:
    assert token_ticket(swap(token(), 3, "a" * 26)) == 42


@pytest.mark.parametrize(
    "kwargs",
    [
        {"secret": b"short"},
        {"ticket_id": -1},
        {"agent": "not-an-address"},
        {"domain": "acme.example>"},
        {"domain": ""},
        {"domain": "bücher.example"},
        {"nonce": "ABC"},
        {"nonce": "a.b"},
        {"nonce": ""},
    ],
)
def test_minting_rejects_bad_input(kwargs: dict[str, object]) -> None:
    args: dict[str, object] = {
        "secret": SECRET,
        "ticket_id": 1,
        "agent": AGENT,
        "domain": "acme.example",
        "nonce": "abc",
    }
    with pytest.raises(ValueError):
        notification_message_id(**{**args, **kwargs})  # type: ignore[arg-type]


def test_short_secret_never_verifies() -> None:
    assert verify_token(b"", [token()], AGENT) is None


# --- Authentication-Results ---------------------------------------------------------------


def mail(*results: str, sender: str | None = "agent@example.com") -> ParsedMail:
    """A mail whose Authentication-Results headers are ``results``, topmost first."""
    headers = (
        ("return-path", "<bounce@example.com>"),
        *(("authentication-results", value) for value in results),
        ("received", "from x by y"),
        ("from", sender or ""),
    )
    return ParsedMail(
        message_id="<m@example.com>",
        subject="Re: [SUP-1] x",
        sender=Address(sender) if sender else None,
        headers=headers,
    )


REAL_FAIL = (
    "mx.acme.example; spf=fail smtp.mailfrom=example.com; dmarc=fail header.from=example.com"
)
FORGED_PASS = "mx.acme.example; dmarc=pass header.from=example.com"
GMAIL = (
    "mx.google.com; dkim=pass header.i=@example.com header.s=20230601 header.b=abc; "
    "spf=pass (google.com: domain of a@example.com designates 1.2.3.4 as permitted sender) "
    "smtp.mailfrom=a@example.com; dmarc=pass (p=NONE sp=NONE dis=NONE) header.from=example.com"
)
MICROSOFT = (
    "spf=pass (sender IP is 1.2.3.4) smtp.mailfrom=example.com; dkim=pass (signature was "
    "verified) header.d=example.com;dmarc=pass action=none header.from=example.com;"
    "compauth=pass reason=100"
)


def test_trusted_topmost_dmarc_pass_verifies() -> None:
    verdict = authenticated_sender(mail(FORGED_PASS), TRUSTED)
    assert verdict.verified
    assert verdict.method == "dmarc=pass header.from=example.com"
    assert verdict.reason == ""


def test_s2_forged_pass_below_the_real_fail_is_ignored() -> None:
    verdict = authenticated_sender(mail(REAL_FAIL, FORGED_PASS), TRUSTED)
    assert not verdict.verified
    assert "dmarc=fail" in verdict.reason


def test_s2_pass_above_from_another_authserv_id_is_ignored() -> None:
    forged = "evil.example; dmarc=pass header.from=example.com"
    verdict = authenticated_sender(mail(forged, FORGED_PASS), TRUSTED)
    assert not verdict.verified
    assert "untrusted 'evil.example'" in verdict.reason


def test_authserv_id_is_case_insensitive() -> None:
    assert authenticated_sender(mail(FORGED_PASS), ["MX.Acme.Example"]).verified
    assert authenticated_sender(mail(FORGED_PASS.replace("mx.acme", "MX.ACME")), TRUSTED).verified


def test_dmarc_pass_for_another_domain_does_not_verify() -> None:
    other = "mx.acme.example; dmarc=pass header.from=evil.example"
    assert not authenticated_sender(mail(other), TRUSTED).verified


def test_sender_domain_is_compared_case_insensitively() -> None:
    upper = "mx.acme.example; dmarc=pass header.from=EXAMPLE.com"
    assert authenticated_sender(mail(upper), TRUSTED).verified


def test_dkim_pass_with_matching_header_d_verifies() -> None:
    dkim = "mx.acme.example; dkim=pass header.d=example.com header.s=s1; dmarc=none"
    verdict = authenticated_sender(mail(dkim), TRUSTED)
    assert (verdict.verified, verdict.method) == (True, "dkim=pass header.d=example.com")


def test_dkim_pass_signed_by_a_mailing_list_does_not_verify() -> None:
    dkim = (
        "mx.acme.example; dkim=pass header.d=lists.example.org; dmarc=fail header.from=example.com"
    )
    verdict = authenticated_sender(mail(dkim), TRUSTED)
    assert not verdict.verified
    assert "dkim=pass header.d=lists.example.org" in verdict.reason


@pytest.mark.parametrize("identity", ["@example.com", "agent@example.com", "Agent@Example.com"])
def test_dkim_pass_with_matching_header_i_verifies(identity: str) -> None:
    dkim = f"mx.acme.example; dkim=pass header.i={identity}"
    assert authenticated_sender(mail(dkim), TRUSTED).verified


def test_dkim_header_i_of_another_user_does_not_verify() -> None:
    dkim = "mx.acme.example; dkim=pass header.i=boss@example.com"
    assert not authenticated_sender(mail(dkim), TRUSTED).verified


def test_dkim_fail_does_not_verify() -> None:
    dkim = "mx.acme.example; dkim=fail header.d=example.com; dkim=neutral header.i=@example.com"
    assert not authenticated_sender(mail(dkim), TRUSTED).verified


def test_spf_pass_alone_does_not_verify() -> None:
    spf = "mx.acme.example; spf=pass smtp.mailfrom=agent@example.com; dmarc=none"
    verdict = authenticated_sender(mail(spf), TRUSTED)
    assert not verdict.verified
    assert "spf=pass" in verdict.reason


def test_none_result_does_not_verify() -> None:
    assert not authenticated_sender(mail("mx.acme.example; none"), TRUSTED).verified


@pytest.mark.parametrize(
    "garbage",
    [
        "garbage",
        "",
        ";;;",
        "mx.acme.example",
        "mx.acme.example; dmarc",
        "mx.acme.example 7; dmarc=pass header.from=example.com",  # unsupported version
        "mx.acme.example; dmarc=pass header.from=example.com (unclosed",
        "mx.acme.example; " + "(" * 3000,  # recursion in authres's comment parser
        "mx.acme.example; " + "dkim=pass header.d=x.example; " * 2000,  # too long
        "mx.acme.example; dmarc=pass header.from=\x00example.com",
    ],
)
def test_garbage_header_does_not_verify_and_does_not_raise(garbage: str) -> None:
    verdict = authenticated_sender(mail(garbage), TRUSTED)
    assert not verdict.verified
    assert verdict.reason


def test_unparseable_topmost_does_not_fall_back_to_lower_headers() -> None:
    assert not authenticated_sender(mail("garbage", FORGED_PASS), TRUSTED).verified


def test_gmail_format_parses() -> None:
    verdict = authenticated_sender(mail(GMAIL, sender="a@example.com"), ["mx.google.com"])
    assert (verdict.verified, verdict.method) == (True, "dmarc=pass header.from=example.com")


def test_gmail_dkim_header_i_alone_verifies() -> None:
    dkim_only = GMAIL.split("; spf=")[0]
    verdict = authenticated_sender(mail(dkim_only, sender="a@example.com"), ["mx.google.com"])
    assert (verdict.verified, verdict.method) == (True, "dkim=pass header.i=@example.com")


def test_microsoft_format_with_authserv_id_parses() -> None:
    value = f"mx.microsoft.com 1; {MICROSOFT}; arc=none (0)"
    verdict = authenticated_sender(mail(value), ["mx.microsoft.com"])
    assert (verdict.verified, verdict.method) == (True, "dmarc=pass header.from=example.com")


def test_microsoft_365_header_without_authserv_id_is_not_trusted() -> None:
    # Exchange Online writes no authserv-id, so no configured host can be matched: fail closed.
    verdict = authenticated_sender(mail(MICROSOFT), ["mx.microsoft.com", "spf"])
    assert not verdict.verified
    assert "unparseable" in verdict.reason


def test_no_sender_does_not_verify() -> None:
    verdict = authenticated_sender(mail(FORGED_PASS, sender=None), TRUSTED)
    assert (verdict.verified, verdict.reason) == (False, "no sender address")


def test_empty_trusted_list_does_not_verify() -> None:
    for trusted in ((), ("",), ("  ",)):
        verdict = authenticated_sender(mail(FORGED_PASS), trusted)
        assert (verdict.verified, verdict.reason) == (False, "no trusted authserv-id configured")


def test_no_authentication_results_does_not_verify() -> None:
    verdict = authenticated_sender(mail(), TRUSTED)
    assert (verdict.verified, verdict.reason) == (False, "no Authentication-Results header")


def test_arc_authentication_results_is_not_read() -> None:
    arc = ParsedMail(
        message_id=None,
        subject="",
        sender=Address("agent@example.com"),
        headers=(("arc-authentication-results", "i=1; " + FORGED_PASS),),
    )
    assert not authenticated_sender(arc, TRUSTED).verified


# --- DKIM alignment (issue 13) ------------------------------------------------------------


def test_dkim_header_i_of_the_agent_signed_by_an_unaligned_domain_does_not_verify() -> None:
    forged = "mx.acme.example; dkim=pass header.d=evil.example header.i=agent@example.com"
    verdict = authenticated_sender(mail(forged), TRUSTED)
    assert not verdict.verified
    assert "dkim=pass header.d=evil.example" in verdict.reason


def test_dkim_header_i_with_the_domain_signed_by_an_unaligned_domain_does_not_verify() -> None:
    forged = "mx.acme.example; dkim=pass header.d=evil.example header.i=@example.com"
    assert not authenticated_sender(mail(forged), TRUSTED).verified


def test_dkim_signed_by_the_parent_domain_is_aligned() -> None:
    dkim = "mx.acme.example; dkim=pass header.d=example.com"
    verdict = authenticated_sender(mail(dkim, sender="agent@eu.example.com"), TRUSTED)
    assert (verdict.verified, verdict.method) == (True, "dkim=pass header.d=example.com")


@pytest.mark.parametrize(
    "signer", ["eu.example.com", "other.example.com", "com", "xexample.com", "example.com.evil"]
)
def test_dkim_signed_by_a_child_sibling_suffix_or_tld_is_not_aligned(signer: str) -> None:
    dkim = f"mx.acme.example; dkim=pass header.d={signer} header.i=agent@example.com"
    assert not authenticated_sender(mail(dkim), TRUSTED).verified


def test_trusted_dmarc_fail_for_the_from_domain_is_reported_as_failed() -> None:
    assert authenticated_sender(mail(REAL_FAIL), TRUSTED).failed
    assert not authenticated_sender(mail("mx.acme.example; dmarc=none"), TRUSTED).failed
    other = "mx.acme.example; dmarc=fail header.from=other.example"
    assert not authenticated_sender(mail(other), TRUSTED).failed
