"""SpiffWorkflow 3.2.0 on the model of benches/durable.rs (start -> serviceTask (no-op) -> end),
persisting each Request's serialized state into SQLite after every step, the way an application
built on SpiffWorkflow makes it durable. Prints completed Requests per second.

Usage: python spiff_bench.py [REQUESTS]      (or env BENCH_REQUESTS; default 2000)
Last line of the output, machine-readable:  spiff_requests_per_second=<float>

What one Request does (timed: everything below; not timed: parsing the BPMN and opening the
database, as an engine caches the parsed spec and keeps its connection):
- create a `BpmnWorkflow` from the spec parsed once, and write it (INSERT: the Request exists);
- `do_engine_steps()` runs it to the end; each BPMN step (start event, service task, end event)
  is written once it is done: serialized with `BpmnWorkflowSerializer.serialize_json` and upserted
  into one row per Request, each write its own committed transaction. SpiffWorkflow also runs
  bookkeeping tasks of its own around the BPMN ones (`Start`, `bench.EndJoin`, `End`); they are
  written with the step they belong to (the last write holds the completed workflow), not on their
  own, so a Request costs 4 commits.
- SQLite is opened with `journal_mode=WAL` and `synchronous=FULL`, Sluice's default durability:
  every commit is on disk when it returns.

The service task: SpiffWorkflow's standard `BpmnParser` leaves a serviceTask STARTED for the
application to finish. Its Spiff parser (`SpiffBpmnParser`) runs a serviceTask that names an
operator in the `spiffworkflow:serviceTaskOperator` extension through the script engine's
`call_service`, which is where a connector goes; `bench.bpmn` therefore carries that extension
(operator `noop`, input `note = "hello"` like the Sluice model's input) and `NoopEnvironment` below
answers every call with JSON `null` without doing anything.

Single process, single thread: SpiffWorkflow is a library that steps one workflow at a time in the
caller's thread, and an application runs it that way (scaling out means more processes, each
with its own connection). Sluice's figure comes from its engine with concurrent starters and group
commit; that difference is part of what the comparison measures.
"""

import os
import shutil
import sqlite3
import sys
import tempfile
import time
import uuid
from importlib.metadata import version

from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine, TaskDataEnvironment
from SpiffWorkflow.bpmn.serializer import BpmnWorkflowSerializer
from SpiffWorkflow.spiff.parser import SpiffBpmnParser
from SpiffWorkflow.spiff.serializer import DEFAULT_CONFIG as SPIFF_CONFIG

SPIFF_VERSION = "3.2.0"
PROCESS_ID = "bench"
MODEL = os.path.join(os.path.dirname(os.path.abspath(__file__)), "bench.bpmn")


class NoopEnvironment(TaskDataEnvironment):
    """Scripts run as usual; a service call does nothing and answers JSON `null`."""

    def __init__(self):
        super().__init__()
        self.calls = 0

    def call_service(self, context, operation_name=None, operation_params=None, **kwargs):
        if operation_name != "noop":
            raise ValueError(f"unknown service operator {operation_name!r}")
        self.calls += 1
        return "null"


class Store:
    """One SQLite table, one row per Request; every write is its own committed transaction."""

    def __init__(self, path):
        # isolation_level=None: autocommit, so each statement is a transaction committed on return.
        self.db = sqlite3.connect(path, isolation_level=None)
        mode = self.db.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        if mode.lower() != "wal":
            raise RuntimeError(f"SQLite refused journal_mode=WAL (got {mode})")
        self.db.execute("PRAGMA synchronous=FULL")
        self.db.execute(
            "CREATE TABLE request (id TEXT PRIMARY KEY, completed INTEGER NOT NULL, state TEXT NOT NULL)"
        )
        self.commits = 0

    def save(self, request_id, serialized, completed):
        self.db.execute(
            "INSERT INTO request (id, completed, state) VALUES (?, ?, ?) "
            "ON CONFLICT (id) DO UPDATE SET completed = excluded.completed, state = excluded.state",
            (request_id, int(completed), serialized),
        )
        self.commits += 1

    def count_completed(self):
        return self.db.execute("SELECT count(*) FROM request WHERE completed = 1").fetchone()[0]

    def any_state(self):
        return self.db.execute("SELECT state FROM request LIMIT 1").fetchone()[0]

    def close(self):
        self.db.close()


def run_request(spec, subprocess_specs, engine, serializer, store):
    """One Request from creation to completion, persisted after each step."""
    request_id = str(uuid.uuid4())
    workflow = BpmnWorkflow(spec, subprocess_specs, script_engine=engine)

    def save():
        store.save(request_id, serializer.serialize_json(workflow), workflow.is_completed())

    save()
    step_done = False

    # A BPMN task about to run means the previous BPMN step (and any bookkeeping after it) is done.
    def will_complete(task):
        nonlocal step_done
        if step_done and task.task_spec.bpmn_id is not None:
            save()
            step_done = False

    def did_complete(task):
        nonlocal step_done
        if task.task_spec.bpmn_id is not None:
            step_done = True

    workflow.do_engine_steps(will_complete_task=will_complete, did_complete_task=did_complete)
    if not workflow.is_completed():
        raise RuntimeError(f"Request {request_id} did not complete: {workflow.get_tasks()}")
    save()


def requests_from_args():
    raw = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("BENCH_REQUESTS", "2000")
    try:
        n = int(raw)
    except ValueError:
        sys.exit(f"REQUESTS must be a positive integer, got {raw!r}")
    if n <= 0:
        sys.exit(f"REQUESTS must be a positive integer, got {n}")
    return n


def main():
    n = requests_from_args()
    found = version("SpiffWorkflow")
    if found != SPIFF_VERSION:
        sys.exit(f"expected SpiffWorkflow {SPIFF_VERSION}, found {found}")

    # Parsed once, as an engine caches a deployed process.
    parser = SpiffBpmnParser()
    parser.add_bpmn_file(MODEL)
    spec = parser.get_spec(PROCESS_ID)
    subprocess_specs = parser.get_subprocess_specs(PROCESS_ID)
    environment = NoopEnvironment()
    engine = PythonScriptEngine(environment=environment)
    serializer = BpmnWorkflowSerializer(BpmnWorkflowSerializer.configure(SPIFF_CONFIG))

    tmp = tempfile.mkdtemp(prefix="spiff-bench-")
    try:
        store = Store(os.path.join(tmp, "bench.db"))
        cpu0, t0 = time.process_time(), time.perf_counter()
        for _ in range(n):
            run_request(spec, subprocess_specs, engine, serializer, store)
        seconds = time.perf_counter() - t0
        cpu = time.process_time() - cpu0

        # The figure counts only what really happened: every Request is completed in the
        # database, its stored state reads back as a completed workflow, the service ran once each.
        completed = store.count_completed()
        if completed != n:
            raise RuntimeError(f"{completed} of {n} Requests are stored completed")
        if not serializer.deserialize_json(store.any_state()).is_completed():
            raise RuntimeError("a stored Request does not deserialize as completed")
        if environment.calls != n:
            raise RuntimeError(f"the service task ran {environment.calls} times for {n} Requests")
        commits = store.commits
        store.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    rate = n / seconds
    print(
        f"SpiffWorkflow {found} (SQLite synchronous=FULL) {n:>7} Requests in {seconds:6.2f} s: "
        f"{rate:9.0f} completed Requests/s, {commits / n:.1f} commits/Request, "
        f"{cpu * 1e6 / n:6.1f} µs CPU/Request (1 thread)"
    )
    print(f"spiff_requests_per_second={rate:.1f}")


if __name__ == "__main__":
    main()
