"""load_config: the shipped example loads; every problem is one line naming file and key."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from mailtix.config.load import check_problems, load_config
from mailtix.config.shipped import shipped_templates
from mailtix.domain.errors import ConfigError

REPO = Path(__file__).resolve().parents[3]
ENV = {"MAILTIX_SMTP_PASSWORD": "smtp-secret", "MAILTIX_IMAP_PASSWORD": "imap-secret"}

MINIMAL = """\
[smtp]
maildir = "outgoing"

[[mailbox]]
name = "support"
address = "Support@Example.com"
maildir = "inbox"
"""

DEPARTMENTS = """\
[[department]]
name = "general"
agents = ["alice@example.com"]

[[department]]
name = "billing"
agents = ["Bob@Example.com"]

[[agent]]
email = "alice@example.com"
name = "Alice"
"""


def write(tmp_path: Path, main: str, departments: str = "", routing: str = "") -> Path:
    (tmp_path / "config").mkdir(exist_ok=True)
    if departments:
        (tmp_path / "config" / "departments.toml").write_text(departments)
    if routing:
        (tmp_path / "config" / "routing.toml").write_text(routing)
    path = tmp_path / "mailtix.toml"
    path.write_text(main)
    return path


def problems(path: Path, env: dict[str, str] | None = None) -> list[str]:
    found = check_problems(path, env or {})
    assert all("\n" not in line for line in found)
    return found


def test_example_config_loads(tmp_path: Path) -> None:
    shutil.copy(REPO / "mailtix.toml.example", tmp_path / "mailtix.toml")
    shutil.copytree(REPO / "config", tmp_path / "config")
    config = load_config(tmp_path / "mailtix.toml", ENV)
    assert config.smtp.password == "smtp-secret"
    assert config.mailboxes[0].password == "imap-secret"
    assert config.store.url == f"sqlite:///{tmp_path.resolve()}/var/mailtix.db"
    assert {d.name for d in config.departments} == {"general", "billing"}
    assert len(config.rules) >= 2
    assert config.templates.dir == shipped_templates()
    assert config.tickets.message_id_domain == "example.com"


def test_example_config_needs_its_secrets(tmp_path: Path) -> None:
    shutil.copy(REPO / "mailtix.toml.example", tmp_path / "mailtix.toml")
    shutil.copytree(REPO / "config", tmp_path / "config")
    found = problems(tmp_path / "mailtix.toml")
    assert (
        "mailtix.toml: smtp.password_env: environment variable MAILTIX_SMTP_PASSWORD is not set"
        in found
    )
    assert len(found) == 2


def test_commands_that_only_read_the_store_need_no_secrets(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """An admin on a box without the server passwords can still list and show tickets."""
    from mailtix.cli.main import main

    shutil.copy(REPO / "mailtix.toml.example", tmp_path / "mailtix.toml")
    shutil.copytree(REPO / "config", tmp_path / "config")
    (tmp_path / "var").mkdir()
    (tmp_path / "unreadable").mkdir()  # a password_file that cannot be read as a file
    path = tmp_path / "mailtix.toml"
    text = path.read_text().replace(
        'password_env = "MAILTIX_IMAP_PASSWORD"', 'password_file = "unreadable"'
    )
    path.write_text(text)
    monkeypatch.delenv("MAILTIX_SMTP_PASSWORD", raising=False)
    config = load_config(path, {}, secrets=False)
    assert config.smtp.password is None and config.mailboxes[0].password is None
    assert len(problems(path)) == 2  # with secrets (the default), both are still problems
    for command in (["tickets", "list"], ["outbox", "list"], ["quarantine", "list"]):
        assert main(["--config", str(path), *command]) == 0, command
    assert "REF" in capsys.readouterr().out
    assert main(["--config", str(path), "check"]) == 2  # check still wants them
    assert "MAILTIX_SMTP_PASSWORD is not set" in capsys.readouterr().err


def test_minimal_config_defaults(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, MINIMAL), {})
    box = config.mailboxes[0]
    assert box.address == "support@example.com"
    assert box.maildir == tmp_path / "inbox"
    assert config.smtp.maildir == tmp_path / "outgoing"
    assert [d.name for d in config.departments] == ["general"]  # the implicit department
    assert config.rules == ()
    assert config.tickets.prefix == "SUP"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("sqlite:///var/x.db", "sqlite:///{base}/var/x.db"),
        ("sqlite:////abs/x.db", "sqlite:////abs/x.db"),
        ("sqlite:///:memory:", "sqlite:///:memory:"),
        ("postgresql://u@db:5432/m", "postgresql://u@db:5432/m"),
        ("postgres://u@db/m", "postgres://u@db/m"),
    ],
)
def test_store_url(tmp_path: Path, url: str, expected: str) -> None:
    config = load_config(write(tmp_path, f'[store]\nurl = "{url}"\n' + MINIMAL), {})
    assert config.store.url == expected.format(base=tmp_path.resolve())


def test_password_env_and_file(tmp_path: Path) -> None:
    (tmp_path / "secret").write_text("s3cret\n")
    main = MINIMAL.replace('maildir = "outgoing"', 'host = "smtp.example.com"\nusername = "u"')
    path = write(
        tmp_path, main.replace('username = "u"', 'username = "u"\npassword_file = "secret"')
    )
    assert load_config(path, {}).smtp.password == "s3cret"
    path = write(tmp_path, main.replace('username = "u"', 'username = "u"\npassword_env = "PW"'))
    assert load_config(path, {"PW": "from-env"}).smtp.password == "from-env"
    assert problems(path) == ["mailtix.toml: smtp.password_env: environment variable PW is not set"]


def test_password_problems(tmp_path: Path) -> None:
    main = MINIMAL.replace(
        'maildir = "outgoing"',
        'host = "smtp.example.com"\nusername = "u"\npassword = "x"\npassword_env = "PW"',
    )
    assert problems(write(tmp_path, main)) == [
        "mailtix.toml: smtp.password_env: give only one of password, password_env"
    ]
    main = MINIMAL.replace(
        'maildir = "outgoing"', 'host = "smtp.example.com"\nusername = "u"\npassword_file = "nope"'
    )
    [line] = problems(write(tmp_path, main))
    assert line.startswith("mailtix.toml: smtp.password_file: cannot read ")


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            ("port", 'port = "abc"'),
            'mailbox[0].port: must be an integer from 1 to 65535, got "abc"',
        ),
        (("prot", "prot = 993"), 'mailbox[0].prot: unknown key (did you mean "port"?)'),
        (("security", 'security = "ssl"'), "mailbox[0].security: must be one of tls | starttls"),
        (("poll", "poll_interval = 0"), "mailbox[0].poll_interval: must be an integer >= 1, got 0"),
        (("size", "max_message_bytes = 10"), "mailbox[0].max_message_bytes: must be an integer"),
        (("dept", 'department = "sales"'), 'mailbox[0].department: unknown department "sales"'),
        (("both", 'host = "imap.example.com"'), "mailbox[0].maildir: give either host or maildir"),
        (("folder", 'processed_folder = "INBOX"'), "mailbox[0].processed_folder: must differ"),
        (("timeout", "timeout = true"), "mailbox[0].timeout: must be a number >= 1"),
    ],
)
def test_mailbox_problems(tmp_path: Path, change: tuple[str, str], expected: str) -> None:
    [line] = problems(write(tmp_path, MINIMAL + change[1] + "\n"))
    assert line.startswith("mailtix.toml: " + expected), line


def test_bad_address_and_missing_name(tmp_path: Path) -> None:
    main = MINIMAL.replace('name = "support"\n', "").replace(
        "Support@Example.com", "not an address"
    )
    assert problems(write(tmp_path, main)) == [
        "mailtix.toml: mailbox[0].name: required",
        "mailtix.toml: mailbox[0].address: must be an email address like support@example.com, "
        'got "not an address"',
    ]


def test_security_none_only_for_loopback(tmp_path: Path) -> None:
    main = MINIMAL.replace('maildir = "outgoing"', 'host = "smtp.example.com"\nsecurity = "none"')
    [line] = problems(write(tmp_path, main))
    assert line.startswith("mailtix.toml: smtp.security: ")
    assert "loopback" in line and "smtp.example.com" in line
    main = MINIMAL.replace(
        'maildir = "outgoing"', 'host = "127.0.0.1"\nport = 25\nsecurity = "none"'
    )
    assert problems(write(tmp_path, main)) == []


def test_several_problems_all_reported(tmp_path: Path) -> None:
    main = (
        '[tickets]\nprefix = "sup"\nauto_reply_limit_per_hour = -1\n[store]\nurl = "mysql://x"\n'
        + MINIMAL
        + "poll_interval = 0\ncolour = 1\n"
    )
    found = problems(write(tmp_path, main))
    keys = [line.split(": ")[1] for line in found]
    assert keys == [
        "store.url",
        "mailbox[0].colour",
        "mailbox[0].poll_interval",
        "tickets.prefix",
        "tickets.auto_reply_limit_per_hour",
    ]
    assert all(line.startswith("mailtix.toml: ") for line in found)


def test_missing_sections(tmp_path: Path) -> None:
    assert problems(write(tmp_path, "[tickets]\n")) == [
        "mailtix.toml: mailbox: at least one [[mailbox]] is required "
        "(name, address, host or maildir)",
        "mailtix.toml: smtp: section missing: add [smtp] with host (or maildir)",
    ]


def test_wrong_shapes_never_crash(tmp_path: Path) -> None:
    main = 'smtp = 3\nmailbox = "x"\nrules = []\ntemplates = {dir = 5}\nstore = {url = 1}\n'
    found = problems(write(tmp_path, main))
    assert "mailtix.toml: smtp: must be a table, got an integer" in found
    assert "mailtix.toml: mailbox: must be an array of tables ([[mailbox]]), got a string" in found
    assert "mailtix.toml: rules: must be a table, got a list" in found
    assert "mailtix.toml: templates.dir: must be a string, got an integer" in found
    main = MINIMAL + '[[mailbox]]\nname = "support"\naddress = "x@y.z"\nmaildir = "b"\n'
    assert problems(write(tmp_path, main)) == [
        'mailtix.toml: mailbox[1].name: duplicate mailbox name "support"'
    ]
    found = problems(write(tmp_path, "mailbox = [1]\n[smtp]\nmaildir = 'o'\n"))
    assert found[0] == "mailtix.toml: mailbox[0]: must be a table, got an integer"


def test_toml_syntax_error_has_line(tmp_path: Path) -> None:
    found = problems(write(tmp_path, MINIMAL + "\nthis is wrong\n"))
    assert found == ["mailtix.toml: line 9: Expected '=' after a key in a key/value pair"]
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path / "missing.toml", {})
    assert caught.value.problems[0].startswith("missing.toml: cannot read ")


def test_explicit_missing_rules_file_is_an_error(tmp_path: Path) -> None:
    main = MINIMAL + '[rules]\nrouting = "nope.toml"\n[templates]\ndir = "tpl"\n'
    found = problems(write(tmp_path, main))
    assert [line.split(": ")[1] for line in found] == ["rules.routing", "templates.dir"]


def test_a_missing_rules_file_under_its_default_name_is_none(tmp_path: Path) -> None:
    """The example config writes the defaults out: copied without config/, it still loads."""
    main = MINIMAL + (
        '[rules]\ndepartments = "config/departments.toml"\nrouting = "config/routing.toml"\n'
        'organisations = "config/organisations.toml"\n'
    )
    config = load_config(write(tmp_path, main), {})
    assert config.rules == () and config.organisations_path is None
    assert [d.name for d in config.departments] == ["general"]


def test_departments_file(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, MINIMAL, DEPARTMENTS), {})
    assert config.agent("BOB@example.com") is not None  # bare address becomes an agent
    assert config.department("billing") is not None
    bad = (
        DEPARTMENTS + '[[department]]\nname = "billing"\nagents = ["nope", "support@example.com"]\n'
    )
    bad += '[[agent]]\nemail = "carol@example.com"\nnmae = "Carol"\n'
    assert problems(write(tmp_path, MINIMAL, bad)) == [
        'config/departments.toml: agent[1].nmae: unknown key (did you mean "name"?)',
        'config/departments.toml: department[2].agents[0]: must be an email address, got "nope"',
        'config/departments.toml: department[2].agents[1]: "support@example.com" is a mailbox '
        "address; an agent needs their own address",
        'config/departments.toml: department[2].name: duplicate department "billing"',
    ]


ROUTING = """\
[[rule]]
name = "Invoices"
when = { subject = "invoice[", mailbox = "sales", from_domain = "not a domain", colour = 1 }
then = { department = "sales", priority = "asap", assign = "zed@example.com", tags = "x" }

[[rule]]
name = "Invoices"
when = { header = { "list-id" = "(" }, has_attachment = "yes" }
"""


def test_routing_problems(tmp_path: Path) -> None:
    found = problems(write(tmp_path, MINIMAL, DEPARTMENTS, ROUTING))
    where = 'config/routing.toml:1: rule "Invoices" (rule[0])'
    assert found == [
        f"{where}.when.colour: unknown key",
        f"{where}.when.subject: invalid regex: unterminated character set at position 7",
        f'{where}.when.mailbox: unknown mailbox "sales" (configured: support)',
        f'{where}.when.from_domain: must be a domain name like example.com, got "not a domain"',
        f'{where}.then.department: unknown department "sales" (defined: billing, general)',
        f'{where}.then.assign: "zed@example.com" is not an agent in departments.toml '
        '(or use "round-robin" or "least-open")',
        f'{where}.then.priority: must be one of low | normal | high | urgent, got "asap"',
        'config/routing.toml:6: rule "Invoices" (rule[1]).when.header.list-id: invalid regex: '
        "missing ), unterminated subpattern at position 0",
        'config/routing.toml:6: rule "Invoices" (rule[1]).when.has_attachment: must be true or '
        'false, got "yes"',
        'config/routing.toml:6: rule "Invoices" (rule[1]).name: duplicate rule name "Invoices"',
    ]


def test_routing_rules_loaded(tmp_path: Path) -> None:
    routing = (
        '[[rule]]\nname = "a"\nwhen = { to = ["Sales@*"], header = { "X-Prio" = "1" } }\n'
        'then = { assign = "round-robin", tags = ["t"], acknowledge = false }\ncontinue = true\n'
        '[[rule]]\nname = "all"\n'
    )
    config = load_config(write(tmp_path, MINIMAL, DEPARTMENTS, routing), {})
    first, second = config.rules
    assert first.continue_ and first.then.acknowledge is False and first.then.tags == ("t",)
    assert [(c.key, c.values, c.header) for c in first.when] == [
        ("to", ("sales@*",), ""),
        ("header", ("1",), "x-prio"),
    ]
    assert second.when == () and second.then.priority is None


def test_routing_syntax_error(tmp_path: Path) -> None:
    found = problems(write(tmp_path, MINIMAL, DEPARTMENTS, "[[rule]\n"))
    assert found == [
        "config/routing.toml: line 1: Expected ']]' at the end of an array declaration"
    ]
