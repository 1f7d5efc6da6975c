"""The benchmark registry: ``datasets.<name>`` in the config -> its :class:`Benchmark`."""

from __future__ import annotations

from prettyflow.benchmarks.base import Benchmark
from prettyflow.benchmarks.crosssum import CrossSumBenchmark
from prettyflow.benchmarks.flores import FloresBenchmark
from prettyflow.benchmarks.ud import UdBenchmark
from prettyflow.benchmarks.wmt23 import Wmt23Benchmark
from prettyflow.registry import Registry

BENCHMARKS: Registry[Benchmark] = Registry("benchmark")
BENCHMARKS.register("flores", FloresBenchmark())
BENCHMARKS.register("wmt23", Wmt23Benchmark())
BENCHMARKS.register("crosssum", CrossSumBenchmark())
BENCHMARKS.register("ud", UdBenchmark())

__all__ = ["BENCHMARKS", "Benchmark"]
