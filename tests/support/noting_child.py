"""A parse-ahead child for tests (``python -m support.noting_child LOG``): "parse" as the real
one, "slow" sleeps the seconds it is sent; each request's handler is appended to LOG as it
starts, so a test sees the order in which the child took them."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any

from mailtix.inbound.parse_ahead import parse_all, serve


def main() -> int:
    log = sys.argv[1]

    def noted(name: str, handler: Callable[[Any], list[Any]]) -> Callable[[Any], list[Any]]:
        def handle(payload: Any) -> list[Any]:
            with open(log, "a", encoding="utf-8") as out:
                out.write(name + "\n")
            return handler(payload)

        return handle

    def slow(seconds: float) -> list[Any]:
        time.sleep(seconds)
        return ["slept"]

    return serve({"parse": noted("parse", parse_all), "slow": noted("slow", slow)})


if __name__ == "__main__":
    raise SystemExit(main())
