"""Start and stop a private Dovecot + Postfix mail stack on loopback, for tests and benchmarks.

Everything lives under one directory: configs, Postfix's queue, maildirs and logs. Ports are
picked free at start, so parallel runs and a developer's own servers do not collide.

    customer --SMTP--> Postfix (smtp_port) --LMTP--> Dovecot (lmtp_port) --> maildir
    test / mailtix <--IMAP (imap_port)-- Dovecot

Postfix accepts mail for both ``example.test`` (support, agents) and ``customer.test``
(customers) and hands all of it to Dovecot. Dovecot strips the domain from user names, so
``support@example.test`` and ``support`` are one mailbox.
Needs root and the Debian packages dovecot-imapd, dovecot-lmtpd and postfix; otherwise
``start()`` raises ``MailStackUnavailable`` with a one-line reason.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import pwd
import re
import shutil
import signal
import smtplib
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from types import TracebackType

from imapclient import IMAPClient

SUPPORT_DOMAIN = "example.test"
CUSTOMER_DOMAIN = "customer.test"
SYSTEM_MAIN_CF = Path("/etc/postfix/main.cf")
POSTFIX_CONFIG_NAME = "mailtix-postfix"  # marks our entries in alternate_config_directories
SBIN_PATH = "/usr/local/sbin:/usr/sbin:/sbin"

# Services of Debian's default master.cf that a loopback stack needs; no chroot anywhere, so
# the private queue directory needs no copies of /etc files.
MASTER_CF = """\
smtp      inet  n       -       n       -       -       smtpd
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
proxywrite unix -       -       n       -       1       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
lmtp      unix  -       -       n       -       -       lmtp
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
"""


class MailStackUnavailable(RuntimeError):
    """The stack cannot run here (not root, a package missing); the message says which."""


@dataclass(frozen=True)
class Mailbox:
    """One IMAP login on the stack and the address that delivers to it."""

    login: str
    password: str
    address: str
    host: str
    imap_port: int


class MailStack:
    """A private Dovecot + Postfix pair under ``directory``; use as a context manager."""

    host = "127.0.0.1"
    support_domain = SUPPORT_DOMAIN
    customer_domain = CUSTOMER_DOMAIN
    domains = (SUPPORT_DOMAIN, CUSTOMER_DOMAIN)

    def __init__(
        self,
        directory: str | os.PathLike[str],
        start_timeout: float = 20.0,
        discard_domains: Sequence[str] = (),
        smtp_auth: bool = False,
        oauth2_introspection_url: str | None = None,
        transports: dict[str, str] | None = None,
        main_cf: str = "",
    ) -> None:
        """``discard_domains``: Postfix accepts and queues mail to these domains as usual, then
        discards it instead of delivering it over LMTP (a benchmark's thousands of replies).
        ``smtp_auth``: Postfix also offers AUTH (PLAIN, LOGIN) for the stack's users, checked
        by Dovecot (SASL over a loopback auth listener), logs ``sasl_username=LOGIN`` and adds
        "(Authenticated sender: LOGIN)" to the Received header; mail without AUTH is still
        accepted from loopback.
        ``oauth2_introspection_url``: Dovecot also takes XOAUTH2 / OAUTHBEARER (IMAP, and SMTP
        AUTH with ``smtp_auth``) for access tokens this endpoint calls active (the
        introspection endpoint of tests/support/oauth_server.py).
        ``transports``: more transport_maps entries, domain or address -> transport, e.g.
        ``{"desk.test": "lmtp:inet:127.0.0.1:2424"}`` (a domain also becomes a local one).
        ``main_cf``: more main.cf lines (``{dir}`` is the stack's directory), e.g. header_checks."""
        self.directory = Path(directory).resolve()
        self.start_timeout = start_timeout
        self.discard_domains = tuple(discard_domains)
        self.smtp_auth = smtp_auth
        self.oauth2_introspection_url = oauth2_introspection_url
        self.transports = dict(transports or {})
        self.main_cf = main_cf
        self.imap_port = 0
        self.smtp_port = 0
        self.lmtp_port = 0
        self.auth_port = 0
        self._passwords: dict[str, str] = {}
        self._serial = 0
        self._users_lock = threading.Lock()
        self._postfix: subprocess.Popen[bytes] | None = None
        self._dovecot: subprocess.Popen[bytes] | None = None
        self._postfix_master_pid: int | None = None
        self._registered = False
        d = self.directory
        self.dovecot_conf = d / "dovecot" / "dovecot.conf"
        self.users_dir = d / "dovecot" / "users"
        self.postfix_dir = d / POSTFIX_CONFIG_NAME
        self.log_dir = d / "log"

    # -- lifecycle -------------------------------------------------------------------------

    def __enter__(self) -> MailStack:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> None:
        """Write configs, start Dovecot then Postfix, and wait until both answer."""
        binaries = check_available()
        self._prepare_directories()
        self.imap_port, self.smtp_port, self.lmtp_port, self.auth_port = free_ports(4)
        self._write_dovecot_config()
        self._write_postfix_config()
        try:
            self._start_dovecot(binaries["dovecot"])
            self._start_postfix(binaries["postfix"])
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Stop both servers and wait until none of their processes is left."""
        self._stop_postfix()
        self._stop_dovecot()
        if self._registered:
            _edit_alternate_config_directories(remove=str(self.postfix_dir))
            self._registered = False

    # -- users -----------------------------------------------------------------------------

    def add_user(self, name: str, password: str = "secret") -> str:
        """Create a mailbox login (works while running); returns the login name."""
        login = name.split("@", 1)[0]
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", login):
            raise ValueError(f"unusable mailbox name {name!r}")
        # One passwd-file per user: Dovecot stats a file at most once a second, so a new user
        # in a shared file could stay invisible for a second; a new file is read at once.
        entry = self.users_dir / login
        tmp = self.users_dir / f".{login}.tmp"
        tmp.write_text(f"{login}:{{PLAIN}}{password}::::::\n")
        tmp.chmod(0o644)
        tmp.replace(entry)
        with self._users_lock:
            self._passwords[login] = password
        return login

    def fresh_mailbox(
        self, prefix: str = "support", domain: str = SUPPORT_DOMAIN, password: str = "secret"
    ) -> Mailbox:
        """A new user named ``<prefix>-<n>``, unique for this stack's lifetime."""
        with self._users_lock:
            self._serial += 1
            name = f"{prefix}-{self._serial}"
        login = self.add_user(name, password)
        return Mailbox(login, password, f"{login}@{domain}", self.host, self.imap_port)

    def password(self, user: str) -> str:
        return self._passwords[user.split("@", 1)[0]]

    # -- SMTP and IMAP helpers -------------------------------------------------------------

    def send(self, raw: bytes | EmailMessage, mail_from: str, rcpt_to: Sequence[str]) -> None:
        """Submit one message to Postfix over SMTP; raise if any recipient is refused."""
        data = raw.as_bytes() if isinstance(raw, EmailMessage) else raw
        with smtplib.SMTP(self.host, self.smtp_port, timeout=10) as smtp:
            refused = smtp.sendmail(mail_from, list(rcpt_to), data)
        if refused:
            raise smtplib.SMTPRecipientsRefused(refused)

    @contextlib.contextmanager
    def imap(self, user: str) -> Iterator[IMAPClient]:
        """A logged-in IMAPClient for ``user``."""
        client = IMAPClient(self.host, port=self.imap_port, ssl=False, timeout=10)
        try:
            client.login(user.split("@", 1)[0], self.password(user))
            yield client
        finally:
            with contextlib.suppress(Exception):
                client.logout()

    def folder_uids(self, user: str, folder: str = "INBOX") -> list[int]:
        """UIDs in ``folder`` (empty if it does not exist)."""
        with self.imap(user) as client:
            if not client.folder_exists(folder):
                return []
            client.select_folder(folder, readonly=True)
            return sorted(client.search("ALL"))

    def fetch(self, user: str, folder: str = "INBOX") -> list[bytes]:
        """The raw bytes of every message in ``folder``, oldest UID first."""
        with self.imap(user) as client:
            if not client.folder_exists(folder):
                return []
            client.select_folder(folder, readonly=True)
            uids = sorted(client.search("ALL"))
            if not uids:
                return []
            data = client.fetch(uids, ["BODY.PEEK[]"])
            return [data[uid][b"BODY[]"] for uid in uids]

    def wait_for_messages(
        self, user: str, folder: str = "INBOX", count: int = 1, timeout: float = 10
    ) -> list[bytes]:
        """Poll until ``folder`` holds at least ``count`` messages; return all of them."""
        deadline = time.monotonic() + timeout
        while True:
            messages = self.fetch(user, folder)
            if len(messages) >= count:
                return messages
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"{user}/{folder} has {len(messages)} message(s), wanted {count} within "
                    f"{timeout}s; postfix queue:\n{self.postqueue()}\n{self.log_tail()}"
                )
            time.sleep(0.1)

    def append(
        self, user: str, folder: str, raw: bytes | EmailMessage, flags: Sequence[str] = ()
    ) -> int:
        """Put a message straight into a mailbox (creating the folder); returns its UID."""
        data = raw.as_bytes() if isinstance(raw, EmailMessage) else raw
        with self.imap(user) as client:
            if not client.folder_exists(folder):
                client.create_folder(folder)
            response = client.append(folder, data, flags=list(flags))
        text = response.decode() if isinstance(response, bytes) else str(response)
        match = re.search(r"APPENDUID \d+ (\d+)", text)
        if not match:
            raise RuntimeError(f"no APPENDUID in APPEND response {text!r}")
        return int(match.group(1))

    # -- Postfix queue ---------------------------------------------------------------------

    def postqueue(self) -> str:
        """Output of ``postqueue -p`` for this instance."""
        result = subprocess.run(
            [_which("postqueue"), "-c", str(self.postfix_dir), "-p"],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=10,
        )
        return (result.stdout + result.stderr).strip()

    def postfix_queue_empty(self) -> bool:
        return "Mail queue is empty" in self.postqueue()

    def wait_queue_empty(self, timeout: float = 10) -> None:
        deadline = time.monotonic() + timeout
        while not self.postfix_queue_empty():
            if time.monotonic() > deadline:
                raise TimeoutError(f"postfix queue not empty after {timeout}s:\n{self.postqueue()}")
            time.sleep(0.1)

    def flush_queue(self) -> None:
        """``postqueue -f``: try every deferred mail again now."""
        subprocess.run(
            [_which("postqueue"), "-c", str(self.postfix_dir), "-f"],
            stdin=subprocess.DEVNULL, capture_output=True, timeout=10, check=True,
        )  # fmt: skip

    def log_tail(self, lines: int = 30) -> str:
        """The last lines of every log, for error messages."""
        parts = []
        for log in sorted(self.log_dir.glob("*.log")):
            text = log.read_text(errors="replace").splitlines()[-lines:]
            parts.append(f"--- {log} ---\n" + "\n".join(text))
        return "\n".join(parts)

    # -- internals -------------------------------------------------------------------------

    def _prepare_directories(self) -> None:
        d = self.directory
        subs = (
            "dovecot",
            "run",
            "mail",
            "log",
            POSTFIX_CONFIG_NAME,
            "postfix-spool",
            "postfix-data",
        )
        for sub in subs:
            (d / sub).mkdir(parents=True, exist_ok=True)
        d.chmod(0o755)
        for parent in d.parents:
            if parent.stat().st_mode & 0o001 == 0:
                raise MailStackUnavailable(
                    f"{parent} is not traversable by the dovecot/postfix users "
                    "(chmod o+x it, or put the stack in another directory)"
                )
        dovecot = pwd.getpwnam("dovecot")
        shutil.chown(d / "mail", dovecot.pw_uid, dovecot.pw_gid)
        postfix = pwd.getpwnam("postfix")
        shutil.chown(d / "postfix-data", postfix.pw_uid, postfix.pw_gid)
        self.users_dir.mkdir(exist_ok=True)

    def _write_dovecot_config(self) -> None:
        d = self.directory
        dovecot = pwd.getpwnam("dovecot")
        self.dovecot_conf.write_text(
            DOVECOT_CONF.format(
                dir=d,
                users=self.users_dir,
                uid=dovecot.pw_uid,
                gid=dovecot.pw_gid,
                imap_port=self.imap_port,
                lmtp_port=self.lmtp_port,
            )
            + (DOVECOT_SASL.format(auth_port=self.auth_port) if self.smtp_auth else "")
        )
        if self.oauth2_introspection_url:
            ext = d / "dovecot" / "oauth2.conf.ext"
            ext.write_text(DOVECOT_OAUTH2_EXT.format(url=self.oauth2_introspection_url))
            text = self.dovecot_conf.read_text()
            text = text.replace("auth_mechanisms = plain login\n", DOVECOT_OAUTH2.format(ext=ext))
            self.dovecot_conf.write_text(text)

    def _write_postfix_config(self) -> None:
        d = self.directory
        main_cf = POSTFIX_MAIN_CF.format(
            spool=d / "postfix-spool",
            data=d / "postfix-data",
            domains=", ".join([*self.domains, *(k for k in self.transports if "@" not in k)]),
            lmtp_port=self.lmtp_port,
        )
        if self.smtp_auth:
            main_cf += POSTFIX_SASL.format(auth_port=self.auth_port)
        routes = [f"{domain}=discard:" for domain in self.discard_domains]
        routes += [f"{key}={transport}" for key, transport in self.transports.items()]
        if routes:
            main_cf += f"transport_maps = inline:{{ {', '.join(routes)} }}\n"
        main_cf += self.main_cf.replace("{dir}", str(d))
        (self.postfix_dir / "main.cf").write_text(main_cf)
        master_cf = MASTER_CF.replace("smtp      inet", f"{self.smtp_port} inet", 1)
        (self.postfix_dir / "master.cf").write_text(master_cf)
        _edit_alternate_config_directories(add=str(self.postfix_dir))
        self._registered = True

    def _start_dovecot(self, binary: str) -> None:
        # -F keeps the master in the foreground as our child, so stop() can reap it.
        with open(self.log_dir / "dovecot-start.log", "wb") as log:
            self._dovecot = subprocess.Popen(
                [binary, "-F", "-c", str(self.dovecot_conf)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self._wait_for_banner(self.imap_port, b"* OK", "dovecot IMAP", self._dovecot)

    def _start_postfix(self, binary: str) -> None:
        with open(self.log_dir / "postfix-setup.log", "wb") as log:
            subprocess.run(
                [binary, "-c", str(self.postfix_dir), "set-permissions"],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                timeout=60,
            )
        with open(self.log_dir / "postfix.log", "ab") as log:
            self._postfix = subprocess.Popen(
                [binary, "-c", str(self.postfix_dir), "start-fg"],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self._wait_for_banner(self.smtp_port, b"220", "postfix SMTP", self._postfix)
        # master -s calls setsid(): its session, not start-fg's, holds the daemons.
        pid_file = self.directory / "postfix-spool" / "pid" / "master.pid"
        self._postfix_master_pid = int(pid_file.read_text().split()[0])

    def _wait_for_banner(
        self, port: int, banner: bytes, what: str, process: subprocess.Popen[bytes] | None = None
    ) -> None:
        deadline = time.monotonic() + self.start_timeout
        last_error = ""
        while time.monotonic() < deadline:
            if process is not None and process.poll() is not None:
                last_error = f"exited with status {process.returncode}"
                break
            try:
                with socket.create_connection((self.host, port), timeout=2) as conn:
                    if conn.recv(512).startswith(banner):
                        return
                    last_error = "unexpected banner"
            except OSError as error:
                last_error = str(error)
            time.sleep(0.05)
        raise RuntimeError(f"{what} on port {port} not ready ({last_error}):\n{self.log_tail()}")

    def _stop_postfix(self) -> None:
        process, self._postfix = self._postfix, None
        master, self._postfix_master_pid = self._postfix_master_pid, None
        if process is None:
            return
        if process.poll() is None:
            if master is not None:
                # What `postfix stop` does, minus its one-second polling sleep.
                with contextlib.suppress(ProcessLookupError):
                    os.kill(master, signal.SIGTERM)
            else:
                subprocess.run(
                    [_which("postfix"), "-c", str(self.postfix_dir), "stop"],
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                    timeout=30,
                )
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        _reap_session(process.pid)
        if master is not None:
            _reap_session(master)

    def _stop_dovecot(self) -> None:
        process, self._dovecot = self._dovecot, None
        if process is None:
            return
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        _reap_session(process.pid)


DOVECOT_CONF = """\
protocols = imap lmtp
listen = 127.0.0.1
base_dir = {dir}/run
state_dir = {dir}/run/state
log_path = {dir}/log/dovecot.log
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
auth_username_format = %n
mail_location = maildir:{dir}/mail/%n
default_login_user = dovenull
default_internal_user = dovecot
mail_uid = {uid}
mail_gid = {gid}
first_valid_uid = 0
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%n {users}/%n
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={dir}/mail/%n
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {imap_port}
  }}
  inet_listener imaps {{
    port = 0
  }}
  chroot =
}}
service anvil {{
  chroot =
}}
service lmtp {{
  inet_listener lmtp {{
    address = 127.0.0.1
    port = {lmtp_port}
  }}
}}
protocol imap {{
  mail_max_userip_connections = 100
}}
protocol lmtp {{
  auth_username_format = %n
}}
"""

DOVECOT_OAUTH2 = """\
auth_mechanisms = plain login xoauth2 oauthbearer
passdb {{
  driver = oauth2
  mechanisms = xoauth2 oauthbearer
  args = {ext}
}}
"""

DOVECOT_OAUTH2_EXT = """\
introspection_mode = post
introspection_url = {url}
username_attribute = username
active_attribute = active
active_value = true
"""

DOVECOT_SASL = """\
service auth {{
  inet_listener {{
    address = 127.0.0.1
    port = {auth_port}
  }}
}}
"""

POSTFIX_MAIN_CF = """\
compatibility_level = 3.6
queue_directory = {spool}
data_directory = {data}
myhostname = mail.example.test
mydomain = example.test
myorigin = example.test
mydestination = {domains}
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
local_transport = lmtp:inet:127.0.0.1:{lmtp_port}
local_recipient_maps =
default_transport = error:no external delivery
relayhost =
alias_maps =
alias_database =
biff = no
smtputf8_enable = no
recipient_delimiter = +
queue_run_delay = 1s
minimal_backoff_time = 1s
maximal_backoff_time = 5s
maillog_file = /dev/stdout
"""


POSTFIX_SASL = """\
smtpd_sasl_auth_enable = yes
smtpd_sasl_type = dovecot
smtpd_sasl_path = inet:127.0.0.1:{auth_port}
smtpd_sasl_authenticated_header = yes
"""


def check_available() -> dict[str, str]:
    """Paths of the binaries the stack needs; raise MailStackUnavailable if anything is off."""
    if os.geteuid() != 0:
        raise MailStackUnavailable("the private mail stack needs root (dovecot and postfix)")
    found = {}
    for name, package in (("dovecot", "dovecot-imapd"), ("postfix", "postfix")):
        path = shutil.which(name, path=f"{os.environ.get('PATH', '')}:{SBIN_PATH}")
        if path is None:
            raise MailStackUnavailable(f"{name} not found: apt-get install {package}")
        found[name] = path
    for helper, package in (("imap", "dovecot-imapd"), ("lmtp", "dovecot-lmtpd")):
        if not Path("/usr/lib/dovecot", helper).exists():
            raise MailStackUnavailable(
                f"/usr/lib/dovecot/{helper} missing: apt-get install {package}"
            )
    for user in ("dovecot", "dovenull", "postfix"):
        try:
            pwd.getpwnam(user)
        except KeyError:
            raise MailStackUnavailable(
                f"system user {user!r} missing (reinstall its package)"
            ) from None
    return found


def free_ports(count: int) -> list[int]:
    """``count`` distinct loopback TCP ports that were free a moment ago."""
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind(("127.0.0.1", 0))
            sockets.append(sock)
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def _which(name: str) -> str:
    path = shutil.which(name, path=f"{os.environ.get('PATH', '')}:{SBIN_PATH}")
    if path is None:
        raise MailStackUnavailable(f"{name} not found")
    return path


def _edit_alternate_config_directories(add: str | None = None, remove: str | None = None) -> None:
    """Add/remove a directory in /etc/postfix/main.cf, keeping other entries.

    Our own entries whose directory is gone (a killed run) are pruned on the way. A lock file
    serialises parallel runs; postconf -e rewrites main.cf atomically.
    """
    name = "alternate_config_directories"
    lock_path = Path(tempfile.gettempdir()) / ".mailtix-postfix-main-cf.lock"
    with open(lock_path, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not SYSTEM_MAIN_CF.exists():  # apt's "No configuration" leaves none
            SYSTEM_MAIN_CF.parent.mkdir(parents=True, exist_ok=True)
            SYSTEM_MAIN_CF.write_text("")
        postconf = _which("postconf")
        current = subprocess.run(
            [postconf, "-c", str(SYSTEM_MAIN_CF.parent), "-h", name],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        entries = [e for e in re.split(r"[\s,]+", current) if e]
        kept = [
            e
            for e in entries
            if e != remove and (Path(e).name != POSTFIX_CONFIG_NAME or Path(e).is_dir())
        ]
        if add is not None and add not in kept:
            kept.append(add)
        if kept != entries:
            edit = ["-e", f"alternate_config_directories = {' '.join(kept)}"]
            subprocess.run(
                [postconf, "-c", str(SYSTEM_MAIN_CF.parent), *(edit if kept else ["-X", name])],
                stdin=subprocess.DEVNULL,
                capture_output=True,
                check=True,
            )


def _live_session_members(sid: int) -> list[int]:
    """PIDs in session ``sid`` that are not zombies."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[3]) == sid and fields[0] != "Z":
            members.append(int(entry.name))
    return members


def _reap_session(sid: int, timeout: float = 10.0) -> None:
    """Wait for every process of session ``sid`` to exit; SIGKILL the stragglers."""
    deadline = time.monotonic() + timeout
    while (members := _live_session_members(sid)) and time.monotonic() < deadline:
        time.sleep(0.05)
    for pid in members:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while _live_session_members(sid) and time.monotonic() < deadline:
        time.sleep(0.05)
