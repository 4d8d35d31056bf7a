"""Recognise an out-of-office answer by its words, for mail that carries no RFC 3834 header
and no telling subject (pure).

Used on agents' mail only: a header-less autoresponder answering a notification carries the
reply token, and its text (a private phone number, "back on Monday") must not reach the
customer. It looks at the first lines the sender wrote, which must open with a typical absence
phrase ("I am out of the office", "Ich bin bis … nicht im Büro", "Je suis absent"), and at
most a short text: an agent who writes "I'm away tomorrow, Bob takes over" mid-answer is not
caught, one whose whole answer starts that way is kept as a note, which costs a relay, never a
leak.
"""

from __future__ import annotations

import re

from mailtix.inbound.reply_text import visible_reply

MAX_CHARS = 1500  # an autoresponder's text is short; a long answer is a person's

_ABSENCE = re.compile(
    r"^\W*(?:(?:hello|hi|hallo|guten tag|bonjour|dear \w+)[,!.]?\s+)?(?:"
    r"(?:i am|i'm|i’m)\s+(?:currently\s+|now\s+)?(?:out of (?:the )?office|away from (?:the|my)"
    r" (?:office|desk)|on (?:annual |parental )?(?:leave|vacation|holiday)|away until)|"
    r"thank you for your (?:e-?mail|message)\.?\s+i am (?:currently )?(?:out|away|on)|"
    r"ich bin (?:bis|vom|ab|derzeit|zurzeit|momentan|leider)\b.{0,60}?"
    r"(?:nicht im büro|abwesend|im urlaub|nicht erreichbar)|"
    r"vielen dank für ihre (?:e-?mail|nachricht)\.?\s+ich bin\b.{0,60}?(?:abwesend|nicht im büro|"
    r"im urlaub)|"
    r"je suis (?:actuellement )?absente?\b|"
    r"this is an automatic reply|dies ist eine automatische antwort|"
    r"ceci est une réponse automatique)",
    re.IGNORECASE | re.DOTALL,
)


def absent_reply(text: str) -> bool:
    """Whether ``text`` (quoted history is set aside) reads as an out-of-office answer."""
    head = " ".join(visible_reply(text).text.split())
    return len(head) <= MAX_CHARS and _ABSENCE.match(head) is not None
