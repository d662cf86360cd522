#!/usr/bin/env python3
"""Benchmark of job workers over the HTTP API (issue 17), printing figures (not run by CI):
N Requests each reach one job task; 4 worker processes activate (batches, long-polling) and
complete the jobs through the API. Prints jobs/s (from the first creation to the last
completion) and creation→completion p50/p99 (the Requests' own `created_at`/`completed_at`).

    python3 tests/bench_jobs.py SLUICE_BINARY [--jobs N] [--postgres URL]

Without --postgres it runs on a fresh SQLite file. With it, URL names a scratch database the
benchmark may fill (its tables are left for a look afterwards). Standard library only.
"""

import argparse
import http.client
import json
import multiprocessing as mp
import os
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime

MODEL = """<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d" targetNamespace="urn:bench">
  <bpmn:process id="bench" isExecutable="true">
    <bpmn:startEvent id="s"/>
    <bpmn:sequenceFlow id="f1" sourceRef="s" targetRef="work"/>
    <bpmn:serviceTask id="work" implementation="bench"/>
    <bpmn:sequenceFlow id="f2" sourceRef="work" targetRef="e"/>
    <bpmn:endEvent id="e"/>
  </bpmn:process>
</bpmn:definitions>"""


class Api:
    def __init__(self, port, token):
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        self.headers = {"Authorization": "Bearer " + token, "Content-Type": "application/json"}

    def call(self, method, path, body=None, raw=None, ctype=None):
        headers = dict(self.headers)
        if ctype:
            headers["Content-Type"] = ctype
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        self.conn.request(method, path, body=data, headers=headers)
        r = self.conn.getresponse()
        text = r.read()
        return r.status, (json.loads(text) if text else None)


def worker(port, token, name, total, done):
    api = Api(port, token)
    while done.value < total:
        body = {"types": ["bench"], "worker": name, "max_jobs": 200, "lock_ms": 60000, "wait_ms": 500}
        status, r = api.call("POST", "/api/v1/jobs/activate", body)
        if status != 200:
            print(f"{name}: activate {status} {r}", file=sys.stderr)
            time.sleep(0.1)
            continue
        for job in r["jobs"]:
            status, _ = api.call("POST", f"/api/v1/jobs/{job['id']}/complete", {"data": {"by": name}})
            if status != 204:
                print(f"{name}: complete {status}", file=sys.stderr)
            with done.get_lock():
                done.value += 1


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ts(s):
    return datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("binary")
    p.add_argument("--jobs", type=int, default=5000)
    p.add_argument("--postgres")
    args = p.parse_args()
    port, token = free_port(), secrets.token_hex(16)
    tmp = tempfile.mkdtemp(prefix="sluice-bench-jobs-")
    db = args.postgres or f"sqlite://{tmp}/bench.db"
    env = dict(os.environ, SLUICE_LISTEN=f"127.0.0.1:{port}", SLUICE_DATABASE_URL=db, SLUICE_API_TOKEN=token,
               SLUICE_JOB_TYPES="bench", SLUICE_SECRET_KEY=os.environ.get("SLUICE_SECRET_KEY", "00" * 32))
    log = open(os.path.join(tmp, "server.log"), "w")
    server = subprocess.Popen([args.binary, "serve"], env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        for _ in range(300):
            try:
                if Api(port, token).call("GET", "/healthz")[0] == 200:
                    break
            except OSError:
                time.sleep(0.1)
        api = Api(port, token)
        status, r = api.call("POST", "/api/v1/processes", raw=MODEL.encode(), ctype="application/xml")
        assert status == 201, (status, r)
        done = mp.Value("i", 0)
        workers = [mp.Process(target=worker, args=(port, token, f"w{i}", args.jobs, done)) for i in range(4)]
        for w in workers:
            w.start()
        ids, lock = [], threading.Lock()

        def create(n):
            a = Api(port, token)
            for _ in range(n):
                status, r = a.call("POST", "/api/v1/processes/bench/requests", {"data": {}})
                assert status == 201, (status, r)
                with lock:
                    ids.append(r["id"])

        t0 = time.time()
        creators = [threading.Thread(target=create, args=(args.jobs // 4,)) for _ in range(4)]
        for c in creators:
            c.start()
        for c in creators:
            c.join()
        created = time.time()
        while done.value < len(ids):
            time.sleep(0.01)
        t1 = time.time()
        for w in workers:
            w.terminate()
        lat = []
        api = Api(port, token)  # the first one sat idle: the server closed it
        for id in ids:
            status, r = api.call("GET", f"/api/v1/requests/{id}")
            assert r["status"] == "completed", r
            lat.append((ts(r["completed_at"]) - ts(r["created_at"])) * 1000)
        lat.sort()
        backend = "postgres" if args.postgres else "sqlite"
        print(f"{backend}: {len(ids)} jobs, 4 worker processes: {len(ids) / (t1 - t0):.0f} jobs/s "
              f"(creation alone {len(ids) / (created - t0):.0f} Requests/s); creation->completion "
              f"p50 {statistics.median(lat):.0f} ms, p99 {lat[int(len(lat) * 0.99) - 1]:.0f} ms; "
              f"load average {os.getloadavg()[0]:.2f}")
    finally:
        server.terminate()
        server.wait()


if __name__ == "__main__":
    main()
