"""``mailtix customers``: import checks every row (one line each, exit 1), is idempotent, a
wrong header is a usage error (exit 2); list filters by organisation; show prints the record."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.config import small_config

from mailtix.cli.main import main


@pytest.fixture(autouse=True)
def process_umask() -> Iterator[None]:
    """main() makes the process umask owner-only, as the CLI must; this test process goes on
    to start Dovecot and Postfix, whose users must read what it writes, so it is restored."""
    before = os.umask(0o077)
    os.umask(before)
    yield
    os.umask(before)


@pytest.fixture
def config(tmp_path: Path) -> Path:
    return small_config(
        tmp_path,
        organisations='[[organisation]]\nname = "BigCorp"\ndomains = ["bigcorp.example"]\n',
    )


def run(config: Path, *args: str) -> int:
    return main(["--config", str(config), "customers", *args])


def test_import_rows(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    csv = config.parent / "people.csv"
    csv.write_text(
        "email,name,organisation,language,tags\n"
        "Ann@Gmail.com,Ann,bigcorp,DE,vip;vip;board\n"
        "ben@bigcorp.example,Ben,,,\n"
        "x@y.example,X,Nope,,\n"
        "z@y.example,Z,,klingon!,\n"
        'q@y.example,"Q\x1b[2J",,,\n'
        'r@y.example,R,,,"a\x07b"\n',
        encoding="utf-8",
    )
    assert run(config, "import", str(csv)) == 1
    out, err = capsys.readouterr()
    assert out.strip() == "2 created, 0 updated, 0 unchanged, 4 bad"
    lines = err.strip().splitlines()
    assert [line.split(": ")[0] for line in lines] == [f"{csv}:{n}" for n in (4, 5, 6, 7)]
    assert 'organisation: "Nope" is not in the organisations file' in lines[0]
    assert "\x1b" not in err and "\x07" not in err  # never echoed to the terminal raw

    assert run(config, "import", str(csv)) == 1
    assert capsys.readouterr().out.strip() == "0 created, 0 updated, 2 unchanged, 4 bad"

    assert run(config, "list", "--organisation", "BIGCORP", "--json") == 0
    listed = json.loads(capsys.readouterr().out)
    assert sorted((c["email"], c["organisation"], c["language"], c["tags"]) for c in listed) == [
        ("ann@gmail.com", "BigCorp", "de", ["vip", "board"]),  # imported: free mail or not
        ("ben@bigcorp.example", "BigCorp", None, []),  # by domain
    ]
    assert run(config, "show", "ANN@gmail.com") == 0
    assert "organisation  BigCorp" in capsys.readouterr().out


def test_a_wrong_header_is_a_usage_error(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    csv = config.parent / "people.csv"
    csv.write_text("mail,name\nann@example.org,Ann\n", encoding="utf-8")
    assert run(config, "import", str(csv)) == 2
    assert "the header must name the columns" in capsys.readouterr().err
    assert run(config, "show", "nobody@example.org") == 2


def test_check_reports_a_bad_organisations_file_by_line(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (config.parent / "organisations.toml").write_text(
        '[[organisation]]\nname = "Ok"\n\n[[organisation]]\nname = "Free"\n'
        'domains = ["gmail.com"]\n'
    )
    assert main(["--config", str(config), "check"]) == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        'organisations.toml:4: organisation "Free" (organisation[1]).domains[0]: "gmail.com" '
        "is a free-mail domain: anyone can have an address there; list the organisation's "
        "people in members instead"
    ]
    (config.parent / "organisations.toml").write_text("[[organisation]\n")
    assert main(["--config", str(config), "check"]) == 2
    assert capsys.readouterr().err.startswith("organisations.toml: line 1: ")
