"""Stage-I methods by name (timm's ``register_model`` / ``create_model`` idiom).

A method module registers its objective class with ``@register_method("name")``; the class builds
itself from a run config with ``from_config(config, data, model, generator)``. The training loop
asks :func:`build_objective` and never names a method; :data:`METHODS` (what ``RunConfig.method``
allows) is read from here, so a new method is one new module and one line in
``ltlib/methods/__init__.py``.
"""
from __future__ import annotations

from ltlib.checks import one_of

_REGISTRY: dict[str, type] = {}


def register_method(name: str):
    def register(objective_class: type) -> type:
        if name in _REGISTRY:
            raise ValueError(f"method {name!r} is registered twice ({_REGISTRY[name].__name__}, "
                             f"{objective_class.__name__})")
        _REGISTRY[name] = objective_class
        return objective_class
    return register


def method_names() -> tuple[str, ...]:
    return tuple(_REGISTRY)


def build_objective(config, data, model, generator):
    """The objective of ``config.method``, built by the method's own ``from_config``."""
    return _REGISTRY[one_of("method", config.method, _REGISTRY)].from_config(config, data, model, generator)
