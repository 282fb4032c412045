"""``helpdesk``: the one command line entry point."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot.settings import ConfigError, Secrets, Settings, load_settings, resolve_config_path

if TYPE_CHECKING:
    from bot.storage.database import Database

log = logging.getLogger("bot")

Command = Callable[[argparse.Namespace, Settings, Secrets], Coroutine[Any, Any, int]]


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


async def cmd_kb_check(args: argparse.Namespace, settings: Settings, _: Secrets) -> int:
    from bot.knowledge.loader import check_knowledge_base

    directory = Path(args.kb) if args.kb else settings.knowledge_base.path
    entries, errors = check_knowledge_base(
        directory, default_language=settings.bot.default_language
    )
    for error in errors:
        print(error)
    if errors:
        print(f"{len(errors)} error(s) in {directory}", file=sys.stderr)
        return 1
    questions = sum(len(q) for e in entries for q in e.questions.values())
    print(f"{directory}: OK, {len(entries)} FAQ entries, {questions} questions")
    return 0


async def cmd_train(args: argparse.Namespace, settings: Settings, _: Secrets) -> int:
    from bot.knowledge.loader import LiveKnowledgeBase
    from bot.nlu.training import train_for

    kb = LiveKnowledgeBase(
        settings.knowledge_base.path, default_language=settings.bot.default_language
    )
    path = await train_for(
        kb.current, settings.nlu, progress=lambda line: print(line, flush=True), force=args.force
    )
    print(path)
    return 0


async def cmd_db_upgrade(_: argparse.Namespace, settings: Settings, __: Secrets) -> int:
    from bot.storage.migrate import upgrade_async

    await upgrade_async(settings.database.url)
    print("database is up to date")
    return 0


async def cmd_agent(args: argparse.Namespace, settings: Settings, _: Secrets) -> int:
    from bot.desk.accounts import AccountError
    from bot.storage.migrate import open_database

    async with open_database(settings.database.url, migrate=settings.database.auto_migrate) as db:
        try:
            for line in await _agent_command(args, db):
                print(line)
        except AccountError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
    return 0


async def _agent_command(args: argparse.Namespace, db: Database) -> list[str]:
    """What ``helpdesk agent add|password|slack|timezone|list`` did, as lines to print."""
    from bot.desk import accounts

    if args.agent_command == "add":
        created = await accounts.add_agent(
            db,
            name=args.name,
            languages=accounts.parse_languages(args.languages),
            max_chats=args.max_chats,
            role=args.role,
            password=accounts.read_password(from_stdin=args.password_stdin),
            slack_user=args.slack_user,
            timezone=accounts.parse_timezone(args.timezone) if args.timezone else None,
        )
        return [created]
    if args.agent_command == "password":
        password = accounts.read_password(from_stdin=args.password_stdin)
        if password is None:
            raise accounts.AccountError(
                "give the password on stdin (--password-stdin) or a terminal"
            )
        return [await accounts.set_password(db, name=args.name, password=password)]
    if args.agent_command == "slack":
        if args.slack_user is None and not args.clear:
            raise accounts.AccountError("give the Slack user id (U…), or --clear to unmap")
        slack_user = None if args.clear else args.slack_user
        return [await accounts.set_slack_user(db, name=args.name, slack_user=slack_user)]
    if args.agent_command == "timezone":
        if args.timezone is None and not args.clear:
            raise accounts.AccountError("give a time zone (Europe/Berlin), or --clear")
        zone = None if args.clear else accounts.parse_timezone(args.timezone)
        return [await accounts.set_timezone(db, name=args.name, timezone=zone)]
    return list(await accounts.list_agents(db))


async def cmd_token(args: argparse.Namespace, settings: Settings, _: Secrets) -> int:
    from bot.storage.api_tokens import ApiTokenRepository
    from bot.storage.migrate import open_database

    async with (
        open_database(settings.database.url, migrate=settings.database.auto_migrate) as db,
        db.transaction() as session,
    ):
        tokens = ApiTokenRepository(session)
        if args.token_command == "add":
            if await tokens.find(args.name) is not None:
                print(f"error: a token named {args.name!r} exists", file=sys.stderr)
                return 1
            token, _row = await tokens.add(args.name)
            _stderr(f"API token {args.name!r} (shown once; store it now):")
            print(token)
        elif args.token_command == "revoke":
            if not await tokens.revoke(args.name):
                print(f"error: no live token named {args.name!r}", file=sys.stderr)
                return 1
            print(f"revoked {args.name}")
        else:
            for row in await tokens.list():
                state = f"revoked {row.revoked_at:%Y-%m-%d}" if row.revoked_at else "live"
                print(f"{row.name}\t{row.prefix}…\t{state}\tcreated {row.created_at:%Y-%m-%d}")
    return 0


async def cmd_chat(args: argparse.Namespace, settings: Settings, secrets: Secrets) -> int:
    from bot.app import chat

    await chat(settings, secrets, session=args.session, progress=_stderr)
    return 0


async def cmd_run(_: argparse.Namespace, settings: Settings, secrets: Secrets) -> int:
    from bot.app import serve

    await serve(settings, secrets, progress=_stderr)
    return 0


async def cmd_nlu_eval(args: argparse.Namespace, settings: Settings, _: Secrets) -> int:
    from bot.nlu.tuning import evaluate

    result = await evaluate(
        settings, kb_dir=Path(args.kb), tests=Path(args.tests), progress=_stderr
    )
    if args.json:
        Path(args.json).write_text(
            json.dumps(result, ensure_ascii=False, indent=2), encoding="utf-8"
        )
    summary = {k: v for k, v in result.items() if k != "predictions"}
    print(json.dumps(summary, ensure_ascii=False, indent=2))
    return 0


async def cmd_nlu_tune(args: argparse.Namespace, settings: Settings, _: Secrets) -> int:
    from bot.nlu.thresholds import write_config
    from bot.nlu.tuning import provenance, tune, validation_json

    config_path = resolve_config_path(args.config)
    if args.write and config_path is None:
        print("error: no config file to write to", file=sys.stderr)
        return 2
    choice, parsed = await tune(
        settings,
        kb_dir=args.kb or settings.knowledge_base.path,
        every=args.every,
        folds=min(max(args.folds, 1), args.every),
        min_oos_recall=args.min_oos_recall,
        extra=args.validation,
        progress=_stderr,
    )
    print(json.dumps(choice.as_json(), indent=2))
    if args.json:
        report = json.dumps(validation_json(choice, parsed), ensure_ascii=False, indent=2)
        args.json.write_text(report, encoding="utf-8")
    if args.write:
        assert config_path is not None
        command = " ".join(["helpdesk", *args.command_line])
        write_config(config_path, choice.thresholds, provenance(choice, command))
        _stderr(f"wrote thresholds to {config_path}")
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="helpdesk", description="Multi-channel support bot")
    parser.add_argument("--config", type=Path, help="configuration file (default: ./config.yml)")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    commands = parser.add_subparsers(dest="command", required=True)

    commands.add_parser("run", help="run the bot: web chat, channels and a supervised Rasa server")
    train = commands.add_parser("train", help="compile the knowledge base and train the NLU model")
    train.add_argument("--force", action="store_true", help="retrain even if inputs are unchanged")
    chat = commands.add_parser("chat", help="talk to the bot in the terminal")
    chat.add_argument("--session", help="continue this terminal conversation")

    kb = commands.add_parser("kb", help="knowledge base tools")
    kb_commands = kb.add_subparsers(dest="kb_command", required=True)
    check = kb_commands.add_parser("check", help="validate the FAQ files")
    check.add_argument("--kb", help="knowledge base directory (default: from config)")

    nlu = commands.add_parser("nlu", help="NLU tools")
    nlu_commands = nlu.add_subparsers(dest="nlu_command", required=True)
    evaluate = nlu_commands.add_parser("eval", help="score the NLU on a test file")
    evaluate.add_argument("--kb", required=True, help="knowledge base directory")
    evaluate.add_argument("--tests", required=True, help="YAML list of {text, expect}")
    evaluate.add_argument("--json", help="write the full report (with predictions) here")
    tune = nlu_commands.add_parser(
        "tune",
        help="choose the answer/clarify/hand-off thresholds on questions held out from the "
        "knowledge base (and write them to the config file)",
    )
    tune.add_argument(
        "--config", type=Path, default=argparse.SUPPRESS, help="config file (config.yml)"
    )
    tune.add_argument("--kb", type=Path, help="knowledge base directory (default: from config)")
    tune.add_argument("--every", type=int, default=5, help="hold out every N-th question")
    tune.add_argument("--folds", type=int, default=1, help="folds to train (1 .. every)")
    tune.add_argument("--min-oos-recall", type=float, default=0.9)
    tune.add_argument("--validation", type=Path, help="extra labelled lines (nlu eval format)")
    tune.add_argument("--write", action="store_true", help="write the result to the config")
    tune.add_argument("--json", type=Path, help="write the full result here")

    agent = commands.add_parser("agent", help="manage agent accounts")
    agent_commands = agent.add_subparsers(dest="agent_command", required=True)
    add = agent_commands.add_parser("add", help="add an agent")
    add.add_argument("name")
    add.add_argument("--languages", default="en", help="comma-separated language codes")
    add.add_argument("--max-chats", type=int, default=3)
    add.add_argument("--role", choices=["agent", "admin"], default="agent")
    add.add_argument(
        "--password-stdin",
        action="store_true",
        help="read the password from the first line of stdin (else $HELPDESK_AGENT_PASSWORD, "
        "else a prompt)",
    )
    add.add_argument("--slack-user", help="the agent's Slack user id (U…) for the Slack desk")
    add.add_argument(
        "--timezone",
        help="the console shows this agent's times in this zone (Europe/Berlin); "
        "default: the team's (handoff.business_hours.timezone)",
    )
    slack = agent_commands.add_parser("slack", help="map an agent to their Slack user id")
    slack.add_argument("name")
    slack.add_argument("slack_user", nargs="?", help="Slack user id, e.g. U0123ABCD")
    slack.add_argument("--clear", action="store_true", help="unmap the agent's Slack user")
    zone = agent_commands.add_parser(
        "timezone", help="the zone the console shows an agent's times in"
    )
    zone.add_argument("name")
    zone.add_argument("timezone", nargs="?", help="an IANA zone, e.g. Europe/Berlin")
    zone.add_argument("--clear", action="store_true", help="back to the team's zone")
    password = agent_commands.add_parser("password", help="set an agent's console password")
    password.add_argument("name")
    password.add_argument("--password-stdin", action="store_true")
    agent_commands.add_parser("list", help="list agents")

    token = commands.add_parser("token", help="manage REST API tokens")
    token_commands = token.add_subparsers(dest="token_command", required=True)
    token_commands.add_parser("add", help="create a token (printed once)").add_argument("name")
    token_commands.add_parser("revoke", help="revoke a token").add_argument("name")
    token_commands.add_parser("list", help="list tokens (never the tokens themselves)")
    db = commands.add_parser("db", help="database tools")
    db_commands = db.add_subparsers(dest="db_command", required=True)
    db_commands.add_parser("upgrade", help="apply migrations")
    return parser


def _command(args: argparse.Namespace) -> Command:
    if args.command == "nlu":
        return cmd_nlu_tune if args.nlu_command == "tune" else cmd_nlu_eval
    table: dict[str, Command] = {
        "run": cmd_run,
        "train": cmd_train,
        "chat": cmd_chat,
        "kb": cmd_kb_check,
        "agent": cmd_agent,
        "db": cmd_db_upgrade,
        "token": cmd_token,
    }
    return table[args.command]


# HTTP client libraries log every request URL at INFO, and some URLs carry credentials
# (Rasa's ``?token=``, the Telegram bot token in the Bot API path): never let them reach a log.
NOISY_CLIENT_LOGGERS = ("httpx", "httpcore", "telegram.ext", "slack_sdk", "slack_bolt", "aiohttp")


def quiet_http_client_logs() -> None:
    for name in NOISY_CLIENT_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    args.command_line = list(sys.argv[1:] if argv is None else argv)  # recorded by `nlu tune`
    try:
        settings, secrets = load_settings(args.config)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    level = logging.DEBUG if args.verbose else getattr(logging, settings.log_level)
    logging.basicConfig(
        level=level, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    quiet_http_client_logs()
    try:
        return asyncio.run(_command(args)(args, settings, secrets))
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        from bot.knowledge.loader import KnowledgeBaseInvalid
        from bot.nlu.training import TrainingError

        if isinstance(exc, ConfigError):  # e.g. a channel's settings checked at start-up
            print(f"error: {exc}", file=sys.stderr)
            return 2
        if isinstance(exc, KnowledgeBaseInvalid | TrainingError):
            print(f"error: {exc}", file=sys.stderr)
            return 1
        raise


if __name__ == "__main__":
    sys.exit(main())
