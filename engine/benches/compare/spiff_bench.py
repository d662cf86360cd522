"""Throughput of SpiffWorkflow 3.2.0 on one BPMN file: completed process
instances ("Requests") per second, run one after another in one process.

Usage: python spiff_bench.py BPMN_FILE SECONDS
Prints: spiffworkflow requests_per_sec=<float> requests=<int> seconds=<float>

The XML is used unchanged: SpiffWorkflow's default script engine evaluates the
condition `amount > 100` as a Python expression against the task data.

Notes on SpiffWorkflow 3.2.0 behaviour this script relies on:
- The plain `SpiffWorkflow.bpmn.parser.BpmnParser` handles this model (no
  Spiff or Camunda extensions are needed).
- A plain `bpmn:task` is parsed as `NoneTask`, whose spec has `manual = True`,
  so `do_engine_steps()` stops in front of it, exactly like a manual task. The
  loop below therefore runs the READY manual tasks itself (as an application
  would "complete" them) and then calls `do_engine_steps()` again.
- Request data goes on the READY synthetic start task (`BpmnStartTask`,
  spec name "Start"); task data flows from there to the following tasks.
"""

import sys
import time
from importlib.metadata import version

from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.parser import BpmnParser
from SpiffWorkflow.util.task import TaskState

PROCESS_ID = "fork_join"
THROUGH_FORK = {"start", "check", "fork", "task_a", "task_b", "join", "end"}


def start(spec, subprocess_specs, amount):
    workflow = BpmnWorkflow(spec, subprocess_specs)
    workflow.get_next_task(state=TaskState.READY).set_data(amount=amount)
    return workflow


def drive(workflow):
    """Run engine steps, completing READY manual tasks, until completed."""
    workflow.do_engine_steps()
    while not workflow.is_completed():
        manual = workflow.get_tasks(state=TaskState.READY, manual=True)
        if not manual:
            raise RuntimeError("workflow stuck: not completed and no READY manual task")
        for task in manual:
            task.run()
        workflow.do_engine_steps()


def completed_ids(workflow):
    """BPMN ids of the COMPLETED tasks (Spiff's internal tasks have none)."""
    return [
        t.task_spec.bpmn_id
        for t in workflow.get_tasks(state=TaskState.COMPLETED)
        if t.task_spec.bpmn_id is not None
    ]


def main():
    if len(sys.argv) != 3:
        print("usage: spiff_bench.py BPMN_FILE SECONDS", file=sys.stderr)
        sys.exit(2)
    bpmn_file, seconds = sys.argv[1], float(sys.argv[2])

    found = version("SpiffWorkflow")
    if found != "3.2.0":
        raise RuntimeError(f"expected SpiffWorkflow 3.2.0, found {found}")

    # Parse once; every Request reuses the parsed spec.
    parser = BpmnParser()
    parser.add_bpmn_file(bpmn_file)
    spec = parser.get_spec(PROCESS_ID)
    subprocess_specs = parser.get_subprocess_specs(PROCESS_ID)

    # Before timing: the model really runs through the fork, and the condition
    # is really evaluated (amount=50 must take the default flow).
    workflow = start(spec, subprocess_specs, 500)
    drive(workflow)
    completed = completed_ids(workflow)
    if set(completed) != THROUGH_FORK or len(completed) != len(THROUGH_FORK):
        raise RuntimeError(f"amount=500 took an unexpected path: {completed}")
    workflow = start(spec, subprocess_specs, 50)
    drive(workflow)
    completed = completed_ids(workflow)
    if "end_small" not in completed or "fork" in completed:
        raise RuntimeError(f"amount=50 did not take the default flow: {completed}")

    requests = 0
    t0 = time.perf_counter()
    deadline = t0 + seconds
    now = t0
    while now < deadline:
        workflow = start(spec, subprocess_specs, 500)
        drive(workflow)
        # Each Request must have ended at `end` (cheap check: the end event's
        # task is COMPLETED).
        if workflow.get_next_task(spec_name="end", state=TaskState.COMPLETED) is None:
            raise RuntimeError(f"Request {requests} completed without reaching end")
        requests += 1
        now = time.perf_counter()
    elapsed = now - t0
    print(
        f"spiffworkflow requests_per_sec={requests / elapsed:.1f} "
        f"requests={requests} seconds={elapsed:.3f}"
    )


if __name__ == "__main__":
    main()
