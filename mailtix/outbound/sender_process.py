"""``poll --once`` and ``mailtix run`` send from a child process: ``sender_thread``'s loop
(drain when kicked, once more at the end), run in an interpreter of its own, so the poller
and the sender do not take turns on one GIL (measured: a thread beside the poller left 2,000
acknowledgements going out about a second after the last batch; a process keeps up).

The parent writes one line per kick to the child's stdin and closes it to say "finish"; the
child answers with one JSON line of counts on stdout. The child opens the same store; on SQLite
its claims and journal flushes are rare short transactions. If the parent dies, the child sees
its stdin close, sends what is due and exits. If the child dies, the parent says so; what it
had not sent stays in the outbox for the next run (the crash bound is the outbox's, unchanged).

    python -m mailtix.outbound.sender_process CONFIG LOGLEVEL [INTERVAL]

``mailtix run`` keeps one for its lifetime (INTERVAL: also drain every that many seconds, for
retries) and starts it again if it dies.
"""

from __future__ import annotations

import json
import logging
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

from mailtix.domain.workers import worker_of

log = logging.getLogger(__name__)


class SenderProcess:
    def __init__(self, config_path: Path, interval: float | None = None) -> None:
        self.config_path = config_path
        self.interval = interval  # None: only when kicked (and once more on finish)
        self.counts: Counter[str] = Counter()
        self.error: str | None = None
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self) -> SenderProcess:
        level = str(logging.getLogger().getEffectiveLevel())
        argv = [
            sys.executable,
            "-m",
            "mailtix.outbound.sender_process",
            str(self.config_path),
            level,
        ]
        if self.interval is not None:
            argv.append(str(self.interval))
        self._proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        return self

    @property
    def worker(self) -> str | None:
        """The worker id its claims carry (the child's), once started."""
        return worker_of(self._proc.pid) if self._proc is not None else None

    def kick(self, *_: object) -> None:
        """Drain now (or right after the current round); a child that died is started anew
        (what it had not sent is still due)."""
        proc = self._proc
        if proc is None or proc.stdin is None:
            return
        if proc.poll() is not None:
            log.error(
                "the outbox sender process exited with %s; starting it again", proc.returncode
            )
            proc.communicate()
            self.start()
            return
        try:
            proc.stdin.write(b"kick\n")
            proc.stdin.flush()
        except OSError:  # it is dying: the next kick (or finish) sees it
            pass

    def finish(self) -> Counter[str]:
        """Tell the child to send what is due and stop; its counts (``error`` if it died)."""
        proc = self._proc
        if proc is None:
            return self.counts
        out, _ = proc.communicate()  # closes its stdin: "finish"
        self.error = None
        if proc.returncode != 0:
            how = (
                f"was killed by signal {-proc.returncode}"
                if proc.returncode < 0
                else (f"exited with {proc.returncode}")
            )
            self.error = f"the sender process {how}; what it did not send stays queued"
            return self.counts
        lines = out.decode(errors="replace").strip().splitlines()
        self.counts.update(json.loads(lines[-1]) if lines else {})
        return self.counts


def main(argv: list[str]) -> int:
    config_path, level = Path(argv[0]), int(argv[1])
    interval = float(argv[2]) if len(argv) > 2 else None
    # Ctrl-C and a service manager's SIGTERM reach the whole group; the parent decides when
    # sending stops (it closes our stdin after its own clean stop), so they are not ours
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    from mailtix.domain.log_lines import setup_logging

    setup_logging(level)
    from mailtix.config.load import load_config
    from mailtix.config.operations import config_secrets
    from mailtix.domain.clock import utcnow
    from mailtix.domain.errors import MailtixError
    from mailtix.outbound.accounts import send_accounts
    from mailtix.outbound.sender_thread import SenderThread
    from mailtix.store import open_store

    try:
        config = load_config(config_path)
        db = open_store(config.store.url, upgrade=False)
        setup_logging(level, config.logging.format, config_secrets(config))  # as the parent's
    except MailtixError as exc:  # e.g. the config was edited since the poll read it
        for line in str(exc).splitlines():
            log.error("outbox sender: %s", line)
        return 2
    accounts = send_accounts(config)
    sender = SenderThread(accounts, utcnow, interval).start()  # the same loop, kicked here
    try:
        for _ in iter(sys.stdin.buffer.readline, b""):
            sender.kick()
        counts = sender.finish()  # stdin closed: the parent finished (or died)
    finally:
        db.close()
    sys.stdout.write(json.dumps(dict(counts)) + "\n")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
