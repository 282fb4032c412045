"""``helpdesk``: the one command line entry point."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import sys
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

from bot.settings import ConfigError, Secrets, Settings, load_settings

log = logging.getLogger("bot")

Command = Callable[[argparse.Namespace, Settings, Secrets], Coroutine[Any, Any, int]]


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


async def cmd_kb_check(args: argparse.Namespace, settings: Settings, _: Secrets) -> int:
    from bot.knowledge import check_knowledge_base

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
    from bot.knowledge import LiveKnowledgeBase
    from bot.training import compile_project, train

    kb = LiveKnowledgeBase(
        settings.knowledge_base.path, default_language=settings.bot.default_language
    )
    project = compile_project(
        kb.current, pipeline=settings.nlu.pipeline, build_dir=settings.nlu.build_dir
    )
    print(f"compiled {len(kb.current)} FAQ entries into {project.directory}", flush=True)
    path = await train(
        project,
        models_dir=settings.nlu.models_dir,
        rasa_venv=settings.nlu.rasa_venv,
        progress=lambda line: print(line, flush=True),
        force=args.force,
    )
    print(path)
    return 0


async def cmd_db_upgrade(_: argparse.Namespace, settings: Settings, __: Secrets) -> int:
    from bot.storage.migrate import upgrade_async

    await upgrade_async(settings.database.url)
    print("database is up to date")
    return 0


async def cmd_agent(args: argparse.Namespace, settings: Settings, _: Secrets) -> int:
    from bot.storage.database import Database
    from bot.storage.migrate import upgrade_async
    from bot.storage.repositories import AgentRepository

    if settings.database.auto_migrate:
        await upgrade_async(settings.database.url)
    db = Database(settings.database.url)
    try:
        async with db.transaction() as session:
            agents = AgentRepository(session)
            if args.agent_command == "add":
                if await agents.find(args.name):
                    print(f"agent '{args.name}' already exists", file=sys.stderr)
                    return 1
                languages = [x.strip() for x in args.languages.split(",") if x.strip()]
                await agents.add(
                    name=args.name, languages=languages, max_chats=args.max_chats, role=args.role
                )
                print(
                    f"added agent {args.name} ({','.join(languages)}, up to {args.max_chats} chats)"
                )
            else:
                for agent in await agents.list():
                    print(f"{agent.name}\t{agent.role}\t{agent.languages}\tmax {agent.max_chats}")
    finally:
        await db.dispose()
    return 0


async def _start(settings: Settings, secrets: Secrets, channels: list[Any]) -> Any:
    from bot.app import build_helpdesk, ensure_model
    from bot.knowledge import LiveKnowledgeBase

    model = None
    if not settings.nlu.url:
        kb = LiveKnowledgeBase(
            settings.knowledge_base.path, default_language=settings.bot.default_language
        )
        model = await ensure_model(settings, kb, _stderr)
    token = secrets.rasa_token.get_secret_value() if secrets.rasa_token else None
    return build_helpdesk(settings, secrets, channels=channels, model=model, rasa_token=token)


async def cmd_chat(args: argparse.Namespace, settings: Settings, secrets: Secrets) -> int:
    from bot.channels.terminal import TerminalChannel

    terminal = TerminalChannel(session=args.session)
    helpdesk = await _start(settings, secrets, [terminal])
    try:
        await helpdesk.start(progress=_stderr)
        if terminal.interactive:
            print("Type your message (Ctrl-D or /quit to leave).")
        await terminal.run()
    finally:
        await helpdesk.stop()
    return 0


async def cmd_run(_: argparse.Namespace, settings: Settings, secrets: Secrets) -> int:
    import uvicorn

    from bot.channels.webchat import WebChatChannel
    from bot.web.app import create_web_app

    webchat = WebChatChannel() if settings.channels.webchat.enabled else None
    helpdesk = await _start(settings, secrets, [webchat] if webchat else [])

    @contextlib.asynccontextmanager
    async def lifespan(_: Any) -> Any:
        # Serve /healthz (503) while the NLU server loads; ready flips when it answers.
        starting = asyncio.create_task(helpdesk.start(progress=_stderr))
        try:
            yield
        finally:
            starting.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await starting
            await helpdesk.stop()

    app = create_web_app(
        engine=helpdesk.engine, webchat=webchat, readiness=helpdesk.readiness, lifespan=lifespan
    )
    config = uvicorn.Config(
        app, host=settings.web.host, port=settings.web.port, log_level=settings.log_level.lower()
    )
    _stderr(f"web chat: http://{settings.web.host}:{settings.web.port}/")
    await uvicorn.Server(config).serve()
    return 0


async def cmd_nlu_eval(args: argparse.Namespace, settings: Settings, _: Secrets) -> int:
    from bot.evaluation import load_cases, predict, report
    from bot.knowledge import load_knowledge_base
    from bot.rasa_server import RasaSupervisor
    from bot.training import compile_project, train

    kb = load_knowledge_base(Path(args.kb), default_language=settings.bot.default_language)
    cases = load_cases(Path(args.tests))
    build_dir = settings.nlu.build_dir.parent / f"eval-{Path(args.kb).resolve().name}"
    project = compile_project(kb, pipeline=settings.nlu.pipeline, build_dir=build_dir)
    model = await train(
        project,
        models_dir=settings.nlu.models_dir,
        rasa_venv=settings.nlu.rasa_venv,
        progress=_stderr,
    )
    supervisor = RasaSupervisor(rasa_venv=settings.nlu.rasa_venv, model=model)
    await supervisor.start()
    client = supervisor.client(timeout_s=30)
    try:
        await supervisor.wait_ready(settings.nlu.startup_timeout_s)
        predictions = await predict(
            client,
            cases,
            kb=kb,
            threshold=settings.nlu.answer_threshold,
            languages=settings.bot.languages,
            default_language=settings.bot.default_language,
        )
    finally:
        await client.close()
        await supervisor.stop()
    result = report(predictions)
    if args.json:
        Path(args.json).write_text(
            json.dumps(result, ensure_ascii=False, indent=2), encoding="utf-8"
        )
    summary = {k: v for k, v in result.items() if k != "predictions"}
    print(json.dumps(summary, ensure_ascii=False, indent=2))
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

    agent = commands.add_parser("agent", help="manage agent accounts")
    agent_commands = agent.add_subparsers(dest="agent_command", required=True)
    add = agent_commands.add_parser("add", help="add an agent")
    add.add_argument("name")
    add.add_argument("--languages", default="en", help="comma-separated language codes")
    add.add_argument("--max-chats", type=int, default=3)
    add.add_argument("--role", choices=["agent", "admin"], default="agent")
    agent_commands.add_parser("list", help="list agents")

    db = commands.add_parser("db", help="database tools")
    db_commands = db.add_subparsers(dest="db_command", required=True)
    db_commands.add_parser("upgrade", help="apply migrations")
    return parser


def _command(args: argparse.Namespace) -> Command:
    table: dict[str, Command] = {
        "run": cmd_run,
        "train": cmd_train,
        "chat": cmd_chat,
        "kb": cmd_kb_check,
        "nlu": cmd_nlu_eval,
        "agent": cmd_agent,
        "db": cmd_db_upgrade,
    }
    return table[args.command]


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings, secrets = load_settings(args.config)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    level = logging.DEBUG if args.verbose else getattr(logging, settings.log_level)
    logging.basicConfig(
        level=level, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        return asyncio.run(_command(args)(args, settings, secrets))
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        from bot.knowledge import KnowledgeBaseInvalid
        from bot.training import TrainingError

        if isinstance(exc, KnowledgeBaseInvalid | TrainingError):
            print(f"error: {exc}", file=sys.stderr)
            return 1
        raise


if __name__ == "__main__":
    sys.exit(main())
