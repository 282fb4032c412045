"""The shape slack-bolt relies on, checked before it dispatches a signed request.

bolt reads a request's fields assuming Slack's shapes (``body["event"].get("type")``,
``action["action_id"]``); a signed body with ``"event": null`` or ``"actions": "x"``
made it raise (a 500, and Slack retrying a request that can never succeed). Real Slack
never sends those, so such a body gets 400. Only the fields bolt and our listeners
read are checked, loosely enough for every event Slack does send (``user`` and
``channel`` are objects in some events, strings in others).
"""

from __future__ import annotations

from typing import Any

_TEXT_FIELDS = ("type", "subtype", "ts", "thread_ts", "text", "bot_id", "channel_type")
_ID_OR_OBJECT = ("user", "channel", "team", "enterprise")
_OBJECTS = ("container", "message", "view", "event")


def shape_problem(body: dict[str, Any]) -> str | None:
    """What is wrong with a parsed Events API or interactivity body, or None."""
    problem = _fields(body, "body")
    if problem:
        return problem
    event = body.get("event")
    if isinstance(event, dict):
        problem = _fields(event, "event")
        if problem:
            return problem
        files = event.get("files")
        if files is not None and not _list_of_objects(files):
            return "event.files must be a list of objects"
    for name in ("authorizations", "actions"):
        value = body.get(name)
        if value is not None and not _list_of_objects(value):
            return f"{name} must be a list of objects"
    kind = body.get("type")
    if kind == "event_callback" and not isinstance(event, dict):
        return "an event_callback needs an event object"
    if kind in ("block_actions", "interactive_message") and not body.get("actions"):
        return f"{kind} needs its actions"
    for action in body.get("actions") or []:
        for key in ("action_id", "block_id", "type"):
            if action.get(key) is not None and not isinstance(action[key], str):
                return f"actions[].{key} must be a string"
        if kind == "block_actions" and "action_id" not in action:
            return "block_actions[].action_id is missing"  # bolt matches on it
    return None


def _fields(data: dict[str, Any], where: str) -> str | None:
    for key in _TEXT_FIELDS:
        if data.get(key) is not None and not isinstance(data[key], str):
            return f"{where}.{key} must be a string"
    for key in _ID_OR_OBJECT:
        if data.get(key) is not None and not isinstance(data[key], str | dict):
            return f"{where}.{key} must be an id or an object"
    for key in _OBJECTS:
        if key in data and not isinstance(data[key], dict):
            return f"{where}.{key} must be an object"
    return None


def _list_of_objects(value: object) -> bool:
    return isinstance(value, list) and all(isinstance(item, dict) for item in value)
