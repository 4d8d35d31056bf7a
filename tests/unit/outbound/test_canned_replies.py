"""Canned replies (``templates/replies/NAME.txt.j2``): listed, rendered in the sandbox with the
ticket as context, checked by ``mailtix check``."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from mailtix.domain.errors import TemplateError
from mailtix.outbound.render import KINDS, TemplateRenderer
from mailtix.outbound.template_check import SAMPLE_CONTEXT, check_templates

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture
def templates(tmp_path: Path) -> Path:
    shutil.copytree(REPO / "templates", tmp_path / "templates")
    return tmp_path / "templates"


def test_shipped_canned_replies_render_and_are_listed(templates: Path) -> None:
    renderer = TemplateRenderer(templates)
    assert {"thanks", "need-details", "resolved"} <= set(renderer.reply_names())
    text = renderer.render_reply("need-details", SAMPLE_CONTEXT)
    assert text.startswith("Dear Carol Customer,") and "Printer on fire" in text
    assert check_templates(templates, KINDS, ["general"]) == []


def test_a_language_folder_has_its_own_canned_reply(templates: Path) -> None:
    (templates / "de" / "replies").mkdir(parents=True, exist_ok=True)
    (templates / "de" / "replies" / "thanks.txt.j2").write_text("Danke, {{ customer.name }}!\n")
    renderer = TemplateRenderer(templates)
    assert renderer.render_reply("thanks", SAMPLE_CONTEXT, "de") == "Danke, Carol Customer!"
    assert renderer.render_reply("thanks", SAMPLE_CONTEXT, "fr").startswith("Dear Carol")


@pytest.mark.parametrize(
    ("source", "problem"),
    [
        ("{{ ticket.nope }}", "undefined"),
        ("{% for %}", "syntax error"),
        ("{{ ''.__class__.__mro__ }}", "sandbox"),
        ("{{ 'x' * 100000000 }}", "sandbox"),
    ],
)
def test_a_broken_canned_reply_is_one_line_naming_the_file(
    templates: Path, source: str, problem: str
) -> None:
    (templates / "replies" / "broken.txt.j2").write_text(source + "\n")
    renderer = TemplateRenderer(templates)
    with pytest.raises(TemplateError) as error:
        renderer.render_reply("broken", SAMPLE_CONTEXT)
    assert "replies/broken.txt.j2" in str(error.value) and problem in str(error.value)
    assert "\n" not in str(error.value)
    found = check_templates(templates, KINDS, ["general"])
    assert len(found) == 1 and "broken.txt.j2" in found[0]


def test_names_that_are_paths_are_refused(templates: Path) -> None:
    renderer = TemplateRenderer(templates)
    for name in ("../notification", "nope", ".hidden"):
        with pytest.raises(TemplateError):
            renderer.render_reply(name, SAMPLE_CONTEXT)


def test_a_reply_added_is_listed_once_the_recheck_time_passed(templates: Path) -> None:
    now = [100.0]
    renderer = TemplateRenderer(templates, recheck_seconds=1.0, monotonic=lambda: now[0])
    before = renderer.reply_names()
    (templates / "replies" / "brand-new.txt.j2").write_text("Hello {{ customer.name }}\n")
    now[0] += 0.5
    assert renderer.reply_names() == before  # listed once a second, not per notification
    now[0] += 0.6
    assert renderer.reply_names() == sorted([*before, "brand-new"])
