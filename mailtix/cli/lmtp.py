"""``mailtix lmtp [--listen HOST:PORT]``: take mail straight from the MTA over LMTP until
SIGTERM/SIGINT, sending acknowledgements as tickets are committed (``runtime.lmtp``)."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from typing import Any

from mailtix.cli.common import open_app
from mailtix.domain.errors import UsageError

OUTBOX_INTERVAL = 10  # seconds between the sender's looks for retries (as ``mailtix run``)


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    lmtp = sub.add_parser(
        "lmtp", parents=[common],
        help="take mail from the MTA over LMTP (Postfix lmtp:inet:…) until stopped",
    )  # fmt: skip
    lmtp.add_argument(
        "--listen", metavar="HOST:PORT", help="address to listen on (default: [lmtp] listen)"
    )
    lmtp.set_defaults(func=serve_lmtp)


def serve_lmtp(args: argparse.Namespace) -> int:
    from mailtix.config.lmtp import listen_problem
    from mailtix.config.operations import split_listen
    from mailtix.runtime.app import start_sender, stop_sender
    from mailtix.runtime.lmtp import LmtpServer

    app = open_app(args)
    listen = args.listen or app.config.lmtp.listen
    if not listen:
        raise UsageError('no address to listen on: give --listen or [lmtp] listen = "HOST:PORT"')
    problem = listen_problem(listen, app.config.lmtp.allow_remote)
    if problem:
        raise UsageError(f"--listen: {problem}" if args.listen else f"[lmtp] listen: {problem}")
    address = split_listen(listen)
    assert address is not None
    stopping = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stopping.set())
    sender = start_sender(app, OUTBOX_INTERVAL)
    try:
        server = LmtpServer(app.config, app.pipeline, address, sender.kick).start()
        print(f"mailtix lmtp on {address[0]}:{server.port}; stop with SIGTERM or Ctrl-C",
              file=sys.stderr, flush=True)  # fmt: skip
        while not stopping.wait(1.0):
            pass
        server.stop()
    finally:
        stop_sender(app, sender)
    return 0
