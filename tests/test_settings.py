"""Configuration: validated, overridable from the environment, errors that name the key."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from bot.settings import BusinessHoursSettings, ConfigError, Settings, load_settings
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


def test_the_demo_desk_is_open_around_the_clock() -> None:
    # Trying the demo in one's evening must still show a chat reaching the queue.
    settings, _ = load_settings(ROOT / "config.yml")
    assert settings.handoff.business_hours.schedule().always_open
    # The hours shown there as an example are valid as written, once uncommented.
    text = (ROOT / "config.yml").read_text(encoding="utf-8")
    example = text.split("for example:\n", 1)[1].split("  business_hours:", 1)[0]
    weekly = yaml.safe_load("\n".join(line[5:] for line in example.splitlines()))["weekly"]
    hours = BusinessHoursSettings(timezone="Asia/Kolkata", weekly=weekly).schedule()
    assert not hours.always_open and "mon-fri" in weekly


def test_a_bad_value_names_the_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(write(tmp_path, "web:\n  port: lots\n"))
    assert "web.port" in str(caught.value)
    assert "HELPDESK_WEB__PORT" in str(caught.value)


def test_kb_source_url_is_an_http_link_with_the_file_in_it(tmp_path: Path) -> None:
    url = "https://github.com/acme/helpdesk/blob/main/knowledge_base/{file}#L{line}"
    settings, _ = load_settings(write(tmp_path, f"admin:\n  kb_source_url: '{url}'\n"))
    assert settings.admin.kb_source_url == url
    for bad in ("javascript:alert(1)//{file}", "https://example.com/kb"):
        with pytest.raises(ConfigError, match=r"admin\.kb_source_url"):
            load_settings(write(tmp_path, f"admin:\n  kb_source_url: '{bad}'\n"))


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


# An environment variable replaces the value its name points at; nothing of the file's
# value there survives (a merge would keep the file's hours or list entries). One case
# per section: a nested map or list where the section has one, else the whole section.
REPLACE_CASES: list[tuple[str, dict[str, str], Callable[[Settings], object], object]] = [
    (
        "bot:\n  languages: [en, gu, hi]\n",
        {"HELPDESK_BOT__LANGUAGES": '["en"]'},
        lambda s: s.bot.languages,
        ["en"],
    ),
    (
        "knowledge_base:\n  path: /srv/a\n",
        {"HELPDESK_KNOWLEDGE_BASE": '{"path": "/srv/b"}'},
        lambda s: str(s.knowledge_base.path),
        "/srv/b",
    ),
    (
        "database:\n  echo: true\n  auto_migrate: false\n",
        {"HELPDESK_DATABASE": '{"echo": false}'},
        lambda s: (s.database.echo, s.database.auto_migrate),
        (False, True),  # auto_migrate: back to its default, the file's section is replaced
    ),
    (
        "web:\n  forwarded_allow_ips: [10.0.0.1, 10.0.0.2]\n",
        {"HELPDESK_WEB__FORWARDED_ALLOW_IPS": '["10.0.0.3"]'},
        lambda s: s.web.forwarded_allow_ips,
        ["10.0.0.3"],
    ),
    (
        "nlu:\n  pipeline:\n    - name: WhitespaceTokenizer\n    - name: DIETClassifier\n",
        {"HELPDESK_NLU__PIPELINE": '[{"name": "KeywordIntentClassifier"}]'},
        lambda s: s.nlu.pipeline,
        [{"name": "KeywordIntentClassifier"}],
    ),
    (
        "channels:\n  webchat:\n    allowed_origins: [https://a.example]\n",
        {"HELPDESK_CHANNELS__WEBCHAT__ALLOWED_ORIGINS": "[]"},
        lambda s: s.channels.webchat.allowed_origins,
        [],
    ),
    (
        "handoff:\n  business_hours:\n    timezone: Asia/Kolkata\n"
        '    weekly:\n      mon-fri: "09:00-18:00"\n',
        {"HELPDESK_HANDOFF__BUSINESS_HOURS__WEEKLY": "{}"},
        lambda s: (s.handoff.business_hours.weekly, s.handoff.business_hours.timezone),
        ({}, "Asia/Kolkata"),  # always open; the file's time zone (a sibling) stays
    ),
    (
        "handoff:\n  business_hours:\n"
        '    weekly:\n      mon-fri: "09:00-18:00"\n    closed_on: [2026-12-25]\n',
        {
            "HELPDESK_HANDOFF__BUSINESS_HOURS__WEEKLY": '{"mon": "10:00-12:00"}',
            "HELPDESK_HANDOFF__BUSINESS_HOURS__CLOSED_ON": "[]",
        },
        lambda s: (s.handoff.business_hours.weekly, s.handoff.business_hours.closed_on),
        ({"mon": "10:00-12:00"}, []),
    ),
    (
        "admin:\n  metrics_networks: [10.0.0.0/8, 127.0.0.0/8]\n",
        {"HELPDESK_ADMIN__METRICS_NETWORKS": '["192.168.0.0/16"]'},
        lambda s: s.admin.metrics_networks,
        ["192.168.0.0/16"],
    ),
    (
        "tickets:\n  sla:\n    normal: {first_response_h: 8, resolution_h: 40}\n"
        "    high: {first_response_h: 2, resolution_h: 8}\n",
        {"HELPDESK_TICKETS__SLA": '{"normal": {"first_response_h": 4, "resolution_h": 20}}'},
        lambda s: {str(p): (t.first_response_h, t.resolution_h) for p, t in s.tickets.sla.items()},
        {"normal": (4, 20)},
    ),
    (
        "cluster:\n  worker_id: web-1\n  orphan_after_s: 5\n",
        {"HELPDESK_CLUSTER__WORKER_ID": "web-2"},
        lambda s: (s.cluster.worker_id, s.cluster.orphan_after_s),
        ("web-2", 5.0),
    ),
    (
        "surveys:\n  ces:\n    when: [bot_resolved]\n    channels: [telegram, slack]\n",
        {"HELPDESK_SURVEYS__CES__CHANNELS": '["webchat"]'},
        lambda s: (s.surveys.ces.channels, s.surveys.ces.when),
        (["webchat"], ["bot_resolved"]),
    ),
]


@pytest.mark.parametrize(
    ("text", "env", "read", "expected"),
    REPLACE_CASES,
    ids=[case[0].split(":")[0] + "-" + "+".join(case[1]) for case in REPLACE_CASES],
)
def test_an_environment_map_or_list_replaces_the_files(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    text: str,
    env: dict[str, str],
    read: Callable[[Settings], object],
    expected: object,
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    settings, _ = load_settings(write(tmp_path, text))
    assert read(settings) == expected


def test_every_section_has_a_replace_case() -> None:
    sections = {name for name, field in Settings.model_fields.items() if name != "log_level"}
    assert {case[0].split(":")[0] for case in REPLACE_CASES} == sections


def test_a_nested_variable_keeps_the_files_other_keys(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HELPDESK_HANDOFF__BUSINESS_HOURS__WEEKLY", '{"sun": "10:00-11:00"}')
    monkeypatch.setenv("HELPDESK_WEB__PORT", "9124")
    settings, _ = load_settings(
        write(tmp_path, "web:\n  host: 0.0.0.0\n  port: 8001\nhandoff:\n  queue_timeout_s: 60\n")
    )
    assert (settings.web.host, settings.web.port) == ("0.0.0.0", 9124)
    assert settings.handoff.queue_timeout_s == 60
    assert settings.handoff.business_hours.weekly == {"sun": "10:00-11:00"}


@pytest.mark.parametrize(
    ("value", "urls"),
    [
        ('"http://rasa:5005"', ["http://rasa:5005"]),
        ('"http://rasa-1:5005/, http://rasa-2:5005"', ["http://rasa-1:5005", "http://rasa-2:5005"]),
        ("[http://rasa-1:5005, http://rasa-2:5005]", ["http://rasa-1:5005", "http://rasa-2:5005"]),
    ],
)
def test_nlu_url_names_one_rasa_or_several_replicas(
    tmp_path: Path, value: str, urls: list[str]
) -> None:
    settings, _ = load_settings(write(tmp_path, f"nlu:\n  url: {value}\n"))
    assert settings.nlu.urls == urls


def test_nlu_url_from_the_environment_may_list_replicas_with_commas(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HELPDESK_NLU__URL", "http://a:5005,http://b:5005")
    settings, _ = load_settings(write(tmp_path, ""))
    assert settings.nlu.urls == ["http://a:5005", "http://b:5005"]


def test_an_nlu_url_that_is_not_http_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"nlu\.url"):
        load_settings(write(tmp_path, "nlu:\n  url: rasa:5005\n"))


def test_several_workers_refuse_sqlite_and_say_why(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:6379/0")
    monkeypatch.delenv("DATABASE_URL", raising=False)
    with pytest.raises(ConfigError, match=r"cluster\.enabled needs PostgreSQL"):
        load_settings(write(tmp_path, "cluster:\n  enabled: true\n"))


def test_several_workers_need_redis_for_the_desks_events(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://postgres@127.0.0.1/test")
    monkeypatch.delenv("REDIS_URL", raising=False)
    with pytest.raises(ConfigError, match="REDIS_URL"):
        load_settings(write(tmp_path, "cluster:\n  enabled: true\n"))
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:6379/0")
    settings, _ = load_settings(write(tmp_path, "cluster:\n  enabled: true\n"))
    assert settings.cluster.enabled
    assert settings.database.url.startswith("postgresql+asyncpg://")
