"""HTML mail bodies: sanitise them with nh3 (allow-list) and turn them into readable plain text,
with bounded work: markup too large or too deeply nested to parse is read as stripped text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from html.parser import HTMLParser

import nh3

from mailtix.inbound.html_strip import strip_tags

MAX_HTML_CHARS = 2_000_000  # larger HTML is not sanitised (nh3: about 0.3 s a megabyte)
MAX_HTML_DEPTH = 256  # nor deeper markup: html5ever's work grows with the depth squared
MAX_FORMATTED_CHARS = 500_000  # larger sanitised HTML becomes text by stripping its tags
VOID_TAGS = frozenset(
    {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param"}
    | {"source", "track", "wbr"}
)
# Elements that a following sibling closes implicitly; they never nest by themselves.
_SELF_CLOSING_SIBLINGS = frozenset({"p", "li", "dt", "dd", "tr", "td", "th", "option"})
_TAG = re.compile(r"<(/?)([a-zA-Z][^\s/<>]*)[^<>]*?(/?)>")

BLOCK_TAGS = frozenset(
    {
        *("address", "article", "aside", "blockquote", "caption", "center", "dd", "div", "dl"),
        *("dt", "fieldset", "figcaption", "figure", "footer", "form", "h1", "h2", "h3", "h4"),
        *("h5", "h6", "header", "hr", "li", "main", "nav", "ol", "p", "pre", "section"),
        *("table", "tbody", "td", "tfoot", "th", "thead", "tr", "ul"),
    }
)
SKIP_TAGS = frozenset({"script", "style", "head", "title", "template", "noscript", "object"})
_SPACES = re.compile(r"[ \t\r\n\f\v]+")
_BLANK_LINES = re.compile(r"\n{3,}")


class _TextCollector(HTMLParser):
    """Collects text fragments; block elements become line breaks, links keep their target."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.skip: list[str] = []
        self.pre = 0
        self.links: list[tuple[str, int]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "body":
            self.skip = [t for t in self.skip if t != "head"]  # an unclosed <head> ends here
        if tag in SKIP_TAGS:
            self.skip.append(tag)
            return
        if tag == "br" or tag in BLOCK_TAGS:
            self.out.append("\n")
        if tag == "li":
            self.out.append("- ")
        elif tag == "pre":
            self.pre += 1
        elif tag == "a":
            href = dict(attrs).get("href") or ""
            self.links.append((href.strip(), len(self.out)))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "br" or tag in BLOCK_TAGS:
            self.out.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in SKIP_TAGS:
            if tag in self.skip:
                while self.skip and self.skip.pop() != tag:
                    pass
            return
        if tag == "pre" and self.pre:
            self.pre -= 1
        if tag == "a" and self.links:
            self._close_link()
        if tag in BLOCK_TAGS and tag != "li":
            self.out.append("\n")

    def _close_link(self) -> None:
        href, start = self.links.pop()
        label = " ".join("".join(self.out[start:]).split())
        if not href or href.startswith("#") or href.lower().startswith("javascript:"):
            return
        target = href[7:] if href.lower().startswith("mailto:") else href
        if target.rstrip("/") not in (label.rstrip("/"), "http://" + label, "https://" + label):
            self.out.append(f" ({href})" if label else href)

    def handle_data(self, data: str) -> None:
        if self.skip:
            return
        self.out.append(data if self.pre else _SPACES.sub(" ", data))


@dataclass(frozen=True)
class HtmlBody:
    """An HTML body read for storage: its text, its sanitised HTML (None when it was too large
    or too deep to sanitise) and, then, why."""

    text: str
    html: str | None
    defect: str = ""


def read_html(markup: str, *, text: bool = True) -> HtmlBody:
    """Text and sanitised HTML of ``markup``, in time linear in its size beyond the caps.
    ``text=False``: no text is made from sanitised HTML (its text is ""), for a mail whose
    text/plain part says it: half the cost of an HTML part."""
    if len(markup) > MAX_HTML_CHARS:
        return _stripped(markup, f"HTML over {MAX_HTML_CHARS} characters")
    if nesting_depth(markup) > MAX_HTML_DEPTH:
        return _stripped(markup, f"HTML nested deeper than {MAX_HTML_DEPTH} elements")
    clean = sanitize_html(markup)
    if not text:
        return HtmlBody("", clean)
    words = html_to_text(clean) if len(clean) <= MAX_FORMATTED_CHARS else strip_tags(clean)
    return HtmlBody(words, clean)


def _stripped(markup: str, why: str) -> HtmlBody:
    return HtmlBody(strip_tags(markup), None, f"{why}: read as text with its tags stripped")


def nesting_depth(markup: str) -> int:
    """The deepest nesting of elements in ``markup``, counted from its tags alone (void and
    self-closed tags do not nest; p, li, td and the like do not nest in themselves)."""
    depth = deepest = 0
    open_siblings: dict[str, int] = {}
    for match in _TAG.finditer(markup):
        closing, name, self_closed = match.groups()
        name = name.lower()
        if name in VOID_TAGS or self_closed:
            continue
        if closing:
            depth = max(depth - 1, 0)
            continue
        if name in _SELF_CLOSING_SIBLINGS:
            if open_siblings.get(name) == depth:
                continue  # <p>a<p>b: the second closes the first
            open_siblings[name] = depth + 1
        depth += 1
        deepest = max(deepest, depth)
    return deepest


def html_to_text(html: str) -> str:
    """Readable text for ``html``: blocks and <br> as newlines, list items as "- ", no scripts."""
    collector = _TextCollector()
    collector.feed(html)
    collector.close()
    lines = (line.strip(" ") for line in "".join(collector.out).replace("\xa0", " ").split("\n"))
    return _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip("\n")


_ALLOWED_SCHEMES = {"http", "https", "mailto", "cid", "data"}
_IMAGE_SOURCES = ("cid:", "data:image/")
_LINK_SCHEMES = ("http:", "https:", "mailto:", "#")


def _html_attribute(tag: str, attribute: str, value: str) -> str | None:
    lowered = value.strip().lower()
    if tag == "img" and attribute == "src":
        return value if lowered.startswith(_IMAGE_SOURCES) else None
    if attribute in ("href", "cite"):
        return value if lowered.startswith(_LINK_SCHEMES) else None
    return value


def sanitize_html(html: str) -> str:
    """``html`` cleaned by an allow-list: no scripts, handlers, javascript: or remote images."""
    return nh3.clean(
        html.replace("\x00", ""),
        url_schemes=_ALLOWED_SCHEMES,
        attribute_filter=_html_attribute,
        clean_content_tags={"script", "style", "title"},
        link_rel="noopener noreferrer nofollow",
    )
