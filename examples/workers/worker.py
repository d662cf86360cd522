#!/usr/bin/env python3
"""A Sluice job worker in plain Python (standard library only).

It activates jobs of one type over HTTP (long-polling), does the work, and completes, fails or
throws a BPMN error for each; see docs/workers.md for the protocol.

    SLUICE_URL=http://127.0.0.1:8080 SLUICE_TOKEN=... python3 worker.py --type greet

The work here is `greet`: it reads `name` from the job's data and completes with `greeting`.
A few data fields steer it, so that one worker shows every outcome:

- `sleep_ms`: work that long first (extending the lock when the work outlasts half of it);
- `error_code`: throw that BPMN error instead (a boundary error event catches it);
- `fail`: report a failure (the retries go down by one; at 0 the Request gets an incident).
"""

import argparse
import json
import os
import socket
import sys
import time
import urllib.error
import urllib.request


class Sluice:
    """The worker protocol's five calls."""

    def __init__(self, url, token):
        self.url = url.rstrip("/")
        self.token = token

    def call(self, path, body, timeout=60):
        data = json.dumps(body).encode()
        req = urllib.request.Request(
            self.url + path,
            data=data,
            method="POST",
            headers={"Authorization": "Bearer " + self.token, "Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                text = resp.read()
                return resp.status, (json.loads(text) if text else None)
        except urllib.error.HTTPError as e:
            text = e.read()
            return e.code, (json.loads(text) if text else None)

    def activate(self, types, worker, max_jobs, lock_ms, wait_ms):
        status, body = self.call(
            "/api/v1/jobs/activate",
            {"types": types, "worker": worker, "max_jobs": max_jobs, "lock_ms": lock_ms, "wait_ms": wait_ms},
        )
        if status != 200:
            raise RuntimeError(f"activate: {status} {body}")
        return body["jobs"]

    def complete(self, job, data):
        return self.call(f"/api/v1/jobs/{job['id']}/complete", {"data": data})[0]

    def fail(self, job, message, retries, retry_after_ms=0):
        body = {"message": message, "retries": retries, "retry_after_ms": retry_after_ms}
        return self.call(f"/api/v1/jobs/{job['id']}/fail", body)[0]

    def error(self, job, code, message=None):
        return self.call(f"/api/v1/jobs/{job['id']}/error", {"code": code, "message": message})[0]

    def extend(self, job, lock_ms):
        return self.call(f"/api/v1/jobs/{job['id']}/extend", {"lock_ms": lock_ms})[0]


def greet(sluice, job, lock_ms):
    """The work: answers (outcome, payload)."""
    data = job["data"]
    sleep_ms = int(data.get("sleep_ms", 0))
    slept = 0
    while slept < sleep_ms:
        step = min(sleep_ms - slept, max(lock_ms // 2, 1))
        time.sleep(step / 1000)
        slept += step
        if slept < sleep_ms and data.get("extend", False):
            sluice.extend(job, lock_ms)
    if data.get("error_code"):
        return "error", data["error_code"]
    if data.get("fail"):
        return "fail", "the greeting service is down"
    return "complete", {"greeting": f"Hello, {data.get('name', 'world')}!", "greeted_by": job.get("worker")}


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--url", default=os.environ.get("SLUICE_URL", "http://127.0.0.1:8080"))
    p.add_argument("--token", default=os.environ.get("SLUICE_TOKEN"))
    p.add_argument("--type", action="append", dest="types", help="a job type to take (repeatable; default greet)")
    p.add_argument("--worker", default=f"py-{socket.gethostname()}-{os.getpid()}")
    p.add_argument("--max-jobs", type=int, default=8)
    p.add_argument("--lock-ms", type=int, default=10_000)
    p.add_argument("--wait-ms", type=int, default=5_000)
    p.add_argument("--log", help="append one JSON line per job finished (for tests)")
    p.add_argument("--once", action="store_true", help="stop after one activation that got jobs")
    args = p.parse_args()
    if not args.token:
        sys.exit("set SLUICE_TOKEN (or --token): a token of a user with the `worker` role")
    types = sorted(set(args.types or ["greet"]))
    sluice = Sluice(args.url, args.token)
    log = open(args.log, "a", buffering=1) if args.log else None
    print(f"{args.worker}: taking {', '.join(types)} from {args.url}", flush=True)
    while True:
        try:
            jobs = sluice.activate(types, args.worker, args.max_jobs, args.lock_ms, args.wait_ms)
        except (OSError, RuntimeError) as e:
            print(f"{args.worker}: {e}; trying again in 1 s", file=sys.stderr, flush=True)
            time.sleep(1)
            continue
        for job in jobs:
            job["worker"] = args.worker
            if log:
                log.write(json.dumps({"event": "activated", "job": job["id"], "request": job["request_id"]}) + "\n")
            outcome, payload = greet(sluice, job, args.lock_ms)
            if outcome == "complete":
                status = sluice.complete(job, payload)
            elif outcome == "error":
                status = sluice.error(job, payload, "the worker threw it")
            else:
                status = sluice.fail(job, payload, max(job["retries"] - 1, 0), 100)
            # 409: the lock ran out and another worker has the job; its result counts, not ours.
            print(f"{args.worker}: {job['type']} {job['id']}: {outcome} -> {status}", flush=True)
            if log:
                log.write(
                    json.dumps(
                        {"event": outcome, "job": job["id"], "request": job["request_id"], "status": status}
                    )
                    + "\n"
                )
        if args.once and jobs:
            return


if __name__ == "__main__":
    main()
