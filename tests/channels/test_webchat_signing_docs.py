"""The signing code docs/webchat.md gives shops (Python and Node) verifies at the bot."""

from __future__ import annotations

import re
import shutil
import subprocess
import time
import types
from pathlib import Path

import pytest

from bot.channels.webchat_identity import Identity, identity_of

DOC = (Path(__file__).resolve().parents[2] / "docs" / "webchat.md").read_text()
SECRET = "s3cr3t-from-the-environment"
CUSTOMER = {"id": 42, "name": "Asha Patel", "email": "asha@example.com", "locale": "gu-IN"}
ASHA = Identity(
    external_id="42", name="Asha Patel", email="asha@example.com", locale="gu-IN", verified=True
)


def block(language: str, containing: str) -> str:
    for code in re.findall(rf"```{language}\n(.*?)```", DOC, re.S):
        if containing in code:
            return str(code)
    raise AssertionError(f"no {language} block with {containing!r} in docs/webchat.md")


def test_the_python_signing_code(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VOLTCART_WIDGET_SECRET", SECRET)
    namespace: dict[str, object] = {}
    exec(block("python", "def widget_identity_token"), namespace)
    sign = namespace["widget_identity_token"]
    token = sign(types.SimpleNamespace(**CUSTOMER))  # type: ignore[operator]
    assert identity_of({"token": token}, secret=SECRET.encode(), now=time.time()) == ASHA

    namespace = {}
    exec("import hashlib, hmac, os\n" + block("python", "hexdigest()"), namespace)
    frame = {"user_id": "42", "user_hash": namespace["hash"]}
    assert identity_of(frame, secret=SECRET.encode(), now=time.time()).verified


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_the_node_signing_code() -> None:
    script = (
        block("js", "function widgetIdentityToken")
        + f"console.log(widgetIdentityToken({CUSTOMER!r}.valueOf()));\n"
        + block("js", 'digest("hex")')
        + "console.log(hash);\n"
    ).replace("'", '"')
    env = {"VOLTCART_WIDGET_SECRET": SECRET, "PATH": "/usr/bin:/bin"}
    out = subprocess.run(
        ["node", "-e", script], capture_output=True, text=True, env=env, check=True, timeout=60
    ).stdout.split()
    token, user_hash = out
    assert identity_of({"token": token}, secret=SECRET.encode(), now=time.time()) == ASHA
    frame = {"user_id": "42", "user_hash": user_hash}
    assert identity_of(frame, secret=SECRET.encode(), now=time.time()).verified
