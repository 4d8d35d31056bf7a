"""Every agent command is listed where agents learn them: the notification (text and HTML)
and the answer to a mistyped command. A command added to the parser must be added there."""

from __future__ import annotations

import re

import pytest

from mailtix.config.shipped import shipped_templates
from mailtix.decisions.agent_commands import KNOWN


@pytest.mark.parametrize(
    "template", ["notification.txt.j2", "notification.html.j2", "command_error.txt.j2"]
)
def test_every_command_is_listed(template: str) -> None:
    text = (shipped_templates() / template).read_text()
    listed = set(re.findall(r"#([a-z]+)\b", text))
    assert set(KNOWN) - listed == set()
