"""Container health checks, standard library only (the slim images have no curl).

``healthcheck.py bot``: the bot answers ``GET /healthz`` with 200 (ready: database,
channels and the NLU). ``healthcheck.py rasa``: Rasa's ``/status`` names a loaded
model. The Rasa token is read from the container's environment (``RASA_TOKEN``),
never put on a command line. Exit 0: healthy; 1: not.
"""

from __future__ import annotations

import json
import os
import sys
import urllib.error
import urllib.parse
import urllib.request


def _get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=4) as response:  # non-2xx raises HTTPError
        body: bytes = response.read()
        return body


def bot() -> None:
    port = os.environ.get("HELPDESK_WEB__PORT", "8000")
    _get(f"http://127.0.0.1:{port}/healthz")


def rasa() -> None:
    port = os.environ.get("RASA_PORT", "5005")
    query = urllib.parse.urlencode({"token": os.environ.get("RASA_TOKEN", "")})
    status = json.loads(_get(f"http://127.0.0.1:{port}/status?{query}"))
    if not status.get("model_file"):
        raise RuntimeError("no model loaded")


def main(argv: list[str]) -> int:
    checks = {"bot": bot, "rasa": rasa}
    if len(argv) != 2 or argv[1] not in checks:
        print(f"usage: {argv[0]} bot|rasa", file=sys.stderr)
        return 2
    try:
        checks[argv[1]]()
    except (OSError, ValueError, RuntimeError) as exc:  # URLError and HTTPError are OSErrors
        print(f"unhealthy: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
