"""Configuration: validated, overridable from the environment, errors that name the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.settings import ConfigError, load_settings
from tests.conftest import ROOT


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("DATABASE_URL", "HELPDESK_CONFIG", "HELPDESK_WEB__PORT", "TELEGRAM_BOT_TOKEN"):
        monkeypatch.delenv(name, raising=False)


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.yml"
    path.write_text(text, encoding="utf-8")
    return path


def test_the_shipped_config_is_valid() -> None:
    settings, secrets = load_settings(ROOT / "config.yml")
    assert settings.bot.default_language == "en"
    assert settings.nlu.pipeline[-1]["name"].endswith("EmbeddingIntentClassifier")
    assert settings.database.url.startswith("sqlite+aiosqlite:///")
    assert secrets.telegram_bot_token is None


def test_a_bad_value_names_the_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(write(tmp_path, "web:\n  port: lots\n"))
    assert "web.port" in str(caught.value)
    assert "HELPDESK_WEB__PORT" in str(caught.value)


def test_an_unknown_key_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(write(tmp_path, "nlu:\n  answer_treshold: 0.5\n"))
    assert "nlu.answer_treshold" in str(caught.value)


def test_out_of_range_threshold(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"nlu\.answer_threshold"):
        load_settings(write(tmp_path, "nlu:\n  answer_threshold: 1.5\n"))


def test_default_language_must_be_served(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"bot\.default_language"):
        load_settings(write(tmp_path, "bot:\n  default_language: fr\n  languages: [en]\n"))


def test_yaml_errors_name_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, "web: [\n")
    with pytest.raises(ConfigError, match=str(path)):
        load_settings(path)


def test_environment_overrides_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HELPDESK_WEB__PORT", "9123")
    monkeypatch.setenv("HELPDESK_NLU__ANSWER_THRESHOLD", "0.7")
    settings, _ = load_settings(write(tmp_path, "web:\n  port: 8001\n"))
    assert settings.web.port == 9123
    assert settings.nlu.answer_threshold == 0.7


def test_bad_environment_value_names_the_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HELPDESK_WEB__PORT", "not-a-port")
    with pytest.raises(ConfigError, match="HELPDESK_WEB__PORT"):
        load_settings(write(tmp_path, ""))


def test_secrets_and_database_url_come_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/helpdesk")
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", "123:abc")
    settings, secrets = load_settings(write(tmp_path, ""))
    assert settings.database.url == "postgresql+asyncpg://postgres@127.0.0.1:5432/helpdesk"
    assert secrets.telegram_bot_token is not None
    assert secrets.telegram_bot_token.get_secret_value() == "123:abc"
    assert "123:abc" not in repr(secrets)


def test_config_file_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HELPDESK_CONFIG", str(write(tmp_path, "web:\n  port: 8765\n")))
    settings, _ = load_settings()
    assert settings.web.port == 8765


def test_the_documented_defaults_hold_without_a_config_file(tmp_path: Path) -> None:
    # README's configuration table gives these defaults; a config.yml that omits them
    # must get the same (the supervised Rasa on any free port, not a fixed one).
    settings, _ = load_settings(write(tmp_path, "{}\n"))
    assert settings.nlu.rasa_port == 0
    assert (settings.web.host, settings.web.port) == ("127.0.0.1", 8000)
    assert settings.nlu.low_confidence_turns == 2
