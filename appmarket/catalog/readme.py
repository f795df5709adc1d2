"""README markdown to sanitised HTML.

Markdown is rendered with raw HTML enabled (READMEs use it for images and tables), then everything goes
through an allow-list sanitiser (nh3/ammonia): no script/style/iframe/object/embed/form, no event-handler
or style attributes, links only to http(s)/mailto, images only from http(s). Comments are dropped.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

import nh3
from markdown_it import MarkdownIt

_TAGS = {
    "a", "abbr", "b", "blockquote", "br", "code", "dd", "del", "details", "div", "dl", "dt", "em",
    "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i", "img", "ins", "kbd", "li", "ol", "p", "pre", "s",
    "span", "strong", "sub", "summary", "sup", "table", "tbody", "td", "th", "thead", "tr", "ul",
}
_ATTRIBUTES = {
    "a": {"href", "title"},
    "img": {"src", "alt", "title", "width", "height"},
    "td": {"align"},
    "th": {"align"},
    "ol": {"start"},
    "code": {"class"},
}
_LINK_SCHEMES = {"http", "https", "mailto"}
_IMG_PREFIXES = ("https://", "http://")


def _attribute_filter(tag: str, attr: str, value: str) -> str | None:
    """Images load without a click, so only absolute http(s) sources (no data:, no relative API paths)."""
    if tag == "img" and attr == "src":
        return value if value.strip().lower().startswith(_IMG_PREFIXES) else None
    if tag == "code" and attr == "class":
        return value if value.startswith("language-") and value.replace("-", "").isalnum() else None
    return value


_md = MarkdownIt("commonmark", {"html": True}).enable("table").enable("strikethrough")


def render_readme(markdown: str) -> str:
    html = _md.render(markdown)
    return nh3.clean(html, tags=_TAGS, clean_content_tags={"script", "style", "iframe", "object", "embed",
                                                           "svg", "math", "template", "noscript", "textarea"},
                     attributes=_ATTRIBUTES, attribute_filter=_attribute_filter, strip_comments=True,
                     link_rel="noopener noreferrer nofollow", url_schemes=_LINK_SCHEMES)


class ReadmeCache:
    """Rendered READMEs by chart digest (a digest's README never changes); bounded LRU."""

    def __init__(self, size: int = 256) -> None:
        self._size = size
        self._items: OrderedDict[str, str] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, digest: str, markdown: str | None) -> str:
        if not markdown:
            return ""
        with self._lock:
            hit = self._items.get(digest)
            if hit is not None:
                self._items.move_to_end(digest)
                return hit
        html = render_readme(markdown)
        with self._lock:
            self._items[digest] = html
            while len(self._items) > self._size:
                self._items.popitem(last=False)
        return html
