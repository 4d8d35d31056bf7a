"""Template rendering (pure, tmp_path): shipped templates, overrides, sandbox, errors, limits."""

from __future__ import annotations

import copy
import os
import time
from pathlib import Path

import pytest

from mailtix.domain.errors import TemplateError
from mailtix.outbound.render import TemplateRenderer, clean_subject
from mailtix.outbound.template_check import SAMPLE_CONTEXT, check_templates

SHIPPED = Path(__file__).resolve().parents[3] / "templates"
PAYLOADS = ("{{ 7*7 }}", "{% raw %}", "{{ ''.__class__.__mro__ }}", "{% endraw %}{# x")


def context(**ticket: str) -> dict[str, object]:
    data: dict[str, object] = copy.deepcopy(dict(SAMPLE_CONTEXT))
    data["ticket"].update(ticket)  # type: ignore[attr-defined]
    return data


def write_kind(directory: Path, kind: str = "ack", **parts: str) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    defaults = {"subject": "[{{ ticket.ref }}] {{ ticket.subject }}", "txt": "t", "html": "h"}
    for part, source in {**defaults, **parts}.items():
        (directory / f"{kind}.{part}.j2").write_text(source)


def test_shipped_acknowledgement_carries_tag_subject_and_signature() -> None:
    mail = TemplateRenderer(SHIPPED).render("acknowledgement", context(subject="Printer on fire"))
    assert mail.subject == "[SUP-42] Printer on fire"
    for body in (mail.text, mail.html):
        assert "[SUP-42]" in body
        assert "Printer on fire" in body
        assert "Support" in body  # the mailbox display name signs it
        assert "Carol Customer" in body
    assert "http://" not in mail.html and "https://" not in mail.html  # nothing remote


def test_shipped_templates_pass_check() -> None:
    assert check_templates(SHIPPED, ["acknowledgement"], []) == []


@pytest.mark.parametrize("payload", PAYLOADS)
def test_customer_text_is_context_never_template_source(payload: str) -> None:
    data = context(subject=f"Hi {payload}")
    data["customer"] = {"email": "c@example.org", "name": f"Eve {payload}"}
    mail = TemplateRenderer(SHIPPED).render("acknowledgement", data)
    assert mail.subject == f"[SUP-42] Hi {payload}"
    assert f"Hi {payload}" in mail.text
    assert f"Eve {payload}" in mail.text
    assert "49" not in mail.text and "<class" not in mail.text
    escaped = payload.replace("'", "&#39;")
    assert f"Hi {escaped}" in mail.html


def test_html_is_escaped_text_and_subject_are_not() -> None:
    mail = TemplateRenderer(SHIPPED).render("acknowledgement", context(subject="<b>x</b> & y"))
    assert "&lt;b&gt;x&lt;/b&gt; &amp; y" in mail.html
    assert "<b>x</b> & y" in mail.text
    assert mail.subject == "[SUP-42] <b>x</b> & y"


def test_subject_is_one_line_and_capped() -> None:
    mail = TemplateRenderer(SHIPPED).render(
        "acknowledgement", context(subject="Hello\r\nBcc: evil@example.org\x00\t" + "w" * 400)
    )
    assert mail.subject.startswith("[SUP-42] Hello Bcc: evil@example.org w")
    assert len(mail.subject) == 250
    assert not any(ch in mail.subject for ch in "\r\n\x00\t")
    assert clean_subject(" a\u2028b\x85c \n") == "a b c"


def test_department_override_replaces_only_its_parts(tmp_path: Path) -> None:
    write_kind(tmp_path, txt="general {{ ticket.ref }}")
    (tmp_path / "billing").mkdir()
    (tmp_path / "billing" / "ack.txt.j2").write_text("billing {{ ticket.ref }}")
    renderer = TemplateRenderer(tmp_path)
    assert renderer.render("ack", context(), "billing").text == "billing SUP-42"
    assert renderer.render("ack", context(), "billing").html == "h"
    assert renderer.render("ack", context(), "sales").text == "general SUP-42"
    assert renderer.render("ack", context(), "../billing").text == "general SUP-42"


def test_autoescape_follows_file_type_and_trailing_newline_kept(tmp_path: Path) -> None:
    write_kind(tmp_path, txt="{{ ticket.subject }}\n", html="{{ ticket.subject }}\n")
    mail = TemplateRenderer(tmp_path).render("ack", context(subject="a<b"))
    assert (mail.text, mail.html) == ("a<b\n", "a&lt;b\n")


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("{{ ticket.nope }}", "undefined"),
        ("{{ nothing }}", "undefined"),
        ("{% if %}", "line 1: syntax error"),
        ("{{ ''.__class__.__mro__ }}", "not allowed in the sandbox"),
        ("{{ ''|attr('__class__') }}", "not allowed in the sandbox"),
        ("{{ 'a{0.__class__}'.format(ticket) }}", "not allowed in the sandbox"),
        ("{{ '{x.__class__}'.format_map({'x': ticket}) }}", "not allowed in the sandbox"),
        ("{% include 'gone.j2' %}", "missing template gone.j2"),
    ],
)
def test_errors_are_one_line_naming_the_file(tmp_path: Path, source: str, expected: str) -> None:
    write_kind(tmp_path, txt=source)
    with pytest.raises(TemplateError) as caught:
        TemplateRenderer(tmp_path).render("ack", context())
    message = str(caught.value)
    assert message.startswith(f"{tmp_path / 'ack.txt.j2'}: ")
    assert expected in message
    assert "\n" not in message


def test_missing_template_and_bad_kind(tmp_path: Path) -> None:
    write_kind(tmp_path)
    (tmp_path / "ack.html.j2").unlink()
    with pytest.raises(TemplateError, match=r"ack\.html\.j2: template not found"):
        TemplateRenderer(tmp_path).render("ack", context())
    with pytest.raises(TemplateError, match="invalid template kind"):
        TemplateRenderer(tmp_path).render("../ack", context())


@pytest.mark.parametrize(
    "source",
    [
        "{% for i in range(1000) %}{{ 'x' * 1000 }}{{ 'y' * 1000 }}{% endfor %}",
        "{{ 'x' * 10000000 }}",
        "{{ 'x'.ljust(100000000) }}",
        "{{ 'x'|center(100000000) }}",
        "{{ '%999999999s'|format(1) }}",
        "{{ '%999999999s' % 1 }}",
        "{{ '{:999999999}'.format(1) }}",
        "{{ range(100000000)|list }}",
        "{{ 9 ** 9999999 }}",
    ],
)
def test_huge_output_is_refused(tmp_path: Path, source: str) -> None:
    write_kind(tmp_path, html=source)
    started = time.monotonic()
    with pytest.raises(TemplateError, match=r"ack\.html\.j2: .*(larger|too large|range)"):
        TemplateRenderer(tmp_path).render("ack", context())
    assert time.monotonic() - started < 1  # refused up front, not after building it


def test_long_loop_hits_the_time_limit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("mailtix.outbound.render.MAX_RENDER_SECONDS", 0.2)
    write_kind(
        tmp_path,
        txt="{% for a in range(10000) %}{% for b in range(10000) %}{% endfor %}{% endfor %}",
    )
    started = time.monotonic()
    with pytest.raises(TemplateError, match="longer than 0.2 seconds"):
        TemplateRenderer(tmp_path).render("ack", context())
    assert time.monotonic() - started < 5


def test_ordinary_filters_still_work(tmp_path: Path) -> None:
    source = "{{ ticket.subject|upper|center(12) }}|{{ '%-5s %d'|format('ab', 12345678) }}|"
    write_kind(tmp_path, txt=source + "{{ '{:,}'.format(12345678) }}|{{ '%d' % 12345678 }}")
    assert TemplateRenderer(tmp_path).render("ack", context(subject="hi")).text == (
        "     HI     |ab    12345678|12,345,678|12345678"
    )


def test_edited_or_added_template_is_picked_up_within_the_recheck_time(tmp_path: Path) -> None:
    write_kind(tmp_path, txt="one")
    now = [100.0]
    renderer = TemplateRenderer(tmp_path, recheck_seconds=1.0, monotonic=lambda: now[0])
    assert renderer.render("ack", context(), "billing").text == "one"
    path = tmp_path / "ack.txt.j2"
    path.write_text("two")
    stat = path.stat()
    os.utime(path, (stat.st_atime + 5, stat.st_mtime + 5))
    (tmp_path / "billing").mkdir()
    (tmp_path / "billing" / "ack.html.j2").write_text("billing html")
    now[0] += 0.5  # looked up half a second ago: not looked at again yet
    assert renderer.render("ack", context(), "billing").text == "one"
    now[0] += 0.6
    mail = renderer.render("ack", context(), "billing")
    assert (mail.text, mail.html) == ("two", "billing html")


def test_check_templates_reports_every_problem(tmp_path: Path) -> None:
    write_kind(tmp_path, txt="{% if %}")
    (tmp_path / "ack.html.j2").unlink()
    (tmp_path / "billing").mkdir()
    (tmp_path / "biling").mkdir()
    problems = check_templates(tmp_path, ["ack"], ["billing"])
    assert f"{tmp_path / 'ack.html.j2'}: required template is missing" in problems
    assert f"{tmp_path / 'ack.txt.j2'}: line 1: syntax error: " in "\n".join(problems)
    assert any(
        p.startswith(f"{tmp_path / 'biling'}: not a configured department") for p in problems
    )
    assert all("\n" not in p for p in problems)


def test_check_templates_trial_renders_overrides(tmp_path: Path) -> None:
    write_kind(tmp_path)
    (tmp_path / "billing").mkdir()
    (tmp_path / "billing" / "ack.txt.j2").write_text("{{ ticket.reff }}")
    (tmp_path / "billing" / "ack.html.j2").write_text("{{ ''.__class__ }}")
    problems = check_templates(tmp_path, ["ack"], ["billing"])
    assert len(problems) == 1  # rendering stops at the first failing part of a kind
    assert problems[0].startswith(f"{tmp_path / 'billing' / 'ack.txt.j2'}: undefined")
    assert check_templates(tmp_path / "nope", ["ack"], []) == [
        f"{tmp_path / 'nope'}: templates directory does not exist"
    ]


def test_dict_values_read_as_attributes_as_the_sandbox_reads_them(tmp_path: Path) -> None:
    write_kind(
        tmp_path,
        txt="{{ ticket.ref }}|{{ ticket['ref'] }}|{{ data.items is callable }}|"
        "{{ data.keys()|list }}",
    )
    values = {**context(), "data": {"items": "shadowed", "x": 1}}
    assert (
        TemplateRenderer(tmp_path).render("ack", values).text == "SUP-42|SUP-42|True|['items', 'x']"
    )
    for source in ("{{ ticket.nothing }}", "{{ ticket.__class__.__mro__ }}"):
        write_kind(tmp_path, txt=source)
        with pytest.raises(TemplateError, match=r"ack\.txt\.j2: (undefined|not allowed)"):
            TemplateRenderer(tmp_path).render("ack", context())
