"""Where the API's CPU goes under load: py-spy samples one worker while wrk drives an endpoint.

``python -m bench.run --profile`` runs this after the measured runs (never during them: the
sampler takes CPU from the 2 cores), for ``/users/me`` (JWT) and the admin search, with one
worker. It writes ``profile-<name>.txt``: the functions with the most samples on top of the
stack (self), and the project's own functions by inclusive share, plus the raw collapsed stacks
(``.folded``, for flamegraph.pl or speedscope).

Caveats: py-spy stops the process for each sample (200 Hz), so req/s while sampling is a little
lower; samples whose innermost frame is ``Runner.run`` are uvloop's C code, waiting in epoll
included: they are reported apart and left out of the percentages.
"""

# ruff: noqa: S603 - runs py-spy with fixed arguments

from __future__ import annotations

import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

_LOOP_FRAME = "Runner.run (asyncio/runners.py"


def py_spy() -> str | None:
    candidate = Path(sys.executable).with_name("py-spy")
    if candidate.exists():
        return str(candidate)
    return shutil.which("py-spy")


def keep_copy(work_dir: Path) -> Path | None:
    """Copy the py-spy executable (one static binary) into ``work_dir`` at start: a ``uv sync``
    without the bench group, run by someone else during a long run, removes it from the shared
    virtualenv."""
    binary = py_spy()
    if binary is None:
        return None
    copy = work_dir / "py-spy"
    shutil.copy2(binary, copy)
    return copy


def start(pid: int, seconds: float, raw_path: Path, binary: Path | None) -> subprocess.Popen[bytes]:
    if binary is None or not binary.exists():
        raise FileNotFoundError("py-spy is not installed (uv run --group bench ...)")
    return subprocess.Popen(
        [
            str(binary),
            "record",
            "--pid",
            str(pid),
            "--duration",
            str(max(1, round(seconds))),
            "--rate",
            "200",
            "--format",
            "raw",
            "--output",
            str(raw_path),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _function(frame: str) -> str:
    """``name (path/to/file.py:123)`` -> ``name (path/to/file.py)``."""
    name, _, location = frame.partition(" (")
    return f"{name} ({location.split(':')[0]})" if location else name


def summarize(raw_path: Path, title: str, *, top: int = 25) -> str:
    total = 0
    loop = 0
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    for line in raw_path.read_text(encoding="utf-8", errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [frame for frame in stack.split(";") if frame]
        if not frames:
            continue
        if frames[-1].startswith(_LOOP_FRAME):
            loop += count
            continue
        total += count
        own[frames[-1]] += count
        for function in {_function(frame) for frame in frames}:
            inclusive[function] += count
    if total == 0:
        return f"# {title}\n\nno samples\n"
    lines = [
        f"# {title}",
        "",
        f"{total} samples in Python code ({loop} more in the event loop's C code, waiting "
        "included, not counted below).",
        "",
        "## Self (innermost frame)",
        "",
    ]
    lines += [f"{100 * n / total:5.1f}%  {frame}" for frame, n in own.most_common(top)]
    lines += ["", "## Inclusive, the project's code (app/)", ""]
    lines += [
        f"{100 * n / total:5.1f}%  {function}"
        for function, n in inclusive.most_common()
        if "app/" in function
    ][:top]
    lines += ["", "## Inclusive, everything", ""]
    lines += [f"{100 * n / total:5.1f}%  {function}" for function, n in inclusive.most_common(45)]
    return "\n".join(lines) + "\n"
