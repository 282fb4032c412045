"""Verifying the shop's signature on a web chat customer: JWT (HS256) and the HMAC of the id."""

from __future__ import annotations

import time

import pytest

from bot.channels.webchat_identity import Identity, IdentityRefused, identity_of
from tests.support.identity import _b64, customer_token, sign_jwt, user_hash

SECRET = b"shop secret"
NOW = time.time()


def test_a_signed_token_names_a_verified_customer() -> None:
    token = customer_token(
        SECRET,
        now=NOW,
        sub="cust-42",
        name="Asha Patel",
        email="asha@example.com",
        phone="+91 98",
        locale="gu-IN",
    )
    assert identity_of({"token": token}, secret=SECRET, now=NOW) == Identity(
        external_id="cust-42",
        name="Asha Patel",
        email="asha@example.com",
        phone="+91 98",
        locale="gu-IN",
        verified=True,
    )


@pytest.mark.parametrize(
    ("token", "why"),
    [
        (customer_token(b"another secret", now=NOW), "bad signature"),
        (customer_token(SECRET, now=NOW, ttl_s=-120), "expired"),
        (sign_jwt({"sub": "42"}, SECRET), "'exp'"),
        (sign_jwt({"sub": "42", "exp": NOW + 60}, SECRET, header={"alg": "none"}), "HS256"),
        (sign_jwt({"sub": "42", "exp": NOW + 60}, SECRET, header={"alg": "HS512"}), "HS256"),
        (sign_jwt({"exp": NOW + 60}, SECRET), "'sub'"),
        (sign_jwt({"sub": "", "exp": NOW + 60}, SECRET), "'sub'"),
        (sign_jwt({"sub": 42, "exp": NOW + 60}, SECRET), "'sub'"),
        (sign_jwt({"sub": "42", "exp": True}, SECRET), "'exp'"),
        (sign_jwt({"sub": "42", "exp": NOW + 600, "nbf": NOW + 300}, SECRET), "future"),
        (customer_token(SECRET, now=NOW, email="not an address"), "email"),
        (customer_token(SECRET, now=NOW, locale="<script>"), "locale"),
        (customer_token(SECRET, now=NOW, name="x" * 201), "'name'"),
        (customer_token(SECRET, now=NOW, name="nul\x00"), "'name'"),
        ("a.b", "not a JWT"),
        ("!!!.e30.x", "base64url"),
        (f"{_b64(b'[]')}.e30.x", "JSON object"),
        ("x" * 5000, "'token'"),
    ],
)
def test_a_token_that_does_not_verify_is_refused(token: str, why: str) -> None:
    with pytest.raises(IdentityRefused, match=why):
        identity_of({"token": token}, secret=SECRET, now=NOW)


def test_a_payload_changed_after_signing_is_refused() -> None:
    head, _, signature = customer_token(SECRET, now=NOW, sub="42").split(".")
    other = customer_token(b"whatever", sub="1").split(".")[1]
    with pytest.raises(IdentityRefused, match="bad signature"):
        identity_of({"token": f"{head}.{other}.{signature}"}, secret=SECRET, now=NOW)


def test_a_site_without_a_secret_verifies_nobody() -> None:
    with pytest.raises(IdentityRefused, match="no identity secret"):
        identity_of({"token": customer_token(SECRET, now=NOW)}, secret=None, now=NOW)


def test_the_hmac_of_the_id_verifies_the_id_only() -> None:
    frame = {"user_id": "42", "user_hash": user_hash("42", SECRET), "name": "Asha"}
    assert identity_of(frame, secret=SECRET, now=NOW) == Identity(
        external_id="42", name="Asha", verified=True
    )
    upper = {**frame, "user_hash": frame["user_hash"].upper()}
    assert identity_of(upper, secret=SECRET, now=NOW).verified
    for forged in ({**frame, "user_id": "43"}, {**frame, "user_hash": user_hash("42", b"x")}):
        with pytest.raises(IdentityRefused, match="does not match"):
            identity_of(forged, secret=SECRET, now=NOW)


def test_unsigned_claims_are_an_unverified_identity() -> None:
    identity = identity_of({"name": "Asha", "email": "asha@example.com"}, secret=SECRET, now=NOW)
    assert identity == Identity(name="Asha", email="asha@example.com", verified=False)
    assert identity_of({}, secret=None, now=NOW) == Identity()
