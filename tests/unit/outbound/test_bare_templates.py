"""The bare acknowledgement sees nothing of the customer's mail, and `mailtix check` says so
when a site's template asks for it."""

from __future__ import annotations

import shutil
from pathlib import Path

from mailtix.config.shipped import shipped_templates
from mailtix.outbound.render import KINDS, bare_context
from mailtix.outbound.template_check import SAMPLE_CONTEXT, check_templates


def test_bare_context_keeps_only_the_reference_and_the_mailbox() -> None:
    bare = bare_context(SAMPLE_CONTEXT)
    assert set(bare) == {"ticket", "mailbox"}
    assert bare["ticket"] == {"ref": SAMPLE_CONTEXT["ticket"]["ref"]}  # type: ignore[index]


def test_the_shipped_templates_pass_and_a_bare_one_asking_for_the_subject_does_not(
    tmp_path: Path,
) -> None:
    assert check_templates(shipped_templates(), KINDS, ["general"]) == []
    site = tmp_path / "templates"
    site.mkdir()
    shutil.copy(shipped_templates() / "acknowledgement_minimal.txt.j2", site)
    (site / "acknowledgement_minimal.subject.j2").write_text(
        "[{{ ticket.ref }}] {{ ticket.subject }}\n"
    )
    problems = check_templates(site, KINDS, ["general"], defaults=shipped_templates())
    assert len(problems) == 1 and "acknowledgement_minimal.subject.j2" in problems[0], problems
    assert "subject" in problems[0]
