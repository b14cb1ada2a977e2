"""The one way ltlib says a value is not allowed: the message names the value and what is allowed.

Two phrasings, one per kind of caller:

* a configuration field: :func:`require` / :func:`require_one_of` give
  ``loss='focal' is not allowed; allowed: ce, bsce, la, ldam`` (the field name first, so a user finds
  the option to change);
* a library function's argument: :func:`one_of` gives ``unknown loss 'focal'; allowed: ce, bsce, ...``.
"""
from __future__ import annotations

from collections.abc import Collection


def _listed(allowed: Collection) -> str:
    return ", ".join(str(item) for item in allowed)


def require(condition: bool, name: str, value, allowed: str) -> None:
    """Raise ``ValueError("<name>=<value!r> is not allowed; <allowed>")`` unless ``condition``."""
    if not condition:
        raise ValueError(f"{name}={value!r} is not allowed; {allowed}")


def require_one_of(name: str, value, allowed: Collection) -> None:
    """A configuration field that must be one of ``allowed``."""
    require(value in allowed, name, value, f"allowed: {_listed(allowed)}")


def one_of(what: str, value, allowed: Collection):
    """``value`` when it is in ``allowed``, else ``ValueError("unknown <what> <value!r>; allowed: ...")``."""
    if value not in allowed:
        raise ValueError(f"unknown {what} {value!r}; allowed: {_listed(allowed)}")
    return value
