"""The one timing loop the benchmarks share: the median wall time of ``fn()``."""
import statistics
import time


def median_time(fn, repeat: int = 7, warmup: int = 2) -> float:
    """Median seconds of ``repeat`` calls of ``fn()``, after ``warmup`` untimed calls."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)
