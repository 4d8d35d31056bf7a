"""Templates of one's own over the shipped defaults: a file in the configured directory wins,
every other comes from the shipped templates, so an empty directory (what ``mailtix init``
makes) checks and renders."""

from __future__ import annotations

from pathlib import Path

from mailtix.config.shipped import shipped_templates
from mailtix.outbound.render import KINDS, TemplateRenderer
from mailtix.outbound.template_check import SAMPLE_CONTEXT, check_templates


def test_an_empty_directory_of_overrides_checks_clean_over_the_shipped_templates(
    tmp_path: Path,
) -> None:
    assert check_templates(tmp_path, KINDS, [], defaults=shipped_templates()) == []
    alone = check_templates(tmp_path, KINDS, [])
    assert any("acknowledgement.txt.j2: required template is missing" in p for p in alone)


def test_a_file_of_ones_own_wins_and_the_rest_comes_from_the_shipped_ones(
    tmp_path: Path,
) -> None:
    (tmp_path / "acknowledgement.subject.j2").write_text("Ours: [{{ ticket.ref }}]\n")
    renderer = TemplateRenderer(tmp_path, defaults=shipped_templates(), recheck_seconds=0)
    ours = renderer.render("acknowledgement", SAMPLE_CONTEXT)
    shipped = TemplateRenderer(shipped_templates()).render("acknowledgement", SAMPLE_CONTEXT)
    assert ours.subject.startswith("Ours: [")
    assert ours.text == shipped.text and ours.subject != shipped.subject
    assert renderer.reply_names() == TemplateRenderer(shipped_templates()).reply_names()


def test_a_broken_file_of_ones_own_is_named_in_the_problem(tmp_path: Path) -> None:
    (tmp_path / "status.txt.j2").write_text("{% if %}\n")
    problems = check_templates(tmp_path, KINDS, [], defaults=shipped_templates())
    assert problems and all(p.startswith(str(tmp_path / "status.txt.j2")) for p in problems)
