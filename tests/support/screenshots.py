"""Where the browser tests save their screenshots.

A test run must not rewrite tracked files: screenshots go to ``build/screenshots/``,
and to ``docs/img/`` (the README's pictures) only when ``HELPDESK_DOCS_SCREENSHOTS=1``.
"""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def screenshot_dir() -> Path:
    if os.environ.get("HELPDESK_DOCS_SCREENSHOTS") == "1":
        return ROOT / "docs" / "img"
    directory = ROOT / "build" / "screenshots"
    directory.mkdir(parents=True, exist_ok=True)
    return directory
