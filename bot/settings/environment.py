"""``HELPDESK_<SECTION>__<KEY>`` variables over config.yml: each replaces what its name
points at."""

from __future__ import annotations

import copy
import os
from typing import Any

from pydantic_settings import BaseSettings, PydanticBaseSettingsSource

ENV_PREFIX = "HELPDESK_"


class EnvironmentReplaces(PydanticBaseSettingsSource):
    """The file's values with each ``HELPDESK_*`` variable's value put in, replacing.

    pydantic-settings deep-merges the environment into the file, so ``weekly='{}'`` left
    the file's hours in place and ``weekly='{"mon": ...}'`` collided with its ``mon-fri``.
    Here a variable replaces exactly what its name points at; the file's other keys stay.
    """

    def __init__(
        self,
        settings_cls: type[BaseSettings],
        *,
        file: PydanticBaseSettingsSource,
        env: PydanticBaseSettingsSource,
    ) -> None:
        super().__init__(settings_cls)
        self.file, self.env = file, env

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        raise NotImplementedError  # __call__ builds the whole mapping at once

    def __call__(self) -> dict[str, Any]:
        data = copy.deepcopy(self.file())
        parsed = self.env()  # nested, each value already decoded for its field
        paths = sorted(
            (
                name[len(ENV_PREFIX) :].lower().split("__")
                for name in os.environ
                if name.upper().startswith(ENV_PREFIX)
            ),
            key=len,
        )
        for path in paths:  # shorter first: a whole section, then a key inside it
            found, value = _lookup(parsed, path)
            if found:
                _put(data, path, copy.deepcopy(value))
        return data


def _lookup(data: dict[str, Any], path: list[str]) -> tuple[bool, Any]:
    node: Any = data
    for key in path:
        if not isinstance(node, dict) or key not in node:
            return False, None
        node = node[key]
    return True, node


def _put(data: dict[str, Any], path: list[str], value: Any) -> None:
    node = data
    for key in path[:-1]:
        if not isinstance(node.get(key), dict):
            node[key] = {}
        node = node[key]
    node[path[-1]] = value
