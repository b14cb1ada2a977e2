"""ltlib: long-tailed recognition (SMART, H2T) reproduced as a small library plus notebooks.

Data flows one way: ``data -> models -> methods -> train -> results -> evaluate -> plots``.
"""
__version__ = "0.1.0"

from ltlib.config import RunConfig, profile  # noqa: E402
from ltlib.results import get_or_train, Result  # noqa: E402

__all__ = ["RunConfig", "profile", "get_or_train", "Result", "__version__"]
