"""Agent passwords (bot.desk.accounts): argon2id hashes, checked in constant time for
unknown names, and hashes made with weaker parameters flagged for a rehash at login."""

from __future__ import annotations

import pytest
from argon2 import PasswordHasher

from bot.desk.accounts import MIN_PASSWORD, hash_password, needs_rehash, verify_password


def test_a_password_verifies_only_against_its_own_hash() -> None:
    stored = hash_password("correct horse")
    assert stored.startswith("$argon2id$")
    assert verify_password(stored, "correct horse")
    assert not verify_password(stored, "correct horsE")
    assert not verify_password(None, "correct horse")  # an unknown name never logs in
    assert not verify_password("not a hash", "correct horse")


def test_a_short_password_is_refused() -> None:
    with pytest.raises(ValueError, match=str(MIN_PASSWORD)):
        hash_password("x" * (MIN_PASSWORD - 1))


def test_a_hash_with_weaker_parameters_asks_for_a_rehash() -> None:
    weak = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1).hash("correct horse")
    assert verify_password(weak, "correct horse")
    assert needs_rehash(weak)
    assert not needs_rehash(hash_password("correct horse"))
