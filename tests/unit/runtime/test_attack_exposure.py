"""An OAuth2 token cache others can read (left 0644 by an admin's copy, or a backup restored
with the wrong mode) hands them the refresh token: ``mailtix check`` warns, as for the store."""

from __future__ import annotations

from pathlib import Path

from mailtix.config.load import load_config
from mailtix.runtime.exposure import exposure_warnings

CONFIG = """\
[store]
url = "sqlite:///{tmp}/var/mailtix.db"

[smtp]
host = "smtp.example.com"
auth = "oauth2"
username = "support@example.com"

[smtp.oauth2]
provider = "microsoft"
client_id = "abc"
token_cache = "var/oauth-smtp.json"

[[mailbox]]
name = "support"
address = "support@example.com"
host = "imap.example.com"
auth = "oauth2"

[mailbox.oauth2]
provider = "microsoft"
client_id = "abc"

[agents]
secret = "0123456789abcdef0123456789abcdef"
"""


def test_check_warns_about_token_caches_others_can_read(tmp_path: Path) -> None:
    path = tmp_path / "mailtix.toml"
    path.write_text(CONFIG.format(tmp=tmp_path))
    config = load_config(path, {})
    var = tmp_path / "var"
    var.mkdir(mode=0o700)
    mailbox_cache, smtp_cache = var / "oauth-support.json", var / "oauth-smtp.json"
    for cache in (mailbox_cache, smtp_cache):
        cache.write_text("{}")
        cache.chmod(0o600)
    assert exposure_warnings(config) == []
    mailbox_cache.chmod(0o644)
    smtp_cache.chmod(0o640)
    assert exposure_warnings(config) == [
        f"warning: the token cache of mailbox support {mailbox_cache} is accessible to other "
        f"users (mode 0644); run: chmod 600 {mailbox_cache}",
        f"warning: the token cache of smtp {smtp_cache} is accessible to other users "
        f"(mode 0640); run: chmod 600 {smtp_cache}",
    ]
