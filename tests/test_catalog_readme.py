"""The README sanitiser against hostile input: whatever the markdown, no script can run."""

from __future__ import annotations

from html.parser import HTMLParser

import pytest

from appmarket.catalog.readme import ReadmeCache, render_readme

HOSTILE = [
    "<script>alert(1)</script>",
    "<SCRIPT SRC=//evil.example/x.js></SCRIPT>",
    "<scr<script>ipt>alert(1)</scr</script>ipt>",
    '<img src=x onerror="alert(1)">',
    "<img src=x onerror=alert(1)//",
    '<a href="javascript:alert(1)">click</a>',
    '<a href="JaVaScRiPt:alert(1)">click</a>',
    '<a href="  javascript:alert(1)">click</a>',
    '<a href="jav&#x09;ascript:alert(1)">click</a>',
    '<a href="&#106;avascript:alert(1)">click</a>',
    "[click](javascript:alert(1))",
    "[click](<javascript:alert(1)>)",
    "[click](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    '<a href="data:text/html,<script>alert(1)</script>">x</a>',
    "![x](data:image/svg+xml;base64,PHN2ZyBvbmxvYWQ9YWxlcnQoMSk+)",
    '<img src="data:image/png;base64,AAAA">',
    '<img src="/api/v1/users/me/tokens">',
    '<style>body{background:url("javascript:alert(1)")}</style>',
    '<p style="background:url(javascript:alert(1))">styled</p>',
    '<iframe src="https://evil.example"></iframe>',
    '<object data="https://evil.example/x.swf"></object>',
    '<embed src="https://evil.example/x.swf">',
    "<svg><script>alert(1)</script></svg>",
    '<svg onload="alert(1)"><circle r="1"/></svg>',
    '<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>',
    "<!--<img src=x onerror=alert(1)>-->",
    "<!-- --><script>alert(1)</script><!-- -->",
    "<!--[if IE]><script>alert(1)</script><![endif]-->",
    '<form action="https://evil.example"><input name="x"><button>go</button></form>',
    '<meta http-equiv="refresh" content="0;url=https://evil.example">',
    '<base href="https://evil.example/">',
    '<link rel="stylesheet" href="https://evil.example/x.css">',
    '<div onclick="alert(1)" onmouseover="alert(2)">hover</div>',
    '<details open ontoggle="alert(1)"><summary>x</summary></details>',
    '<template><script>alert(1)</script></template>',
    '<noscript><p title="</noscript><img src=x onerror=alert(1)>">',
    '<a href="vbscript:msgbox(1)">x</a>',
    '<a href="https://ok.example" target="_self" onclick="x()">ok</a>',
    '<textarea><script>alert(1)</script></textarea>',
]

_FORBIDDEN_TAGS = {"script", "style", "iframe", "object", "embed", "svg", "math", "form", "input", "button", "meta",
                   "base", "link", "template", "noscript", "textarea", "frame", "frameset", "applet"}


class _Audit(HTMLParser):
    """Parses the output as a browser would and records every element, attribute and comment."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.problems: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _FORBIDDEN_TAGS:
            self.problems.append(f"tag {tag}")
        for name, value in attrs:
            if name.startswith("on") or name in ("style", "srcdoc", "formaction", "xlink:href"):
                self.problems.append(f"attribute {name} on {tag}")
            if name in ("href", "src", "action", "background", "poster"):
                url = (value or "").strip().lower()
                if not url.startswith(("http://", "https://", "mailto:")):
                    self.problems.append(f"{name}={value!r} on {tag}")

    def handle_comment(self, data: str) -> None:
        self.problems.append(f"comment {data!r}")


def assert_safe(html: str) -> None:
    audit = _Audit()
    audit.feed(html)
    audit.close()
    assert not audit.problems, (audit.problems, html)
    assert "<script" not in html.lower(), html


@pytest.mark.parametrize("payload", HOSTILE)
def test_hostile_readme_is_neutralised(payload: str) -> None:
    assert_safe(render_readme(payload))
    # Also inside surrounding markdown, in lists and tables, and as a block.
    assert_safe(render_readme(f"# Title\n\n- item {payload}\n\n| a |\n|---|\n| {payload} |\n\n{payload}\n"))


def test_all_payloads_together_are_neutralised() -> None:
    assert_safe(render_readme("\n\n".join(HOSTILE)))


def test_ordinary_markdown_survives() -> None:
    html = render_readme(
        "# Title\n\nSome *emphasis* and **bold**, `code`, [a link](https://example.com), "
        "![logo](https://example.com/logo.png)\n\n```yaml\nkey: value\n```\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n"
        "<details><summary>More</summary>\n\nhidden\n\n</details>\n")
    assert "<h1>Title</h1>" in html
    assert "<em>emphasis</em>" in html and "<strong>bold</strong>" in html
    assert '<a href="https://example.com" rel="noopener noreferrer nofollow">a link</a>' in html
    assert '<img src="https://example.com/logo.png" alt="logo">' in html
    assert '<code class="language-yaml">key: value' in html
    assert "<table>" in html and "<td>1</td>" in html
    assert "<details><summary>More</summary>" in html


def test_code_class_only_language_names() -> None:
    html = render_readme('<code class="x onclick">a</code>\n\n```js" onmouseover="alert(1)\nx\n```')
    assert 'class="x' not in html
    assert_safe(html)


def test_cache_renders_once_per_digest() -> None:
    cache = ReadmeCache(size=2)
    assert cache.get("sha256:a", None) == ""
    first = cache.get("sha256:a", "# A")
    assert cache.get("sha256:a", "# different text, same digest") == first
    cache.get("sha256:b", "# B")
    cache.get("sha256:c", "# C")
    assert cache.get("sha256:a", "# A again") == "<h1>A again</h1>\n"  # evicted, re-rendered
