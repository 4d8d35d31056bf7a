"""Write mails/nested-300.eml: a 300-level nested multipart/mixed (P3 in the research checklist).

Run `python tests/data/make_nested.py [levels]`; the tests also call ``nested_message`` directly.
"""

from __future__ import annotations

import sys
from pathlib import Path


def nested_message(levels: int) -> bytes:
    """A message whose text part sits inside ``levels`` nested multipart/mixed containers."""
    head = [
        b"From: Deep <deep@example.com>\r\n",
        b"To: support@example.org\r\n",
        b"Subject: nested %d levels\r\n" % levels,
        b"Message-ID: <nested-%d@example.com>\r\n" % levels,
        b"MIME-Version: 1.0\r\n",
    ]
    opening = [
        b'Content-Type: multipart/mixed; boundary="b%d"\r\n\r\n--b%d\r\n' % (i, i)
        for i in range(levels)
    ]
    leaf = [b"Content-Type: text/plain\r\n\r\nhello from the bottom\r\n"]
    closing = [b"--b%d--\r\n" % i for i in reversed(range(levels))]
    return b"".join(head + opening + leaf + closing)


if __name__ == "__main__":
    levels = int(sys.argv[1]) if len(sys.argv) > 1 else 300
    target = Path(__file__).parent / "mails" / f"nested-{levels}.eml"
    target.write_bytes(nested_message(levels))
