"""HTML pages of the Markdown tables, for the Snakemake report.

``snakemake --report`` shows images and HTML inline but offers other files only
as downloads, so every table's Markdown (the table, its footnotes, diagnostics and
provenance) is also written as a small self-contained HTML page.
"""

from __future__ import annotations

import html
from pathlib import Path

from prettyflow.io import write_text

PAGE_STYLE = """
body { font-family: system-ui, sans-serif; margin: 1.5em; color: #222; }
table { border-collapse: collapse; margin: 0.8em 0; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; }
th { background: #f3f3f3; }
td { text-align: right; }
td:first-child { text-align: left; }
code { font-size: 0.9em; }
"""


def markdown_page(markdown_text: str, title: str) -> str:
    """A standalone HTML page of ``markdown_text`` (tables rendered)."""
    import markdown

    body = markdown.markdown(markdown_text, extensions=["tables"])
    return (
        "<!DOCTYPE html>\n<html><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title><style>{PAGE_STYLE}</style></head>"
        f"<body>\n{body}\n</body></html>\n"
    )


def titled_markdown_page(markdown_text: str, fallback_title: str) -> str:
    """The page of ``markdown_text``, titled by its first heading (else ``fallback_title``)."""
    headings = [
        line.lstrip("#").strip()
        for line in markdown_text.splitlines()
        if line[:1] == "#"
    ]
    return markdown_page(markdown_text, headings[0] if headings else fallback_title)


def write_markdown_page(markdown_path: str | Path, html_path: str | Path) -> None:
    """The page of a Markdown file, titled by its first heading (else its name)."""
    text = Path(markdown_path).read_text(encoding="utf-8")
    write_text(titled_markdown_page(text, Path(markdown_path).stem), html_path)
