"""``zoo schedule``: pipelines on cron expressions, one run of a pipeline at a time.

A schedule file is TOML (``.toml``: read with ``tomli``, Python 3.10 has no
``tomllib``) or JSON (``.json``), one ``[[run]]`` table per pipeline::

    output = "outputs"            # the folder every run writes (default ./outputs)

    [[run]]
    pipeline = "digits"
    cron = "0 3 * * *"            # croniter syntax; a 6th field is seconds
    timeout = "2h"                # per run: seconds, or "90s", "30m", "2h" (default 6h)
    missed = "run_once"           # firings missed while no scheduler ran: "skip" (default) or "run_once"
    args = ["--epochs", "15"]     # more `zoo run` arguments (not --output)

Each firing runs ``zoo run <pipeline> --output <output> <args>`` as a
subprocess (a killed run resumes from TFX's cache next time; a run whose
inputs did not change takes the no-op path and pushes nothing), under a lock
per pipeline (an overlapping firing is skipped and recorded) and a time limit
(the run's process group is killed, recorded as ``timeout``). Every firing is
one ``zoo.ScheduledFiring`` execution in ML Metadata (``pipelines/metadata.py``),
in the pipeline's context beside TFX's runs and the no-op runs, so ``zoo runs``
shows them all from one store: ``<output>/metadata.sqlite``, or MySQL
(``--metadata-mysql`` / ``ZOO_METADATA_MYSQL``, which the runs inherit). A store
that cannot take the record gets it as a line of the older
``<output>/runs/<pipeline>.scheduled.jsonl``, still read.

>>> entry = parse_schedule({"run": [{"pipeline": "digits", "cron": "*/5 * * * *"}]}, "s.json", ["digits"]).entries[0]
>>> entry.pipeline, entry.cron, entry.timeout_s, entry.missed
('digits', '*/5 * * * *', 21600.0, 'skip')
>>> systemd_calendar("*/15 9-17 * * mon-fri")
'Mon..Fri *-*-* 09..17:00/15:00'
"""

from __future__ import annotations

import dataclasses
import datetime
import errno
import fcntl
import json
import os
import re
import shlex
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

MISSED_POLICIES = ("skip", "run_once")
# Why a firing ended; the first four mirror `zoo run`'s exit codes.
OUTCOMES = ("pushed", "same model", "no-op", "not blessed", "failed", "timeout", "skipped")
DEFAULT_TIMEOUT_S = 6 * 3600.0
# A firing found due later than this after its time counts as missed (the scheduler was not running).
GRACE_S = 60.0
# After SIGTERM, how long a timed-out run gets to exit before SIGKILL.
KILL_GRACE_S = 10.0
_KEYS = {"pipeline", "cron", "timeout", "missed", "args"}
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


class ScheduleError(ValueError):
    """A bad schedule or a scheduler that cannot start: reported as one line."""


@dataclasses.dataclass(frozen=True)
class Entry:
    """One pipeline's schedule."""

    pipeline: str
    cron: str
    timeout_s: float = DEFAULT_TIMEOUT_S
    missed: str = "skip"
    args: tuple[str, ...] = ()


@dataclasses.dataclass(frozen=True)
class Schedule:
    entries: tuple[Entry, ...]
    output: str
    path: str

    def entry(self, pipeline: str) -> Entry:
        for entry in self.entries:
            if entry.pipeline == pipeline:
                return entry
        raise ScheduleError(f"{self.path}: pipeline '{pipeline}' is not scheduled there; "
                            f"scheduled: {', '.join(e.pipeline for e in self.entries)}")


def parse_duration(value: Any) -> float:
    """Seconds from a number or ``'90s'``, ``'30m'``, ``'2h'``, ``'1d'``.

    >>> parse_duration("30m"), parse_duration(45)
    (1800.0, 45.0)
    """
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        seconds = float(value)
    else:
        match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*", str(value))
        if not match:
            raise ValueError(f"bad duration {value!r}: use seconds or a number with s, m, h or d")
        seconds = float(match.group(1)) * _UNITS[match.group(2) or "s"]
    if seconds <= 0:
        raise ValueError(f"bad duration {value!r}: must be positive")
    return seconds


def check_cron(cron: Any) -> str:
    """``cron`` if croniter accepts it, else a one-line ``ValueError``."""
    from croniter import croniter

    if not isinstance(cron, str) or not cron.strip():
        raise ValueError(f"bad cron expression {cron!r}: expected a string like '0 3 * * *'")
    try:
        croniter(cron, 0.0).get_next(float)
    except (ValueError, KeyError, TypeError) as error:  # croniter's errors are ValueErrors
        detail = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise ValueError(f"bad cron expression '{cron}': {detail}") from None
    return cron.strip()


def parse_schedule(data: Any, path: str, pipelines: Sequence[str]) -> Schedule:
    """A validated :class:`Schedule` from a parsed schedule file; one-line :class:`ScheduleError` otherwise."""
    if not isinstance(data, dict):
        raise ScheduleError(f"{path}: expected a table with 'output' and [[run]] entries")
    unknown = set(data) - {"output", "run"}
    if unknown:
        raise ScheduleError(f"{path}: unknown key(s) {', '.join(sorted(unknown))}; known: output, run")
    runs = data.get("run")
    if not isinstance(runs, list) or not runs:
        raise ScheduleError(f"{path}: no [[run]] entries")
    entries, seen = [], set()
    for number, run in enumerate(runs, 1):
        where = f"{path}: run #{number}"
        if not isinstance(run, dict):
            raise ScheduleError(f"{where}: expected a table")
        if set(run) - _KEYS:
            raise ScheduleError(f"{where}: unknown key(s) {', '.join(sorted(set(run) - _KEYS))}; "
                                f"known: {', '.join(sorted(_KEYS))}")
        pipeline = run.get("pipeline")
        if pipeline not in pipelines:
            raise ScheduleError(f"{where}: unknown pipeline {pipeline!r}; choices: {', '.join(sorted(pipelines))}")
        where = f"{path}: run #{number} ({pipeline})"
        if pipeline in seen:
            raise ScheduleError(f"{where}: scheduled twice (one entry per pipeline: one run at a time)")
        seen.add(pipeline)
        missed = run.get("missed", "skip")
        if missed not in MISSED_POLICIES:
            raise ScheduleError(f"{where}: bad missed-run policy {missed!r}; choices: {', '.join(MISSED_POLICIES)}")
        args = run.get("args", [])
        if not isinstance(args, list) or not all(isinstance(a, str) for a in args):
            raise ScheduleError(f"{where}: args must be a list of strings")
        if any(a == "--output" or a.startswith("--output=") for a in args):
            raise ScheduleError(f"{where}: args must not set --output (the schedule's 'output' does)")
        try:
            entries.append(Entry(pipeline, check_cron(run.get("cron")),
                                 parse_duration(run.get("timeout", DEFAULT_TIMEOUT_S)), missed, tuple(args)))
        except ValueError as error:
            raise ScheduleError(f"{where}: {error}") from None
    output = data.get("output", "outputs")
    if not isinstance(output, str) or not output:
        raise ScheduleError(f"{path}: output must be a folder name")
    return Schedule(tuple(entries), output, path)


def load_schedule(path: str, pipelines: Sequence[str] | None = None) -> Schedule:
    """Reads and validates a ``.toml`` or ``.json`` schedule file."""
    if pipelines is None:
        from pipelines import registry
        pipelines = registry.names()
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except OSError as error:
        raise ScheduleError(f"cannot read schedule {path}: {error.strerror}") from None
    try:
        if path.endswith(".json"):
            data = json.loads(raw)
        elif path.endswith(".toml"):
            import tomli
            data = tomli.loads(raw.decode())
        else:
            raise ScheduleError(f"{path}: a schedule file is .toml or .json")
    except (ValueError, UnicodeDecodeError) as error:
        if isinstance(error, ScheduleError):
            raise
        raise ScheduleError(f"{path}: not valid {path.rsplit('.', 1)[-1].upper()}: "
                            f"{str(error).splitlines()[0]}") from None
    schedule = parse_schedule(data, path, pipelines)
    # Relative to the working directory, as `zoo run --output` is.
    return dataclasses.replace(schedule, output=os.path.abspath(schedule.output))


# ----------------------------------------------------------------------- locks


class Lock:
    """An exclusive ``flock`` on a file holding the owner's pid; released when the
    process ends, however it ends (no stale locks after a crash or ``kill -9``)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._fd: int | None = None

    def acquire(self) -> bool:
        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as error:
            os.close(fd)
            if error.errno in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                return False
            raise
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self._fd = fd
        return True

    def holder(self) -> str:
        """The pid written by whoever holds the lock (``?`` if unknown)."""
        try:
            with open(self.path) as f:
                return f.read().strip() or "?"
        except OSError:
            return "?"

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None


def schedule_dir(output: str) -> str:
    return os.path.join(output, "schedule")


def pipeline_lock(output: str, pipeline: str) -> Lock:
    return Lock(os.path.join(schedule_dir(output), f"{pipeline}.lock"))


def scheduler_lock(output: str) -> Lock:
    return Lock(os.path.join(schedule_dir(output), "scheduler.lock"))


# --------------------------------------------------------------------- firings


def zoo_command(entry: Entry, output: str) -> list[str]:
    """The subprocess of one firing: ``zoo run`` in this environment's Python."""
    return [sys.executable, "-m", "zoo.cli", "run", entry.pipeline, "--output", output, *entry.args]


def firings_path(output: str, pipeline: str) -> str:
    """Where firings were recorded before ML Metadata held them (still read; written when the store fails)."""
    return os.path.join(output, "runs", f"{pipeline}.scheduled.jsonl")


def record_firing(output: str, record: dict[str, Any], mysql: str | None = None) -> str | None:
    """Records one firing as a ``zoo.ScheduledFiring`` execution in the output's ML Metadata store
    (MySQL when ``mysql`` or ``ZOO_METADATA_MYSQL`` names one). Nothing is lost when the store cannot
    take it: the firing is appended to ``<output>/runs/<pipeline>.scheduled.jsonl`` instead, and the
    store's error line is returned (``None`` when recorded in ML Metadata)."""
    from pipelines.metadata import SCHEDULED_FIRING, MetadataStoreError, output_config, record_execution

    try:
        config = output_config(output, mysql)
        if config.HasField("sqlite"):
            os.makedirs(output, exist_ok=True)
        record_execution(config, SCHEDULED_FIRING, record)
        return None
    except MetadataStoreError as error:
        path = firings_path(output, record["pipeline"])
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "a") as f:
            f.write(json.dumps(record, sort_keys=True) + "\n")
        return f"{error} (recorded in {path})"


def outcome_of(exit_code: int, printed: str) -> tuple[str, str, str | None]:
    """``(outcome, reason, run id)`` of a finished ``zoo run`` from its exit code and output.

    >>> outcome_of(0, "nothing changed since run 2026-01-01T00:00:00: version 3 is served (x); --force runs anyway")
    ('no-op', 'nothing changed since run 2026-01-01T00:00:00', None)
    >>> outcome_of(3, "run r7: succeeded in 9.0s\\nNOT PUSHED: not blessed by the Evaluator: accuracy too low")
    ('not blessed', 'NOT PUSHED: not blessed by the Evaluator: accuracy too low', 'r7')
    """
    lines = [line.strip() for line in printed.splitlines() if line.strip()]
    run_id = next((m.group(1) for m in (re.match(r"run (\S+): ", line) for line in lines) if m), None)

    def first(prefix: str) -> str | None:
        return next((line for line in lines if line.startswith(prefix)), None)

    if exit_code == 0:
        if first("nothing changed since"):
            line = first("nothing changed since")
            match = re.match(r"nothing changed since run \S+?(?=: )", line)
            return "no-op", match.group(0) if match else line, None
        if first("PUSHED version"):
            return "pushed", first("PUSHED version"), run_id
        if first("NOT PUSHED AGAIN"):
            return "same model", first("NOT PUSHED AGAIN"), run_id
        return "pushed", lines[-1] if lines else "exit 0", run_id
    if exit_code == 3:
        return "not blessed", first("NOT PUSHED") or "not blessed", run_id
    if exit_code < 0:
        return "failed", f"killed by signal {-exit_code}", run_id
    return "failed", first("error:") or (lines[-1] if lines else f"exit {exit_code}"), run_id


def _kill_group(process: subprocess.Popen) -> None:
    """SIGTERM to the run's whole process group (Beam workers too), SIGKILL after a grace period."""
    for sig, wait in ((signal.SIGTERM, KILL_GRACE_S), (signal.SIGKILL, None)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(wait)
            return
        except subprocess.TimeoutExpired:
            continue


_RUNNING: set[subprocess.Popen] = set()  # runs in flight in this process (the scheduler stops them on exit)
_RUNNING_LOCK = threading.Lock()


def stop_running() -> int:
    """Stops every run this process started that is still in flight; returns how many."""
    with _RUNNING_LOCK:
        running = list(_RUNNING)
    for process in running:
        _kill_group(process)
    return len(running)


def fire(entry: Entry, output: str, scheduled_for: float, trigger: str = "schedule",
         command: Callable[[Entry, str], list[str]] = zoo_command, mysql: str | None = None) -> dict[str, Any]:
    """Runs one firing of ``entry`` (unless a run of its pipeline holds the lock) and records it
    (in MySQL when ``mysql`` names one: the run records there too)."""
    started = time.time()
    record: dict[str, Any] = {"pipeline": entry.pipeline, "cron": entry.cron, "trigger": trigger,
                              "scheduled_for": scheduled_for, "started": started, "run_id": None,
                              "exit_code": None, "log": None}
    lock = pipeline_lock(output, entry.pipeline)
    if not lock.acquire():
        record.update(outcome="skipped", seconds=time.time() - started,
                      reason=f"the previous run is still in progress (pid {lock.holder()})")
        failed = record_firing(output, record, mysql)
        if failed:
            print(f"warning: {failed}", file=sys.stderr)
        return record
    try:
        log = os.path.join(output, "logs", entry.pipeline,
                           time.strftime("%Y%m%d-%H%M%S", time.localtime(started)) + ".schedule.log")
        os.makedirs(os.path.dirname(log), exist_ok=True)
        env = {**os.environ, "ZOO_TRIGGER": trigger}
        if mysql:
            from pipelines.metadata import MYSQL_ENV
            env[MYSQL_ENV] = mysql
        with open(log, "w") as out:
            process = subprocess.Popen(command(entry, output), stdout=out, stderr=subprocess.STDOUT,
                                       stdin=subprocess.DEVNULL, start_new_session=True, env=env)
            with _RUNNING_LOCK:
                _RUNNING.add(process)
            try:
                exit_code = process.wait(entry.timeout_s)
                timed_out = False
            except subprocess.TimeoutExpired:
                _kill_group(process)
                exit_code, timed_out = process.returncode, True
            finally:
                with _RUNNING_LOCK:
                    _RUNNING.discard(process)
        try:
            with open(log) as f:
                printed = f.read()
        except OSError:  # the output folder went away under the run
            printed = ""
        outcome, reason, run_id = outcome_of(exit_code if exit_code is not None else -9, printed)
        if timed_out:
            outcome, reason = "timeout", f"killed after the time limit of {entry.timeout_s:g}s"
        record.update(outcome=outcome, reason=reason, run_id=run_id, exit_code=exit_code, log=log,
                      seconds=time.time() - started)
    finally:
        lock.release()
    failed = record_firing(output, record, mysql)
    if failed:
        print(f"warning: {failed}", file=sys.stderr)
    return record


def describe(record: dict[str, Any]) -> str:
    when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(record["started"]))
    return (f"{when} {record['pipeline']} ({record['trigger']}): {record['outcome']} in "
            f"{record['seconds']:.1f}s: {record['reason']}")


# ------------------------------------------------------------------- scheduler


class Scheduler:
    """Fires each entry on its cron expression; runs of different pipelines may overlap,
    runs of one pipeline never do.

    ``<output>/schedule/state.json`` keeps each pipeline's last scheduled time, so
    firings missed while no scheduler ran are found at the next start and handled
    by the entry's ``missed`` policy: ``skip`` records them as skipped,
    ``run_once`` runs the pipeline once for all of them.
    """

    def __init__(self, schedule: Schedule, output: str | None = None,
                 command: Callable[[Entry, str], list[str]] = zoo_command,
                 echo: Callable[[str], None] = print, mysql: str | None = None) -> None:
        self.schedule = schedule
        self.mysql = mysql
        self.output = os.path.abspath(output or schedule.output)
        self.command = command
        self.echo = echo
        self.state_path = os.path.join(schedule_dir(self.output), "state.json")
        self.threads: list[threading.Thread] = []

    def _state(self) -> dict[str, float]:
        try:
            with open(self.state_path) as f:
                return {k: float(v) for k, v in json.load(f).items()}
        except (OSError, ValueError, AttributeError):
            return {}

    def _save(self, state: dict[str, float]) -> None:
        os.makedirs(os.path.dirname(self.state_path), exist_ok=True)
        with open(self.state_path + ".tmp", "w") as f:
            json.dump(state, f)
        os.replace(self.state_path + ".tmp", self.state_path)

    def due(self, now: float) -> list[tuple[Entry, float, str]]:
        """Firings due at ``now`` as ``(entry, scheduled time, trigger)``; records missed ones
        skipped by policy; advances the state."""
        from croniter import croniter

        state, fired = self._state(), []
        for entry in self.schedule.entries:
            last = state.get(entry.pipeline)
            if last is None:  # first sight: count from now, nothing was missed
                state[entry.pipeline] = now
                continue
            times = croniter(entry.cron, last)
            due = []
            while len(due) < 100_000:
                at = times.get_next(float)
                if at > now:
                    break
                due.append(at)
            if not due:
                continue
            on_time = now - due[-1] <= GRACE_S
            missed = due[:-1] if on_time else due
            if on_time:
                fired.append((entry, due[-1], "schedule"))
            elif entry.missed == "run_once":
                fired.append((entry, due[-1], "missed"))
            if missed and not (entry.missed == "run_once" and not on_time):
                record = {"pipeline": entry.pipeline, "cron": entry.cron, "trigger": "missed",
                          "scheduled_for": missed[0], "started": now, "seconds": 0.0, "outcome": "skipped",
                          "reason": f"missed {len(missed)} firing(s) from "
                                    f"{_when(missed[0])} while no scheduler ran (missed-run policy: "
                                    f"{entry.missed})",
                          "run_id": None, "exit_code": None, "log": None}
                failed = record_firing(self.output, record, self.mysql)
                if failed:
                    self.echo(f"warning: {failed}")
                self.echo(describe(record))
            state[entry.pipeline] = due[-1]
        self._save(state)
        return fired

    def next_time(self, now: float) -> float:
        from croniter import croniter
        state = self._state()
        return min(croniter(e.cron, max(state.get(e.pipeline, now), now)).get_next(float)
                   for e in self.schedule.entries)

    def _fire(self, entry: Entry, at: float, trigger: str) -> None:
        try:
            self.echo(describe(fire(entry, self.output, at, trigger, self.command, self.mysql)))
        except Exception as error:  # a scheduler outlives any one firing
            self.echo(f"error: firing of '{entry.pipeline}' failed: {type(error).__name__}: {error}")

    def tick(self, now: float) -> list[threading.Thread]:
        """Starts every firing due at ``now``, each in its own thread."""
        started = []
        for entry, at, trigger in self.due(now):
            thread = threading.Thread(target=self._fire, args=(entry, at, trigger), daemon=True,
                                      name=f"zoo-schedule-{entry.pipeline}")
            thread.start()
            started.append(thread)
        self.threads = [t for t in self.threads if t.is_alive()] + started
        return started

    def run(self, stop_after: float | None = None, clock: Callable[[], float] = time.time,
            sleep: Callable[[float], None] = time.sleep) -> None:
        """The foreground loop (until interrupted, or ``stop_after`` seconds); holds the scheduler lock."""
        lock = scheduler_lock(self.output)
        if not lock.acquire():
            raise ScheduleError(f"another scheduler is already running on {self.output} "
                                f"(pid {lock.holder()}, lock {lock.path})")
        end = None if stop_after is None else clock() + stop_after
        # SIGTERM (systemctl stop, kill) ends the loop like Ctrl-C: the runs in flight are stopped too,
        # and their next firing resumes from TFX's cache.
        previous = signal.signal(signal.SIGTERM, _interrupt) if threading.current_thread() is threading.main_thread() \
            else None
        try:
            self.echo(f"scheduler (pid {os.getpid()}) on {self.output}: "
                      + "; ".join(f"{e.pipeline} '{e.cron}'" for e in self.schedule.entries))
            while end is None or clock() < end:
                now = clock()
                self.tick(now)
                wake = self.next_time(now)
                if end is not None:
                    wake = min(wake, end)
                sleep(max(0.05, min(wake - clock(), 30.0)))
            for thread in self.threads:
                thread.join()
        except KeyboardInterrupt:
            stopped = stop_running()
            for thread in self.threads:
                thread.join(KILL_GRACE_S + 5)
            self.echo(f"scheduler stopped ({stopped} run(s) in flight stopped)")
        finally:
            if previous is not None:
                signal.signal(signal.SIGTERM, previous)
            lock.release()


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def _when(at: float) -> str:
    return datetime.datetime.fromtimestamp(at).strftime("%Y-%m-%d %H:%M:%S")


def next_firings(entry: Entry, count: int = 3, now: float | None = None) -> list[str]:
    from croniter import croniter
    times = croniter(entry.cron, now if now is not None else time.time())
    return [_when(times.get_next(float)) for _ in range(count)]


# ----------------------------------------------------- crontab and systemd units

_DAYS = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
_SHORTCUTS = {"@hourly": "hourly", "@daily": "daily", "@midnight": "daily", "@weekly": "weekly",
              "@monthly": "monthly", "@yearly": "yearly", "@annually": "yearly"}


def _calendar_field(field: str, name: str, first: int, days: bool = False) -> str:
    def value(text: str) -> str:
        if days:
            if text.isdigit():
                return _DAYS[int(text)]
            return text[:3].capitalize()
        return text.zfill(2) if text.isdigit() else text

    parts = []
    for item in field.split(","):
        base, _, step = item.partition("/")
        if step and "-" in base:
            raise ScheduleError(f"cron {name} '{item}': a range with a step has no systemd calendar form")
        if base == "*":
            parts.append(f"{value(str(first))}/{step}" if step else "*")
        elif "-" in base:
            low, high = base.split("-", 1)
            parts.append(f"{value(low)}..{value(high)}")
        else:
            parts.append(f"{value(base)}/{step}" if step else value(base))
    return ",".join(parts)


def systemd_calendar(cron: str) -> str:
    """The systemd ``OnCalendar=`` form of a 5-field cron expression."""
    cron = check_cron(cron)
    if cron in _SHORTCUTS:
        return _SHORTCUTS[cron]
    fields = cron.split()
    if len(fields) != 5:
        raise ScheduleError(f"cron '{cron}': only 5-field expressions (no seconds) have a systemd/crontab form")
    minute, hour, dom, month, dow = fields
    if dom != "*" and dow != "*":
        raise ScheduleError(f"cron '{cron}': day-of-month and day-of-week together mean either in cron, "
                            "both in systemd; split it into two schedules")
    date = f"*-{_calendar_field(month, 'month', 1)}-{_calendar_field(dom, 'day of month', 1)}"
    clock = f"{_calendar_field(hour, 'hour', 0)}:{_calendar_field(minute, 'minute', 0)}:00"
    return (f"{_calendar_field(dow, 'day of week', 0, days=True)} " if dow != "*" else "") + f"{date} {clock}"


def _zoo_once(schedule: Schedule, entry: Entry, zoo: str) -> str:
    return f"{zoo} schedule {shlex.quote(os.path.abspath(schedule.path))} --once {entry.pipeline}"


def crontab_lines(schedule: Schedule, workdir: str, zoo: str) -> list[str]:
    """One crontab line per entry; each runs one firing (``--once``) with its lock and time limit."""
    lines = [f"# zoo schedule {schedule.path}: one line per pipeline (crontab -e). cron does not catch up"
             " on missed firings: the missed-run policy 'run_once' needs the systemd timer (Persistent=true)"
             " or the foreground scheduler."]
    for entry in schedule.entries:
        if len(entry.cron.split()) > 5:
            raise ScheduleError(f"cron '{entry.cron}' ({entry.pipeline}): crontab has no seconds field")
        log = shlex.quote(os.path.join(schedule.output, "logs", f"schedule-{entry.pipeline}.cron.log"))
        lines.append(f"{entry.cron} cd {shlex.quote(workdir)} && {_zoo_once(schedule, entry, zoo)} >> {log} 2>&1")
    return lines


def systemd_units(schedule: Schedule, workdir: str, zoo: str) -> dict[str, str]:
    """A ``zoo-<pipeline>.service`` (one firing) and ``.timer`` pair per entry, by file name."""
    units = {}
    for entry in schedule.entries:
        name = f"zoo-{entry.pipeline}"
        units[f"{name}.service"] = "\n".join([
            "[Unit]", f"Description=zoo pipeline {entry.pipeline} (one scheduled run)", "",
            "[Service]", "Type=oneshot", f"WorkingDirectory={workdir}",
            f"ExecStart={_zoo_once(schedule, entry, zoo)}",
            # The run enforces its own limit; this is a backstop a minute later.
            f"TimeoutStartSec={int(entry.timeout_s + KILL_GRACE_S + 60)}", "KillMode=control-group", ""])
        units[f"{name}.timer"] = "\n".join([
            "[Unit]", f"Description=zoo pipeline {entry.pipeline} on '{entry.cron}'", "",
            "[Timer]", f"OnCalendar={systemd_calendar(entry.cron)}",
            # systemd's own missed-run policy: Persistent=true runs once after missed firings.
            f"Persistent={'true' if entry.missed == 'run_once' else 'false'}", f"Unit={name}.service", "",
            "[Install]", "WantedBy=timers.target", ""])
    return units


def run_once(schedule: Schedule, pipeline: str, output: str | None = None,
             mysql: str | None = None) -> dict[str, Any]:
    """One firing now, as cron or a systemd timer triggers it."""
    entry = schedule.entry(pipeline)
    return fire(entry, os.path.abspath(output or schedule.output), time.time(), "schedule", mysql=mysql)


def check_store(output: str, mysql: str | None = None) -> None:
    """The ML Metadata store the firings and their runs record into can be opened; a one-line
    :class:`ScheduleError` (``ML Metadata's MySQL ... is unreachable: ...``) otherwise."""
    from pipelines.metadata import MetadataStoreError, check_reachable, output_config

    try:
        config = output_config(output, mysql)
        if config.HasField("sqlite"):
            os.makedirs(output, exist_ok=True)
        check_reachable(config)
    except MetadataStoreError as error:
        raise ScheduleError(str(error)) from None


def main(path: str, output: str | None = None, once: str | None = None, emit: str | None = None,
         check: bool = False, stop_after: float | None = None, zoo: str | None = None,
         workdir: str | None = None, echo: Callable[[str], None] = print, mysql: str | None = None) -> int:
    """What ``zoo schedule`` does; returns its exit code (raises :class:`ScheduleError` on bad input)."""
    schedule = load_schedule(path)
    if output:
        schedule = dataclasses.replace(schedule, output=os.path.abspath(output))
    zoo = zoo or shlex.quote(os.path.join(os.path.dirname(sys.executable), "zoo"))
    workdir = os.path.abspath(workdir or os.getcwd())
    if check:
        for entry in schedule.entries:
            echo(f"{entry.pipeline:12s} '{entry.cron}' timeout {entry.timeout_s:g}s missed={entry.missed} "
                 f"next: {', '.join(next_firings(entry))}")
        return 0
    if emit == "crontab":
        _print_all(crontab_lines(schedule, workdir, zoo), echo)
        return 0
    if emit == "systemd":
        for name, text in systemd_units(schedule, workdir, zoo).items():
            echo(f"# ---- {name}\n{text}")
        return 0
    check_store(schedule.output, mysql)
    if once:
        record = run_once(schedule, once, mysql=mysql)
        echo(describe(record))
        return {"pushed": 0, "same model": 0, "no-op": 0, "skipped": 0, "not blessed": 3}.get(record["outcome"], 1)
    Scheduler(schedule, echo=echo, mysql=mysql).run(stop_after=stop_after)
    return 0


def _print_all(lines: Iterable[str], echo: Callable[[str], None]) -> None:
    for line in lines:
        echo(line)
