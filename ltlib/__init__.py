"""ltlib: long-tailed recognition (SMART, H2T) reproduced as a small library plus notebooks.

Data flows one way, and modules are layered so that each imports only from its own layer or
below (``tests/test_layers.py`` checks this and that the import graph has no circle):

0. ``version``, ``checks`` (the one "value is not allowed" helper), ``storage`` (cache root,
   atomic writes, repository root, software versions)
1. ``data`` (CIFAR sources, long-tailed subsets, samplers, augmentation, list files), ``models``
   (seams, ResNet-32, torchvision ResNets), ``schedules``, ``semantics``, ``checkpoint``, ``distributed``
   (torchrun processes), ``fast`` (bf16, channels_last, compiled stages)
2. ``methods`` (losses, the method registry, the stage-I objective, SMART, CMO, H2T),
   ``evaluate``, ``embedding``, ``significance`` (intervals and paired tests)
3. ``config`` (run configs, profiles, validation, hashes; allowed values come from the layers below)
4. ``train`` (the one loop), ``store`` (the committed results store), ``recipes`` (the large benchmarks'
   stage-I and stage-II settings)
5. ``results`` (cache and ``Result``, the notebooks' API)
6. ``tables``, ``plots``, ``runsets`` (what each notebook trains), ``replicates`` (the central comparisons at a
   second seed), ``compression`` (CE on the data changed once more: the data-sensitivity diagnostic), ``toy``
   (the 2-D mechanisms of notebook 09), ``widgets`` (the notebooks' explorers)
7. ``plans`` (what the campaign trains, in which order, estimates), ``campaign`` (train and store it, lose
   nothing), ``devicekit`` (what a GPU machine carries), ``regenerate``, ``storeview`` (the store as a report reads
   it), ``reproduction`` (REPRODUCTION.md from the store), ``seedreport`` (its second seed), ``classreport``
   (its per-class table), ``compressionreport`` (its data-sensitivity section)
8. ``readmestatus`` (the README's opening status, from the same store view), ``cli`` (``python -m ltlib``)
"""
from ltlib.version import __version__
from ltlib.config import RunConfig, profile  # noqa: E402
from ltlib.results import Result, get_or_train, get_runs  # noqa: E402

__all__ = ["RunConfig", "profile", "get_or_train", "get_runs", "Result", "__version__"]
