"""One self-contained HTML page: figures embedded as base64 PNGs, tables and text escaped."""
from __future__ import annotations

import base64
import html
from pathlib import Path
from typing import List, Sequence, Tuple

__all__ = ["Page"]

STYLE = """
body { font-family: system-ui, -apple-system, Segoe UI, sans-serif; margin: 2em auto; max-width: 1200px;
       color: #222; padding: 0 1em; }
h1 { font-size: 1.5em; } h2 { font-size: 1.15em; margin-top: 1.8em; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; font-size: 0.9em; margin: 0.5em 0; }
td, th { border: 1px solid #ddd; padding: 0.25em 0.6em; text-align: left; vertical-align: top; }
th { background: #f4f4f4; } pre { background: #f7f7f7; padding: 0.8em; overflow-x: auto; font-size: 0.85em; }
img { max-width: 100%; } .note { color: #666; font-size: 0.9em; }
"""


class Page:
    """Sections appended in order, written once with `write`."""

    def __init__(self, title: str):
        self.title = title
        self.parts: List[str] = []

    def heading(self, text: str) -> None:
        self.parts.append(f"<h2>{html.escape(text)}</h2>")

    def note(self, text: str) -> None:
        self.parts.append(f'<p class="note">{html.escape(text)}</p>')

    def text(self, text: str) -> None:
        self.parts.append(f"<pre>{html.escape(text)}</pre>")

    def table(self, header: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
        head = "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
        body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>" for row in rows)
        self.parts.append(f"<table><tr>{head}</tr>{body}</table>")

    def pairs(self, rows: Sequence[Tuple[str, object]]) -> None:
        if rows:
            self.table(["", ""], rows)

    def image(self, png: Path, caption: str = "") -> None:
        data = base64.b64encode(Path(png).read_bytes()).decode("ascii")
        alt = html.escape(caption or Path(png).name)
        self.parts.append(f'<figure><img src="data:image/png;base64,{data}" alt="{alt}">'
                          + (f"<figcaption class=\"note\">{alt}</figcaption>" if caption else "") + "</figure>")

    def write(self, path: Path) -> Path:
        page = (f"<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>{html.escape(self.title)}</title>"
                f"<style>{STYLE}</style></head><body><h1>{html.escape(self.title)}</h1>"
                + "\n".join(self.parts) + "</body></html>\n")
        Path(path).write_text(page)
        return Path(path)
