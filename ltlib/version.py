"""ltlib's version: it names the cache folder of runs (``runs/v<version>/``) and goes into every provenance."""
__version__ = "0.1.0"
