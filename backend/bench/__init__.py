"""Benchmarks and load tools. ``python -m bench.run``: the API against Better-Auth, one command
(report in ``docs/benchmarks/``); ``python -m bench.micro_tokens``: the token check alone;
``python -m bench.memory``: RSS of one worker with full caches (``docs/benchmarks/memory.md``);
``locustfile.py``: the same endpoints for Locust. Each module's docstring tells more.
"""


class BenchError(RuntimeError):
    """A step of the benchmark failed; the message says which and shows the output."""
