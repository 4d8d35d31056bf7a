"""``[metrics]`` and ``[logging]``: metrics only on loopback unless ``allow_remote``, a listen
address that is not HOST:PORT is one problem line; log format and level are checked choices;
every secret of the config is known for masking."""

from __future__ import annotations

from pathlib import Path

import pytest

from mailtix.config.load import load_config
from mailtix.config.operations import config_secrets
from mailtix.domain.errors import ConfigError

BASE = """
[store]
url = "sqlite:///mailtix.db"
[smtp]
host = "127.0.0.1"
security = "none"
username = "out"
password = "smtp-secret"
[[mailbox]]
name = "support"
address = "support@acme.example"
host = "127.0.0.1"
security = "none"
password = "imap-secret"
[agents]
secret = "agent-secret-of-16-chars"
"""


def load(tmp_path: Path, extra: str) -> object:
    (tmp_path / "mailtix.toml").write_text(BASE + extra)
    return load_config(tmp_path / "mailtix.toml")


def problems(tmp_path: Path, extra: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, extra)
    return list(caught.value.problems)


def test_defaults_no_metrics_text_logs_from_warnings(tmp_path: Path) -> None:
    config = load(tmp_path, "")
    assert config.metrics.address is None  # type: ignore[attr-defined]
    assert (config.logging.format, config.logging.level) == ("text", "warning")  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("listen", "address"),
    [("127.0.0.1:9464", ("127.0.0.1", 9464)), ("[::1]:9464", ("::1", 9464)),
     ("localhost:9100", ("localhost", 9100))],
)  # fmt: skip
def test_loopback_listen_addresses(tmp_path: Path, listen: str, address: tuple) -> None:
    config = load(tmp_path, f'[metrics]\nlisten = "{listen}"\n')
    assert config.metrics.address == address  # type: ignore[attr-defined]


def test_a_reachable_address_needs_allow_remote(tmp_path: Path) -> None:
    [line] = problems(tmp_path, '[metrics]\nlisten = "0.0.0.0:9464"\n')
    assert line.startswith('mailtix.toml: metrics.listen: "0.0.0.0" is not a loopback address')
    assert "allow_remote = true" in line
    config = load(tmp_path, '[metrics]\nlisten = "0.0.0.0:9464"\nallow_remote = true\n')
    assert config.metrics.address == ("0.0.0.0", 9464)  # type: ignore[attr-defined]


@pytest.mark.parametrize("listen", ["9464", "127.0.0.1", "127.0.0.1:0", "127.0.0.1:99999", ":1"])
def test_a_listen_that_is_not_host_port_is_one_line(tmp_path: Path, listen: str) -> None:
    assert problems(tmp_path, f'[metrics]\nlisten = "{listen}"\n') == [
        f'mailtix.toml: metrics.listen: must be "HOST:PORT" like "127.0.0.1:9464", got "{listen}"'
    ]


def test_logging_choices_and_unknown_keys(tmp_path: Path) -> None:
    found = problems(tmp_path, '[logging]\nformat = "xml"\nlevel = "loud"\ncolour = true\n')
    assert len(found) == 3 and all(line.startswith("mailtix.toml: logging.") for line in found)
    config = load(tmp_path, '[logging]\nformat = "json"\nlevel = "debug"\n')
    assert (config.logging.format, config.logging.level) == ("json", "debug")  # type: ignore[attr-defined]


def test_every_secret_is_known_for_masking(tmp_path: Path) -> None:
    secrets = config_secrets(load(tmp_path, ""))
    assert {"smtp-secret", "imap-secret", "agent-secret-of-16-chars"} <= set(secrets)
