"""params.yaml: the one place a knob lives.

Stages receive only the dotted keys their rule declares (see ``select``), the
same keys ``dvc.yaml`` lists for the stage, so DVC and Snakemake agree on what
a stage depends on.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

DEFAULT_PARAMS = Path("params.yaml")


def load(path: str | os.PathLike[str] = DEFAULT_PARAMS) -> dict[str, Any]:
    with open(path, encoding="utf-8") as f:
        return yaml.safe_load(f) or {}


def lookup(params: Mapping[str, Any], key: str) -> Any:
    """The value at dotted ``key`` (``"collect.keywords"``); KeyError names the key."""
    node: Any = params
    for part in key.split("."):
        if not isinstance(node, Mapping) or part not in node:
            raise KeyError(f"params.yaml has no key {key!r}")
        node = node[part]
    return node


class StageParams(dict):
    """The dotted keys a stage declared, and nothing else.

    Reading an undeclared key raises, so a stage cannot quietly depend on a
    knob that DVC does not track for it.
    """

    def __missing__(self, key: str) -> Any:
        # A rule may declare a whole section ("collect"): then "collect.keywords" is declared too.
        head, _, rest = key.rpartition(".")
        while head:
            if dict.__contains__(self, head):
                return lookup(dict.__getitem__(self, head), key[len(head) + 1 :])
            head, _, _ = head.rpartition(".")
        raise KeyError(f"param {key!r} is not declared for this stage; add it to the rule's params")

    def get(self, key: str, default: Any = None) -> Any:  # noqa: D102 - dict.get honouring sections
        try:
            return self[key]
        except KeyError:
            return default

    def __contains__(self, key: object) -> bool:
        try:
            self[key]  # type: ignore[index]
        except KeyError:
            return False
        return True


def select(params: Mapping[str, Any], keys: Iterable[str]) -> StageParams:
    return StageParams({k: lookup(params, k) for k in keys})
