"""Templates per language: templates/<lang>/ file by file, then the department's, then the
defaults; a language tag is never a path; `check` trial-renders language directories."""

from __future__ import annotations

from pathlib import Path

from mailtix.outbound.render import KINDS, TemplateRenderer
from mailtix.outbound.template_check import SAMPLE_CONTEXT, check_templates

SHIPPED = Path(__file__).resolve().parents[3] / "templates"


def write(directory: Path, name: str, text: str) -> None:
    path = directory / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def test_language_then_department_then_default_file_by_file(tmp_path: Path) -> None:
    for part in ("subject", "txt", "html"):
        write(tmp_path, f"acknowledgement.{part}.j2", f"default {part}")
    write(tmp_path, "de/acknowledgement.txt.j2", "deutsch")
    write(tmp_path, "billing/acknowledgement.txt.j2", "billing")
    write(tmp_path, "billing/acknowledgement.subject.j2", "billing subject")
    write(tmp_path, "billing/de/acknowledgement.html.j2", "billing deutsch")
    renderer = TemplateRenderer(tmp_path, recheck_seconds=0)

    german = renderer.render("acknowledgement", SAMPLE_CONTEXT, "billing", "de")
    assert (german.subject, german.text, german.html) == (
        "billing subject", "deutsch", "billing deutsch",
    )  # fmt: skip
    general = renderer.render("acknowledgement", SAMPLE_CONTEXT, "general", "DE")
    assert (general.subject, general.text, general.html) == ("default subject", "deutsch",
                                                             "default html")  # fmt: skip
    french = renderer.render("acknowledgement", SAMPLE_CONTEXT, "billing", "fr")  # none: falls back
    assert (french.subject, french.text) == ("billing subject", "billing")
    assert renderer.template_name("acknowledgement", "txt", None, "../de") == (
        "acknowledgement.txt.j2"
    )  # not a language tag: the defaults


def test_shipped_german_templates_check_and_speak_formally() -> None:
    assert check_templates(SHIPPED, KINDS, ["general", "billing"]) == []
    renderer = TemplateRenderer(SHIPPED)
    for kind in ("acknowledgement", "status", "survey", "reminder"):
        text = renderer.render(kind, SAMPLE_CONTEXT, None, "de").text
        assert text.startswith("Guten Tag Carol Customer,"), kind
        assert "Ihr" in text and " du " not in text, kind
        assert "Mit freundlichen Grüßen" in text, kind
    relay = renderer.render("relay", SAMPLE_CONTEXT, None, "de")
    assert "Antworten Sie einfach auf diese E-Mail" in relay.text


def test_a_broken_language_template_is_reported_by_check(tmp_path: Path) -> None:
    for kind in KINDS:
        for part in ("subject", "txt", "html"):
            write(tmp_path, f"{kind}.{part}.j2", "ok")
    write(tmp_path, "de/acknowledgement.txt.j2", "{{ nope.missing }}")
    problems = check_templates(tmp_path, KINDS, ["general"])
    assert len(problems) == 1 and problems[0].startswith(
        str(tmp_path / "de/acknowledgement.txt.j2")
    )
