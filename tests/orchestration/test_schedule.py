"""``zoo schedule``: schedule files, firings (outcome, lock, time limit), missed runs, the
foreground scheduler and its lock, crontab/systemd output, and scheduled runs in ``zoo runs``.

Firings here run a small stand-in command instead of ``zoo run`` (the real one is
exercised by tests/orchestration/test_schedule_pipeline.py)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time

import pytest

from orchestration import schedule as sched
from pipelines.runs import load_firings

PIPELINES = ["digits", "reviews"]


def _write(path, text: str) -> str:
    path.write_text(text)
    return str(path)


def _fake(script: str):
    """A command for one firing: a Python one-liner instead of `zoo run`."""
    return lambda entry, output: [sys.executable, "-c", script]


def _entry(**kwargs) -> sched.Entry:
    return sched.Entry(**{"pipeline": "digits", "cron": "* * * * *", **kwargs})


# ------------------------------------------------------------------ schedule files


def test_toml_and_json_schedules_read_the_same(tmp_path):
    toml = _write(tmp_path / "s.toml", 'output = "out"\n[[run]]\npipeline = "digits"\ncron = "0 3 * * *"\n'
                  'timeout = "2h"\nmissed = "run_once"\nargs = ["--epochs", "3"]\n'
                  '[[run]]\npipeline = "reviews"\ncron = "@daily"\n')
    as_json = _write(tmp_path / "s.json", json.dumps({"output": "out", "run": [
        {"pipeline": "digits", "cron": "0 3 * * *", "timeout": 7200, "missed": "run_once", "args": ["--epochs", "3"]},
        {"pipeline": "reviews", "cron": "@daily"}]}))
    a, b = sched.load_schedule(toml, PIPELINES), sched.load_schedule(as_json, PIPELINES)
    assert a.entries == b.entries
    assert a.entries[0] == sched.Entry("digits", "0 3 * * *", 7200.0, "run_once", ("--epochs", "3"))
    assert a.entries[1].missed == "skip" and a.entries[1].timeout_s == sched.DEFAULT_TIMEOUT_S
    assert a.output == os.path.abspath("out")


@pytest.mark.parametrize("run, message", [
    ({"pipeline": "digits", "cron": "61 * * * *"}, "bad cron expression '61 * * * *'"),
    ({"pipeline": "digits", "cron": "every day"}, "bad cron expression 'every day'"),
    ({"pipeline": "mnist_x", "cron": "* * * * *"}, "unknown pipeline 'mnist_x'; choices: digits, reviews"),
    ({"pipeline": "digits", "cron": "* * * * *", "missed": "catch_up"}, "bad missed-run policy 'catch_up'"),
    ({"pipeline": "digits", "cron": "* * * * *", "timeout": "soon"}, "bad duration 'soon'"),
    ({"pipeline": "digits", "cron": "* * * * *", "args": ["--output", "x"]}, "must not set --output"),
    ({"pipeline": "digits", "cron": "* * * * *", "when": 1}, "unknown key(s) when"),
])
def test_bad_schedule_entries_are_one_line_errors(tmp_path, run, message):
    path = _write(tmp_path / "s.json", json.dumps({"run": [run]}))
    with pytest.raises(sched.ScheduleError) as error:
        sched.load_schedule(path, PIPELINES)
    assert message in str(error.value) and "\n" not in str(error.value)
    assert str(error.value).startswith(f"{path}: run #1")


def test_a_pipeline_scheduled_twice_and_bad_toml_are_errors(tmp_path):
    twice = _write(tmp_path / "s.json", json.dumps({"run": [{"pipeline": "digits", "cron": "@daily"}] * 2}))
    with pytest.raises(sched.ScheduleError, match=r"run #2 \(digits\): scheduled twice"):
        sched.load_schedule(twice, PIPELINES)
    broken = _write(tmp_path / "s.toml", "[[run]\npipeline = 1\n")
    with pytest.raises(sched.ScheduleError, match="not valid TOML"):
        sched.load_schedule(broken, PIPELINES)


def test_cli_reports_a_bad_schedule_in_one_line(tmp_path):
    path = _write(tmp_path / "s.toml", '[[run]]\npipeline = "digits"\ncron = "* * *"\n')
    done = subprocess.run([sys.executable, "-m", "zoo.cli", "schedule", path, "--check"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [done.stderr.strip()]
    assert done.stderr.startswith(f"error: {path}: run #1 (digits): bad cron expression '* * *'")


# ------------------------------------------------------------------------ firings


@pytest.mark.parametrize("script, code, outcome, reason", [
    ("print('run r1: succeeded in 3.0s'); print('PUSHED version 2 to /s/digits/2')", 0, "pushed",
     "PUSHED version 2 to /s/digits/2"),
    ("print('nothing changed since run r1: version 2 is served (/s/2); --force runs anyway')", 0, "no-op",
     "nothing changed since run r1"),
    ("print('run r2: succeeded in 3.0s'); print('NOT PUSHED AGAIN: identical to served version 2 (/s/2)')", 0,
     "same model", "NOT PUSHED AGAIN: identical to served version 2 (/s/2)"),
    ("import sys; print('run r3: succeeded'); print('NOT PUSHED: not blessed by the Evaluator: acc'); sys.exit(3)",
     3, "not blessed", "NOT PUSHED: not blessed by the Evaluator: acc"),
    ("import sys; print('error: pipeline digits failed: boom', file=sys.stderr); sys.exit(1)", 1, "failed",
     "error: pipeline digits failed: boom"),
])
def test_a_firing_records_why_its_run_ended(tmp_path, script, code, outcome, reason):
    record = sched.fire(_entry(), str(tmp_path), 100.0, command=_fake(script))
    assert (record["outcome"], record["reason"], record["exit_code"]) == (outcome, reason, code)
    (stored,) = load_firings(str(tmp_path / "metadata.sqlite"), "digits")
    assert stored == pytest.approx(record, abs=1e-4)  # ML Metadata keeps times to the microsecond
    assert os.path.isfile(record["log"]) and stored["scheduled_for"] == 100.0


def test_a_run_over_its_time_limit_is_killed_with_its_children(tmp_path):
    pid_file = tmp_path / "child.pid"
    # The run starts a grandchild (as Beam's workers would) and outlives its limit.
    script = ("import subprocess, sys, time; child = subprocess.Popen([sys.executable, '-c', "
              f"'import time; time.sleep(120)']); open({str(pid_file)!r}, 'w').write(str(child.pid)); "
              "time.sleep(120)")
    start = time.time()
    record = sched.fire(_entry(timeout_s=3.0), str(tmp_path), 0.0, command=_fake(script))
    assert record["outcome"] == "timeout" and record["reason"] == "killed after the time limit of 3s"
    assert time.time() - start < 60
    child = int(pid_file.read_text())
    deadline = time.time() + 10
    while time.time() < deadline and _alive(child):
        time.sleep(0.2)
    assert not _alive(child), "the run's own subprocess survived the time limit"


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_an_overlapping_firing_is_skipped_and_recorded(tmp_path):
    running = sched.pipeline_lock(str(tmp_path), "digits")
    assert running.acquire()
    try:
        record = sched.fire(_entry(), str(tmp_path), 0.0, command=_fake("raise SystemExit('must not run')"))
    finally:
        running.release()
    assert record["outcome"] == "skipped"
    assert record["reason"] == f"the previous run is still in progress (pid {os.getpid()})"
    assert record["log"] is None
    assert load_firings(str(tmp_path / "metadata.sqlite"))[0]["outcome"] == "skipped"


# --------------------------------------------------------------- missed firings


def _scheduler(tmp_path, missed: str) -> sched.Scheduler:
    schedule = sched.Schedule((_entry(cron="0 * * * *", missed=missed),), str(tmp_path), "s.json")
    return sched.Scheduler(schedule, echo=lambda line: None)


HOUR = 3600.0
T0 = 1_800_000_000.0 - 1_800_000_000.0 % HOUR  # on the hour


@pytest.mark.parametrize("missed", ["skip", "run_once"])
def test_first_start_misses_nothing_then_fires_on_time(tmp_path, missed):
    scheduler = _scheduler(tmp_path, missed)
    assert scheduler.due(T0 + 10) == []  # first sight: counts from now
    assert scheduler.due(T0 + 20) == []
    (fired,) = scheduler.due(T0 + HOUR + 5)
    assert fired[1:] == (T0 + HOUR, "schedule")
    assert load_firings(str(tmp_path / "metadata.sqlite")) == []


def test_missed_firings_are_skipped_and_recorded_under_skip(tmp_path):
    scheduler = _scheduler(tmp_path, "skip")
    scheduler.due(T0 + 10)
    assert scheduler.due(T0 + 3 * HOUR + 600) == []  # 3 firings missed, none on time
    (record,) = load_firings(str(tmp_path / "metadata.sqlite"))
    assert record["outcome"] == "skipped" and record["trigger"] == "missed"
    assert record["reason"].startswith("missed 3 firing(s) from ") and "policy: skip" in record["reason"]
    (fired,) = scheduler.due(T0 + 4 * HOUR + 1)  # and the schedule goes on
    assert fired[1:] == (T0 + 4 * HOUR, "schedule")


def test_missed_firings_run_once_under_run_once(tmp_path):
    scheduler = _scheduler(tmp_path, "run_once")
    scheduler.due(T0 + 10)
    (fired,) = scheduler.due(T0 + 3 * HOUR + 600)
    assert fired[1:] == (T0 + 3 * HOUR, "missed")
    assert load_firings(str(tmp_path / "metadata.sqlite")) == []
    assert scheduler.due(T0 + 3 * HOUR + 700) == []  # once, not three times


# ----------------------------------------------------------- foreground scheduler


def test_foreground_scheduler_fires_and_skips_overlaps(tmp_path):
    schedule = sched.Schedule((_entry(cron="* * * * * */2"),), str(tmp_path), "s.json")
    slow = "import time; print('run r: succeeded'); time.sleep(3); print('PUSHED version 1 to /s/1')"
    lines = []
    sched.Scheduler(schedule, command=_fake(slow), echo=lines.append).run(stop_after=7)
    outcomes = [f["outcome"] for f in load_firings(str(tmp_path / "metadata.sqlite"))]
    assert "pushed" in outcomes and "skipped" in outcomes, outcomes
    assert lines[0].startswith(f"scheduler (pid {os.getpid()}) on {tmp_path}: digits '* * * * * */2'")
    assert any(": skipped in " in line and "still in progress" in line for line in lines)


def test_a_second_scheduler_on_the_same_output_is_refused(tmp_path):
    path = _write(tmp_path / "s.json", json.dumps({"output": str(tmp_path / "out"),
                                                   "run": [{"pipeline": "digits", "cron": "@yearly"}]}))
    first = subprocess.Popen([sys.executable, "-m", "zoo.cli", "schedule", path, "--stop-after", "120"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert first.stdout.readline().startswith("scheduler (pid")
        second = subprocess.run([sys.executable, "-m", "zoo.cli", "schedule", path, "--stop-after", "1"],
                                capture_output=True, text=True, timeout=300)
    finally:
        first.kill()
        first.communicate()
    assert second.returncode == 2
    assert second.stderr.strip() == (f"error: another scheduler is already running on {tmp_path / 'out'} "
                                     f"(pid {first.pid}, lock {tmp_path / 'out' / 'schedule' / 'scheduler.lock'})")


# ------------------------------------------------------------ crontab and systemd


@pytest.mark.parametrize("cron, calendar", [
    ("0 3 * * *", "*-*-* 03:00:00"),
    ("*/15 9-17 * * 1-5", "Mon..Fri *-*-* 09..17:00/15:00"),
    ("30 2 1,15 * *", "*-*-01,15 02:30:00"),
    ("0 0 * * 0,6", "Sun,Sat *-*-* 00:00:00"),
    ("@weekly", "weekly"),
])
def test_cron_expressions_become_systemd_calendars(cron, calendar):
    assert sched.systemd_calendar(cron) == calendar
    if shutil.which("systemd-analyze"):
        done = subprocess.run(["systemd-analyze", "calendar", calendar], capture_output=True, text=True)
        assert done.returncode == 0, done.stderr


def test_cron_without_a_systemd_form_is_refused():
    with pytest.raises(sched.ScheduleError, match="day-of-month and day-of-week"):
        sched.systemd_calendar("0 3 1 * mon")
    with pytest.raises(sched.ScheduleError, match="no seconds"):
        sched.systemd_calendar("* * * * * */2")


def test_crontab_line_and_systemd_units_run_one_firing(tmp_path):
    path = _write(tmp_path / "s.toml", f'output = "{tmp_path}/out"\n[[run]]\npipeline = "digits"\n'
                  'cron = "0 3 * * *"\ntimeout = "1h"\nmissed = "run_once"\n')
    schedule = sched.load_schedule(path, PIPELINES)
    comment, line = sched.crontab_lines(schedule, "/srv/zoo", "/srv/zoo/.venv/bin/zoo")
    assert comment.startswith("#")
    assert line == (f"0 3 * * * cd /srv/zoo && /srv/zoo/.venv/bin/zoo schedule {path} --once digits "
                    f">> {tmp_path}/out/logs/schedule-digits.cron.log 2>&1")
    units = sched.systemd_units(schedule, "/srv/zoo", "/srv/zoo/.venv/bin/zoo")
    assert sorted(units) == ["zoo-digits.service", "zoo-digits.timer"]
    assert f"ExecStart=/srv/zoo/.venv/bin/zoo schedule {path} --once digits" in units["zoo-digits.service"]
    assert "OnCalendar=*-*-* 03:00:00" in units["zoo-digits.timer"]
    assert "Persistent=true" in units["zoo-digits.timer"]  # missed = run_once
    if shutil.which("systemd-analyze"):
        for name, text in units.items():
            (tmp_path / name).write_text(text.replace("/srv/zoo/.venv/bin/zoo", "/bin/true"))
        done = subprocess.run(["systemd-analyze", "verify", *(str(tmp_path / n) for n in units)],
                              capture_output=True, text=True)
        assert "zoo-digits" not in done.stderr or "Failed" not in done.stderr, done.stderr


# --------------------------------------------------------------------- zoo runs


def _empty_store(path: str) -> None:
    from ml_metadata.metadata_store import metadata_store
    from ml_metadata.proto import metadata_store_pb2

    config = metadata_store_pb2.ConnectionConfig()
    config.sqlite.filename_uri = path
    config.sqlite.connection_mode = metadata_store_pb2.SqliteMetadataSourceConfig.READWRITE_OPENCREATE
    metadata_store.MetadataStore(config)


def test_zoo_runs_shows_scheduled_runs_and_why_they_ended(tmp_path, capsys):
    from pipelines.run_key import RunHistory, RunKey, Success
    from zoo.cli import main

    output = str(tmp_path)
    _empty_store(os.path.join(output, "metadata.sqlite"))
    sched.fire(_entry(), output, 0.0, command=_fake("import sys; print('error: it broke'); sys.exit(1)"))
    # A no-op run made by a firing: the no-op record lies within the firing's time.
    history = RunHistory(os.path.join(output, "runs"))
    noop = "from pipelines.run_key import *; import time, sys; RunHistory(sys.argv[1]).record_skip(" \
           "'digits', time.time(), 0.5, Success('r9', RunKey('a', 'b', 'c', 'd'), '4', '/s/4', 0.0)); " \
           "print('nothing changed since run r9: version 4 is served')"
    sched.fire(_entry(), output, 0.0,
               command=lambda entry, out: [sys.executable, "-c", noop, os.path.join(out, "runs")])
    history.record_skip("digits", time.time() + 5, 0.4, Success("r9", RunKey("a", "b", "c", "d"), "4", "/s/4", 0.0))
    lock = sched.pipeline_lock(output, "digits")
    lock.acquire()
    sched.fire(_entry(), output, 0.0, command=_fake("pass"))
    lock.release()

    assert main(["runs", "digits", "--output", output]) == 0
    rows = capsys.readouterr().out.strip().splitlines()[1:]
    assert len(rows) == 4, rows
    failed, scheduled_noop, skipped, manual_noop = rows
    assert " failed " in failed and "[schedule] error: it broke" in failed
    assert " no-op " in scheduled_noop and "[schedule] nothing changed since r9" in scheduled_noop
    assert " no-op " in manual_noop and "[schedule]" not in manual_noop
    assert " skipped " in skipped and "[schedule] the previous run is still in progress" in skipped
    assert not os.path.exists(os.path.join(output, "runs", "digits.skipped.jsonl"))  # all in ML Metadata
    assert not os.path.exists(sched.firings_path(output, "digits"))


def test_zoo_runs_still_reads_the_jsonl_records_of_older_outputs(tmp_path, capsys):
    from zoo.cli import main

    output = str(tmp_path)
    _empty_store(os.path.join(output, "metadata.sqlite"))
    os.makedirs(os.path.join(output, "runs"))
    old = {"pipeline": "digits", "cron": "0 3 * * *", "trigger": "schedule", "scheduled_for": 10.0,
           "started": 1_700_000_000.0, "seconds": 0.0, "outcome": "skipped", "reason": "old overlap",
           "run_id": None, "exit_code": None, "log": None}
    with open(sched.firings_path(output, "digits"), "w") as f:
        f.write(json.dumps(old) + "\n")
    with open(os.path.join(output, "runs", "digits.skipped.jsonl"), "w") as f:
        f.write(json.dumps({"pipeline": "digits", "started": 1_700_000_100.0, "seconds": 0.3, "same_as": "r0",
                            "served_version": "2"}) + "\n")
    sched.fire(_entry(), output, 0.0, command=_fake("import sys; print('error: new one'); sys.exit(1)"))

    assert load_firings(os.path.join(output, "metadata.sqlite"), "digits", os.path.join(output, "runs"))[0] == old
    assert main(["runs", "digits", "--output", output]) == 0
    rows = capsys.readouterr().out.strip().splitlines()[1:]
    assert len(rows) == 3, rows
    assert "[schedule] old overlap" in rows[0] and " skipped " in rows[0]
    assert " no-op " in rows[1] and "nothing changed since r0" in rows[1] and "same v2" in rows[1]
    assert "[schedule] error: new one" in rows[2]


def test_a_firing_the_store_cannot_take_is_kept_in_jsonl(tmp_path):
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    record = sched.fire(_entry(), str(tmp_path), 0.0, command=_fake("print('PUSHED version 1 to /s/1')"),
                        mysql=f"127.0.0.1:{port}/mlmd")
    assert record["outcome"] == "pushed"
    (kept,) = load_firings(str(tmp_path / "metadata.sqlite"), "digits", str(tmp_path / "runs"))
    assert kept == record


STOPPABLE = """
import sys
from orchestration import schedule as sched
entry = sched.Entry("digits", "* * * * * *")
script = "import os, sys, time; open(sys.argv[1], 'w').write(str(os.getpid())); time.sleep(300)"
sched.Scheduler(sched.Schedule((entry,), sys.argv[1], "s.json"),
                command=lambda e, o: [sys.executable, "-c", script, sys.argv[2]],
                echo=lambda line: print(line, flush=True)).run()
"""


def test_stopping_the_scheduler_stops_its_runs_and_records_them(tmp_path):
    import signal

    pid_file = tmp_path / "run.pid"
    scheduler = subprocess.Popen([sys.executable, "-c", STOPPABLE, str(tmp_path / "out"), str(pid_file)],
                                 stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.time() + 120
        while not pid_file.exists() or not pid_file.read_text():
            assert time.time() < deadline and scheduler.poll() is None, scheduler.stdout.read()
            time.sleep(0.2)
        run = int(pid_file.read_text())
        scheduler.send_signal(signal.SIGTERM)  # as `systemctl stop` does
        printed, _ = scheduler.communicate(timeout=60)
    finally:
        if scheduler.poll() is None:
            scheduler.kill()
    assert scheduler.returncode == 0, printed
    assert "scheduler stopped (1 run(s) in flight stopped)" in printed
    deadline = time.time() + 10
    while time.time() < deadline and _alive(run):
        time.sleep(0.2)
    assert not _alive(run)
    (record,) = load_firings(str(tmp_path / "out" / "metadata.sqlite"))
    assert record["outcome"] == "failed" and record["reason"] == "killed by signal 15"
