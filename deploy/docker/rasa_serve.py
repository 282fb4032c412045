"""Starts ``rasa run --enable-api`` with the auth token from ``$RASA_TOKEN``.

Rasa 3.6 takes its token only as ``--auth-token``, and a command line is readable by
anyone on the host (``ps``), containers included. So, as bot/nlu/rasa_server.py does
for the supervised Rasa, the token is taken from the environment, removed there (Rasa's
children do not inherit it) and handed to Rasa's argument parser in this process.

Models: ``--model /models`` (a directory: Rasa loads the newest model in it; the
cluster's leader swaps in newer ones through ``PUT /model``). Extra arguments are
passed on to ``rasa run``.
"""

from __future__ import annotations

import os
import sys


def main() -> None:
    token = os.environ.pop("RASA_TOKEN", "")
    if not token or token.startswith("-"):
        # Rasa's parser would read a token starting with "-" as an option.
        sys.exit("RASA_TOKEN must be set (and not start with '-'): every client needs it")
    models = os.environ.get("RASA_MODELS", "/models")
    port = os.environ.get("RASA_PORT", "5005")
    sys.argv = [
        "rasa",
        "run",
        "--enable-api",
        "--port",
        port,
        "--model",
        models,
        *sys.argv[1:],
        f"--auth-token={token}",
    ]
    from rasa.__main__ import main as rasa_main

    rasa_main()


if __name__ == "__main__":
    main()
