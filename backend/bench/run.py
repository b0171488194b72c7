"""One-command benchmark: the API against Better-Auth itself, on the same PostgreSQL database.

    cd backend && uv run --group bench python -m bench.run            # or: make bench

1. creates a fresh database, runs Better-Auth's migration then ours, seeds ``--users`` users
   (10k) the way Better-Auth writes them, each with a session, plus one admin;
2. times the token check in-process (``bench.micro_tokens``);
3. starts the real Better-Auth server (``auth-server/``, production mode, rate limit off) and
   the API (uvicorn, uvloop + httptools, rate limit off, ``--workers 1`` then ``2``);
4. drives one endpoint at a time with ``wrk`` (``--connections`` 100, ``--threads`` 1,
   ``--warmup`` then ``--duration`` seconds, ``--repeat`` 3 times, the median run kept),
   rotating 200 users' real credentials: JWTs from Better-Auth's ``/api/auth/token``, signed
   session tokens and session cookies; every answer is counted by status;
5. with 1 worker also: ``/users/me`` with ``METRICS_ENABLED=false`` (the cost of metrics), the
   peers (``bench/peers/``: fastapi-better-auth-bridge in its JWT and cookie + SQL modes,
   fastapi-betterauth) and a bare FastAPI endpoint (the ceiling), same uvicorn flags; after
   each server's load, one spare user is banned through Better-Auth's admin API and the
   server is asked again with that user's credential (``bench/bans.py``);
6. adds users up to ``--large-users`` (100k) and measures the admin searches again
   (``--skip-100k`` skips this);
7. writes ``docs/benchmarks/README.md``, ``latency.png`` and ``results.json`` (``--out``), and
   prints the table.

The servers are stopped and the database dropped whatever happens (Ctrl-C included).
``--memory`` runs only ``bench.memory`` (RSS of one worker with full caches, ``memory.md``).
``--serve`` only prepares the stack, prints where the credentials are (for ``locustfile.py``)
and waits for Ctrl-C.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import FrameType
from typing import Any

import httpx

from bench import BenchError, memory, micro_tokens, own, phases, pyspy
from bench.bans import BanCheck, check_ban
from bench.load import LoadResult, ensure_wrk, request_headers, run_wrk, wrk_version
from bench.measurement import Measurement
from bench.peers import BARE, BARE_OWN, ME_PATH, PEERS, Peer, peer_server
from bench.phases import ME, Phase
from bench.report import machine_description, prime_chart, write_report
from bench.seed import SEARCH_FRAGMENT
from bench.stack import Stack
from devstack.processes import PROJECT_DIR, ApiServer, ManagedProcess, ProcessError

DEFAULT_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


def _log(message: str) -> None:
    """Progress, on stderr: stdout keeps the results (tables, the report)."""
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)  # noqa: T201


class Runner:
    def __init__(self, args: argparse.Namespace, stack: Stack, wrk: str) -> None:
        self.args = args
        self.stack = stack
        self.wrk = wrk
        self.measurements: list[Measurement] = []
        self.search_total: dict[int, int] = {}
        self.bans: list[BanCheck] = []
        self.peer: tuple[Peer, ApiServer] | None = None
        self.peer_workers = 1
        self.phases_done = 0
        self.own_done = 0

    # --- progress

    def planned_phases(self) -> int:
        """How many endpoints ``run`` measures: Better-Auth's two, the API's five per worker
        count, with 1 worker metrics off, the peers and the bare endpoint, and the searches
        again at the large size."""
        args, workers = self.args, len(self.args.workers)
        if args.own:
            return self.own_planned()
        planned = 2 + 5 * workers + 1 + len(PEERS) + 1 + self.own_planned()
        if not args.skip_large and args.large_users > args.users:
            planned += 1 + workers
        return planned

    def own_planned(self) -> int:
        """The own-endpoint phases: every one in every round, for every worker count."""
        rounds = max(1, self.args.repeat)
        return (2 + len(own.OWN_PHASES)) * len(self.args.workers) * rounds

    def phase_seconds(self, runs: int) -> float:
        args = self.args
        return args.warmup + args.duration * runs + args.pause

    def load_seconds_left(self, *, current_is_own: bool) -> float:
        """Load still to come, the phase just announced included. Own-endpoint phases are
        measured once per round, the others ``--repeat`` times back to back."""
        planned = max(self.planned_phases(), self.phases_done)
        left = planned - self.phases_done + 1
        own_left = min(left, max(0, self.own_planned() - self.own_done + int(current_is_own)))
        repeated = self.phase_seconds(max(1, self.args.repeat))
        return (left - own_left) * repeated + own_left * self.phase_seconds(1)

    def announce(self, phase: Phase) -> None:
        is_own = own.is_own_key(phase.key)
        self.phases_done += 1
        self.own_done += int(is_own)
        left = self.load_seconds_left(current_is_own=is_own)
        planned = max(self.planned_phases(), self.phases_done)
        runs = 1 if is_own else max(1, self.args.repeat)
        _log(
            f"phase {self.phases_done}/{planned}: {phase.label} "
            f"[{self.server_label(phase)}, {self.stack.user_count} users]"
            f": warm-up {self.args.warmup:g} s, then {self.args.duration:g} s x "
            f"{runs} measured (about {left / 60:.0f} min of load left)"
        )

    # --- checks before load: every credential must be accepted, or the numbers mean nothing

    def server_for(self, phase: Phase) -> ManagedProcess:
        if phase.server == "api":
            server: ManagedProcess | None = self.stack.api
        elif phase.server == "better-auth":
            server = self.stack.auth
        else:
            server = None if self.peer is None else self.peer[1]
        if server is None:
            raise BenchError(f"{phase.label}: no {phase.server} server is running")
        return server

    def server_label(self, phase: Phase) -> str:
        if phase.server == "api":
            return "API"
        if phase.server == "better-auth":
            return "Better-Auth"
        return "-" if self.peer is None else self.peer[0].label

    def _check(self, phase: Phase, server: ManagedProcess) -> None:
        tokens = [line for line in phase.tokens.read_text().splitlines() if line]
        with httpx.Client(base_url=server.url, timeout=30, trust_env=False) as client:
            for token in tokens:
                if phase.mode == "verify":
                    response = client.post(phase.path, json={"token": token})
                    ok = response.status_code == 200 and response.json().get("active") is True
                else:
                    response = client.get(phase.path, headers=request_headers(phase.mode, token))
                    ok = response.status_code == 200 and _has_content(response)
                if not ok:
                    raise BenchError(
                        f"{phase.label}: credential refused before the run: "
                        f"{response.status_code} {response.text[:300]}"
                    )
            if phase.key.startswith(("search", "list-users")):
                self.search_total[self.stack.user_count] = int(response.json()["total"])

    def measure(self, phase: Phase, *, repeat: int | None = None) -> Measurement:
        """``repeat`` runs after the warm-up (``--repeat`` unless given), the median kept."""
        repeat = max(1, self.args.repeat if repeat is None else repeat)
        server = self.server_for(phase)
        assert server.pid is not None
        self.announce(phase)
        self._check(phase, server)
        url = server.url + phase.path
        roots = {"server": [server.pid]}
        if self.args.warmup > 0:
            run_wrk(
                self.wrk,
                url,
                phase.tokens,
                mode=phase.mode,
                duration=self.args.warmup,
                connections=self.args.connections,
                threads=self.args.threads,
            )
        load_before = os.getloadavg()[0]
        runs: list[LoadResult] = []
        for _ in range(repeat):
            runs.append(
                run_wrk(
                    self.wrk,
                    url,
                    phase.tokens,
                    mode=phase.mode,
                    duration=self.args.duration,
                    connections=self.args.connections,
                    threads=self.args.threads,
                    cpu_roots=roots,
                )
            )
        # The run with the median req/s stands for the endpoint; all are kept in results.json.
        result = sorted(runs, key=lambda run: run.rps)[len(runs) // 2]
        workers = self.stack.api_workers if phase.server == "api" else self.peer_workers
        measurement = Measurement(
            key=phase.key,
            label=phase.label,
            server=self.server_label(phase),
            users=self.stack.user_count,
            workers=workers,
            connections=self.args.connections,
            result=result,
            baseline=phase.baseline,
            load_before=load_before,
            runs=runs,
        )
        self.measurements.append(measurement)
        lat = result.latency_us
        _log(
            f"{phase.label} [{measurement.server}, {self.stack.user_count} users, "
            f"w{workers}]: {result.rps:,.0f} req/s, p50 {lat['p50'] / 1000:.2f} ms, "
            f"p99 {lat['p99'] / 1000:.2f} ms, errors {result.error_count}, "
            f"statuses {result.status_text}, cpu {result.cpu_cores}"
        )
        time.sleep(self.args.pause)
        return measurement

    # --- the plan

    def api_phases(self, workers: int, *, search_only: bool = False) -> list[Phase]:
        return phases.api_phases(self.stack, workers, search_only=search_only)

    def better_auth_phases(self, *, search_only: bool = False) -> list[Phase]:
        return phases.better_auth_phases(self.stack, search_only=search_only)

    def ban_check(self, url: str, server: str, mode: str) -> None:
        """Ban a spare user (one per check) and ask ``url`` again with their credential."""
        ban = check_ban(
            self.stack, url, server=server, mode=mode, user=self.stack.spare_user(len(self.bans))
        )
        self.bans.append(ban)
        _log(
            f"ban check [{server}, {ban.credential}]: {ban.before} before the ban, {ban.after} "
            f"after ({ban.waited_s:g} s); the ban stops the token: {ban.verdict}"
        )

    def run_peers(self) -> None:
        """Each peer and the bare endpoint on its own, 1 worker, then stopped. A peer that
        cannot start or refuses its credentials is reported and skipped: the rest still run."""
        for peer in (*PEERS, BARE):
            server = peer_server(
                peer, log_dir=self.stack.work_dir, settings=self.stack.peer_settings()
            )
            _log(f"starting {peer.label}")
            try:
                server.start()
                self.peer = (peer, server)
                self.measure(phases.peer_phase(self.stack, peer))
                if peer.credential != "none":
                    self.ban_check(server.url + ME_PATH, peer.label, peer.wrk_mode)
            except (BenchError, ProcessError) as error:
                _log(f"{peer.label} skipped: {error}")
            finally:
                server.stop()
                self.peer = None

    def start_bare_own(self, workers: int) -> None:
        server = peer_server(
            BARE_OWN,
            log_dir=self.stack.work_dir,
            settings=self.stack.peer_settings(),
            workers=workers,
        )
        server.start()
        self.peer = (BARE_OWN, server)
        self.peer_workers = workers

    def stop_bare_own(self) -> None:
        if self.peer is not None:
            self.peer[1].stop()
        self.peer = None
        self.peer_workers = 1

    def run_own(self) -> None:
        """ "Your own endpoint" (bench.own), for every worker count."""
        own.run_own(
            self.stack,
            workers_list=self.args.workers,
            rounds=max(1, self.args.repeat),
            measure=lambda phase: self.measure(phase, repeat=1),
            start_bare=self.start_bare_own,
            stop_bare=self.stop_bare_own,
            refresh_jwts=self.refresh_jwts,
            log=_log,
        )
        self.measurements = own.merge_rounds(self.measurements)

    def refresh_jwts(self) -> None:
        """JWTs live 15 minutes: fetch fresh ones before each block of JWT phases."""
        self.stack.write_jwts()
        self.stack.write_admin_jwt()

    def run(self) -> None:
        stack, args = self.stack, self.args
        stack.write_session_tokens()
        stack.write_admin_session()
        stack.write_cookies()
        stack.write_no_credential()
        self.refresh_jwts()
        if args.own:
            self.run_own()
            return
        search_only = args.search_only
        if not search_only:
            self.run_own()
        for phase in self.better_auth_phases(search_only=search_only):
            self.measure(phase)
        if not search_only:
            self.refresh_jwts()
            self.run_peers()
            _log("API with --workers 1 and METRICS_ENABLED=false")
            stack.start_api(1, METRICS_ENABLED="false")
            self.refresh_jwts()
            self.measure(phases.metrics_off_phase(stack))
        for number, workers in enumerate(args.workers):
            _log(f"API with --workers {workers}")
            stack.start_api(workers)
            self.refresh_jwts()
            for phase in self.api_phases(workers, search_only=search_only):
                self.measure(phase)
            if number == 0 and not search_only:
                assert stack.api is not None
                self.ban_check(stack.api.url + ME, "API", "bearer")
        if args.skip_large or args.large_users <= stack.user_count:
            return
        _log(f"seeding up to {args.large_users} users")
        seconds = stack.seed(args.large_users, progress=_log)
        _log(f"seeded in {seconds:.1f} s")
        self.refresh_jwts()
        for phase in self.better_auth_phases(search_only=True):
            self.measure(phase)
        for workers in reversed(args.workers):
            if workers != stack.api_workers:
                _log(f"API with --workers {workers}")
                stack.start_api(workers)
                self.refresh_jwts()
            for phase in self.api_phases(workers, search_only=True):
                self.measure(phase)


def profile(runner: Runner, out: Path, raw_dir: Path, binary: Path | None) -> list[Path]:
    """py-spy on one API worker while wrk drives ``/users/me`` (JWT) and the admin search;
    not measured (the sampler competes for the same cores)."""
    stack, args = runner.stack, runner.args
    if stack.api_workers != 1:
        _log("API with --workers 1 (profiling)")
        stack.start_api(1)
    runner.refresh_jwts()
    api = stack.api
    assert api is not None
    assert api.pid is not None
    written = []
    targets = [p for p in runner.api_phases(1) if p.key.startswith(("me-jwt", "search"))]
    for number, phase in enumerate(targets, 1):
        name = phase.key.split("@")[0]
        seconds = args.warmup + args.duration + 1
        _log(f"profiling {number}/{len(targets)}: {phase.label} (about {seconds:.0f} s)")
        raw = raw_dir / f"profile-{name}.folded"
        run_wrk(
            runner.wrk,
            api.url + phase.path,
            phase.tokens,
            mode=phase.mode,
            duration=args.warmup,
            connections=args.connections,
            threads=args.threads,
        )
        sampler = pyspy.start(api.pid, args.duration, raw, binary)
        result = run_wrk(
            runner.wrk,
            api.url + phase.path,
            phase.tokens,
            mode=phase.mode,
            duration=args.duration + 1,
            connections=args.connections,
            threads=args.threads,
        )
        if sampler.wait(timeout=60) != 0 or not raw.exists():
            raise OSError(f"py-spy could not sample process {api.pid}")
        title = (
            f"py-spy: {phase.label}, {stack.user_count:,} users, 1 worker, "
            f"{args.connections} connections ({result.rps:,.0f} req/s while sampled)"
        )
        path = out / f"profile-{name}.txt"
        path.write_text(pyspy.summarize(raw, title), encoding="utf-8")
        written.append(path)
        _log(f"profile written to {path} (raw stacks: {raw})")
    return written


def _has_content(response: httpx.Response) -> bool:
    try:
        body = response.json()
    except ValueError:
        return False
    return body is not None and body != {}


_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def _interrupt(_signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def _on_signals(handler: Any) -> None:
    """SIGINT/SIGTERM/SIGHUP raise KeyboardInterrupt (``finally`` cleans up), also when the
    shell started us with SIGINT ignored (a background job); during clean-up they are ignored
    so that it can finish."""
    for sig in _STOP_SIGNALS:
        signal.signal(sig, handler)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.run",
        description="Benchmark the API against Better-Auth on one PostgreSQL database.",
    )
    parser.add_argument("--users", type=int, default=10_000, help="users seeded (10000)")
    parser.add_argument(
        "--large-users",
        type=int,
        default=100_000,
        help="users for the second admin-search round (100000)",
    )
    parser.add_argument("--skip-100k", dest="skip_large", action="store_true")
    parser.add_argument("--duration", type=float, default=15.0, help="seconds measured (15)")
    parser.add_argument("--warmup", type=float, default=5.0, help="seconds of warm-up (5)")
    parser.add_argument(
        "--repeat",
        type=int,
        default=3,
        help="measured runs per endpoint, back to back (for your own endpoint: rounds, each "
        "measuring every phase once); the median (by req/s) is reported (3)",
    )
    parser.add_argument("--pause", type=float, default=2.0, help="seconds between runs (2)")
    parser.add_argument("--connections", type=int, default=100)
    parser.add_argument("--threads", type=int, default=1, help="wrk threads (1)")
    parser.add_argument(
        "--workers",
        type=lambda text: [int(part) for part in text.split(",")],
        default=[1, 2],
        help="API worker counts, comma-separated (1,2)",
    )
    parser.add_argument(
        "--tokens",
        type=int,
        default=200,
        help="distinct users loaded (200); --users must exceed it by 5 (banned in ban checks)",
    )
    parser.add_argument("--micro-iterations", type=int, default=20_000)
    parser.add_argument(
        "--admin-url",
        default=os.environ.get("BENCH_ADMIN_URL", DEFAULT_ADMIN_URL),
        help="PostgreSQL URL allowed to CREATE DATABASE (BENCH_ADMIN_URL)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=PROJECT_DIR / "docs" / "benchmarks",
        help="report folder (docs/benchmarks); --no-report writes nothing",
    )
    parser.add_argument("--no-report", action="store_true")
    parser.add_argument(
        "--serve", action="store_true", help="prepare the stack for Locust and wait for Ctrl-C"
    )
    parser.add_argument("--keep-logs", action="store_true", help="keep the servers' logs")
    parser.add_argument(
        "--nice",
        type=int,
        default=0,
        help="scheduling priority of the run and everything it starts (e.g. -10 as root, when "
        "other work shares the machine; PostgreSQL keeps its own)",
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="afterwards, sample the API with py-spy under load (profile-*.txt in --out)",
    )
    parser.add_argument(
        "--search-only",
        action="store_true",
        help="only the admin search and list-users (a quick check; implies --no-report)",
    )
    parser.add_argument(
        "--own",
        action="store_true",
        help='only "your own endpoint" (bench.own): own-endpoint.md and .json in --out',
    )
    parser.add_argument(
        "--memory",
        action="store_true",
        help="only the memory benchmark (bench.memory, --users users): memory.md in --out",
    )
    args = parser.parse_args(argv)
    if args.search_only:
        args.no_report = True
    return args


def execute(args: argparse.Namespace, stack: Stack, wrk: str, command: str) -> int:
    started = time.time()
    spy = pyspy.keep_copy(stack.work_dir) if args.profile else None
    if not args.no_report:
        args.out.mkdir(parents=True, exist_ok=True)
        for stale in args.out.glob("profile-*.txt"):  # from an earlier run
            stale.unlink()
    micro: list[micro_tokens.Timing] = []
    if not args.serve and not args.own:
        _log("micro-benchmark of the token check")
        micro = micro_tokens.run(args.micro_iterations)
        print(micro_tokens.format_table(micro), flush=True)  # noqa: T201
    _log(f"database {stack.db_name}: migrations (Better-Auth, then ours)")
    stack.create_database()
    stack.migrate()
    _log("migrated")
    _log(f"seeding {args.users} users")
    seconds = stack.seed(args.users, progress=_log)
    _log(f"seeded {args.users} users (+ accounts, sessions, 1 admin) in {seconds:.1f} s")
    _log("starting the Better-Auth server")
    stack.start_auth()
    if args.serve:
        return serve(stack)
    runner = Runner(args, stack, wrk)
    runner.run()
    machine = machine_description(postgres=stack.postgres_version(), wrk=wrk_version(wrk))
    settings = {
        "users": args.users,
        "large_users": None if args.skip_large else args.large_users,
        "duration": args.duration,
        "warmup": args.warmup,
        "repeat": args.repeat,
        "connections": args.connections,
        "threads": args.threads,
        "workers": args.workers,
        "tokens": args.tokens,
        "search": SEARCH_FRAGMENT,
        "search_matches": runner.search_total,
        "elapsed_s": round(time.time() - started),
        "nice": args.nice,
        "command": command,
    }
    if not args.no_report:
        own.write_own_report(
            args.out, measurements=runner.measurements, machine=machine, settings=settings
        )
    if args.own:
        print(own.own_section(runner.measurements, settings), flush=True)  # noqa: T201
        if not args.no_report:
            _log(f"report written to {args.out / 'own-endpoint.md'}")
        return 0
    if args.profile:
        try:
            out = args.out if not args.no_report else stack.work_dir
            profile(runner, out, stack.work_dir, spy)
        except (OSError, subprocess.SubprocessError) as error:
            # py-spy needs ptrace rights (root, or CAP_SYS_PTRACE in a container).
            _log(f"profiling skipped: {error}")
    report = write_report(
        None if args.no_report else args.out,
        measurements=runner.measurements,
        bans=runner.bans,
        micro=micro,
        machine=machine,
        settings=settings,
    )
    print(report, flush=True)  # noqa: T201
    if not args.no_report:
        _log(f"report written to {args.out}")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    # httpx logs every request at INFO (the credential checks before each phase): progress only.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    if args.memory:
        report = ["--no-report"] if args.no_report else ["--out", str(args.out / "memory.md")]
        return memory.main(["--users", str(args.users), "--admin-url", args.admin_url, *report])
    if not args.no_report:
        prime_chart()
    command = "cd backend && uv run --group bench python -m bench.run " + " ".join(
        sys.argv[1:] if argv is None else argv
    )
    wrk = ensure_wrk()
    if args.nice:
        try:
            # Inherited by everything started from here: servers, wrk, migrations, py-spy.
            os.setpriority(os.PRIO_PROCESS, 0, args.nice)
        except PermissionError:
            _log(f"cannot set nice {args.nice} (needs root); running at the default priority")
            args.nice = 0
    work_dir = Path(tempfile.mkdtemp(prefix="bench-"))
    stack = Stack(admin_url=args.admin_url, work_dir=work_dir, token_count=args.tokens)
    keep = args.keep_logs
    _on_signals(_interrupt)
    try:
        return execute(args, stack, wrk, command.strip())
    except KeyboardInterrupt:
        _log("interrupted")
        return 130
    except (BenchError, ProcessError) as error:
        _log(f"failed: {error}")
        keep = True
        return 1
    finally:
        _on_signals(signal.SIG_IGN)
        _log("cleaning up: stopping servers, dropping the database")
        stack.close()
        if keep:
            _log(f"servers' logs kept in {work_dir}")
        else:
            shutil.rmtree(work_dir, ignore_errors=True)


def serve(stack: Stack) -> int:
    stack.write_session_tokens()
    stack.write_admin_session()
    stack.start_api(1)
    stack.write_jwts()
    stack.write_admin_jwt()
    stack_file = stack.write_stack_file()
    _log(
        f"ready: API {stack.api.url if stack.api else '-'}, Better-Auth "
        f"{stack.auth.url if stack.auth else '-'}\n"
        f"  BENCH_STACK={stack_file} uv run --group bench locust -f bench/locustfile.py\n"
        "  (JWTs expire after 15 minutes.) Ctrl-C stops everything."
    )
    print(json.dumps(json.loads(stack_file.read_text()), indent=2), flush=True)  # noqa: T201
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    raise SystemExit(main())
