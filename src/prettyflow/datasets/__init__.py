"""The dataset registry: ``datasets.<name>`` in the config -> its :class:`Dataset`.

A dataset is where a benchmark's data come from and how they are read (raw files,
download, Parquet); ``tasks.<task>.benchmarks.<name>`` makes it a benchmark of that
task (its metrics and table), and the ``{benchmark}`` wildcard names it in paths.
"""

from __future__ import annotations

from prettyflow.datasets.base import Dataset
from prettyflow.datasets.crosssum import CrossSumDataset
from prettyflow.datasets.flores import FloresDataset
from prettyflow.datasets.ud import UdDataset
from prettyflow.datasets.wmt23 import Wmt23Dataset
from prettyflow.registry import Registry

DATASETS: Registry[Dataset] = Registry("dataset")
DATASETS.register("flores", FloresDataset())
DATASETS.register("wmt23", Wmt23Dataset())
DATASETS.register("crosssum", CrossSumDataset())
DATASETS.register("ud", UdDataset())

__all__ = ["DATASETS", "Dataset"]
