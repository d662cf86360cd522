"""Benchmarks of the web app, printing figures (not run by .ci/run):

1. the time until a Request's page shows its diagram with overlays, for a 200-element model and a
   history of about 2,000 events, in headless Chromium (target: under 1 s);
2. GET /api/v1/processes/{key}/counts for a process with 100,000 open Requests, p50 and p99, on
   SQLite and on PostgreSQL (target: p99 under 100 ms);
3. the size of the embedded assets.

    python tests/browser/bench_web.py SLUICE_BINARY [--skip-postgres]

PostgreSQL is read from SLUICE_TEST_POSTGRES_URL (a scratch database `sluice_web_bench` is made
next to the one it names, and dropped after). The 100,000 Requests are copies of one real Request
(same state: one token waiting at a user task) written straight into the table, since starting
them one by one through the API would take the benchmark far longer than what it measures.
"""

import os
import secrets
import sqlite3
import statistics
import subprocess
import sys
import time
import urllib.parse
import uuid
import gzip

from playwright.sync_api import expect, sync_playwright

from harness import ADMIN, CHROMIUM, PASSWORD, Server

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DIST = os.path.join(ROOT, "modeler-api", "web-dist")

APPROVAL = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d" targetNamespace="urn:bench">
  <bpmn:process id="approval" isExecutable="true">
    <bpmn:startEvent id="start"/>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="approve"/>
    <bpmn:userTask id="approve"/>
    <bpmn:sequenceFlow id="f2" sourceRef="approve" targetRef="end"/>
    <bpmn:endEvent id="end"/>
  </bpmn:process>
</bpmn:definitions>
"""


def big_model(tasks=196, rounds=5):
    """200 elements drawn in rows: start, a counter script, `tasks` plain tasks, a gateway that
    goes round `rounds` times, and a user task where the token waits (about 2,000 events)."""
    ids = ["start", "count"] + [f"t{i}" for i in range(tasks)] + ["again", "wait"]
    kinds = {"start": "startEvent", "count": "scriptTask", "again": "exclusiveGateway", "wait": "userTask"}
    flows = [(f"f{i}", a, b) for i, (a, b) in enumerate(zip(ids, ids[1:]))]
    flows.append(("back", "again", "count"))
    els = []
    for i in ids:
        kind = kinds.get(i, "task")
        if i == "count":
            els.append('<bpmn:scriptTask id="count" sluice:resultVariable="n" scriptFormat="feel"><bpmn:script>= n + 1</bpmn:script></bpmn:scriptTask>')
        else:
            els.append(f'<bpmn:{kind} id="{i}"/>')
    for fid, a, b in flows:
        if fid == "back":
            cond = f"<bpmn:conditionExpression>n &lt; {rounds}</bpmn:conditionExpression>"
        elif a == "again":
            cond = f"<bpmn:conditionExpression>n &gt;= {rounds}</bpmn:conditionExpression>"
        else:
            cond = ""
        els.append(f'<bpmn:sequenceFlow id="{fid}" sourceRef="{a}" targetRef="{b}">{cond}</bpmn:sequenceFlow>')
    pos = {}
    shapes = []
    for n, i in enumerate(ids):
        x, y = 80 + (n % 20) * 140, 80 + (n // 20) * 140
        w, h = (36, 36) if kinds.get(i) == "startEvent" else (50, 50) if kinds.get(i) == "exclusiveGateway" else (100, 80)
        pos[i] = (x, y, w, h)
        shapes.append(f'<bpmndi:BPMNShape id="{i}_di" bpmnElement="{i}"><dc:Bounds x="{x}" y="{y}" width="{w}" height="{h}"/></bpmndi:BPMNShape>')
    for fid, a, b in flows:
        ax, ay, aw, ah = pos[a]
        bx, by, bw, bh = pos[b]
        shapes.append(
            f'<bpmndi:BPMNEdge id="{fid}_di" bpmnElement="{fid}"><di:waypoint x="{ax + aw}" y="{ay + ah // 2}"/>'
            f'<di:waypoint x="{bx}" y="{by + bh // 2}"/></bpmndi:BPMNEdge>'
        )
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" xmlns:sluice="urn:sluice:bpmn:1"
  xmlns:bpmndi="http://www.omg.org/spec/BPMN/20100524/DI" xmlns:dc="http://www.omg.org/spec/DD/20100524/DC"
  xmlns:di="http://www.omg.org/spec/DD/20100524/DI" id="d" targetNamespace="urn:bench">
  <bpmn:process id="big" isExecutable="true">{''.join(els)}</bpmn:process>
  <bpmndi:BPMNDiagram id="dia"><bpmndi:BPMNPlane id="plane" bpmnElement="big">{''.join(shapes)}</bpmndi:BPMNPlane></bpmndi:BPMNDiagram>
</bpmn:definitions>
"""


def page_load(binary):
    server = Server(binary, extra_env={"SLUICE_MAX_MOVES_PER_WINDOW": "100000"})
    try:
        server.deploy(big_model())
        rid = server.start("big", {"n": 0})["id"]
        status, events = server.api("GET", f"/api/v1/requests/{rid}/events?limit=1000")
        count = 0
        cursor = None
        while True:
            q = "?limit=1000" + (f"&cursor={urllib.parse.quote(cursor)}" if cursor else "")
            status, body = server.api("GET", f"/api/v1/requests/{rid}/events{q}")
            assert status == 200, body
            count += len(body["events"])
            cursor = body.get("next_cursor")
            if not cursor:
                break
        times = []
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
            context = browser.new_context(viewport={"width": 1280, "height": 900})
            page = context.new_page()
            page.goto(server.base + "/login")
            page.fill("#username", ADMIN)
            page.fill("#password", PASSWORD)
            page.click("button[type=submit]")
            page.wait_for_url(server.base + "/processes")
            for _ in range(6):
                start = time.perf_counter()
                page.goto(f"{server.base}/requests/{rid}")
                expect(page.locator('#request-diagram .badge-token[data-element="wait"]')).to_be_visible(timeout=30_000)
                expect(page.locator("#timeline li").first).to_be_visible(timeout=30_000)
                times.append(time.perf_counter() - start)
            browser.close()
        warm = times[1:]
        print(f"request page, 200 elements, {count} history events: first {times[0] * 1000:.0f} ms; "
              f"then median {statistics.median(warm) * 1000:.0f} ms, max {max(warm) * 1000:.0f} ms (target < 1000 ms)")
    finally:
        server.stop()


def replicate_sqlite(path, rid, n):
    db = sqlite3.connect(path, timeout=30)
    cols = [r[1] for r in db.execute("PRAGMA table_info(requests)")]
    rest = ", ".join(c for c in cols if c != "id")
    db.executemany(
        f"INSERT INTO requests (id, {rest}) SELECT ?, {rest} FROM requests WHERE id = ?",
        ((str(uuid.uuid4()), rid) for _ in range(n)),
    )
    db.commit()
    db.execute("ANALYZE")
    db.close()


def psql(url, sql):
    subprocess.run(["psql", "-q", "-v", "ON_ERROR_STOP=1", url, "-c", sql], check=True, stdout=subprocess.DEVNULL)


def replicate_postgres(url, rid, n):
    cols = subprocess.run(
        ["psql", "-At", url, "-c", "SELECT column_name FROM information_schema.columns WHERE table_name = 'requests' ORDER BY ordinal_position"],
        check=True, capture_output=True, text=True,
    ).stdout.split()
    rest = ", ".join(c for c in cols if c != "id")
    psql(url, f"INSERT INTO requests (id, {rest}) SELECT gen_random_uuid()::text, {rest} FROM requests, generate_series(1, {n}) WHERE id = '{rid}'")
    psql(url, "ANALYZE requests")


def counts(binary, backend, total=100_000, calls=200):
    extra = {}
    url = None
    scratch = None
    if backend == "postgres":
        base = os.environ.get("SLUICE_TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/test")
        admin = base.rsplit("/", 1)[0] + "/postgres"
        scratch = base.rsplit("/", 1)[0] + "/sluice_web_bench"
        psql(admin, "DROP DATABASE IF EXISTS sluice_web_bench")
        psql(admin, "CREATE DATABASE sluice_web_bench")
        url = scratch
        extra["SLUICE_SECRET_KEY"] = secrets.token_hex(32)
    server = Server(binary, database_url=url, extra_env=extra)
    try:
        server.deploy(APPROVAL)
        rid = server.start("approval")["id"]
        if backend == "postgres":
            replicate_postgres(url, rid, total - 1)
        else:
            replicate_sqlite(os.path.join(server.dir.name, "sluice.db"), rid, total - 1)
        status, body = server.api("GET", "/api/v1/processes/approval/counts")
        assert status == 200 and body["elements"]["approve"]["active"] == total, body
        times = []
        for _ in range(calls):
            start = time.perf_counter()
            status, _ = server.api("GET", "/api/v1/processes/approval/counts?version=1")
            times.append(time.perf_counter() - start)
            assert status == 200
        times.sort()
        p99 = times[int(len(times) * 0.99) - 1]
        print(f"counts, {total} open Requests, {backend}: p50 {statistics.median(times) * 1000:.1f} ms, "
              f"p99 {p99 * 1000:.1f} ms over {calls} calls (target p99 < 100 ms)")
        if backend == "sqlite":
            # A debug build compiles SQLite's C code unoptimized too: the same aggregate through
            # Python's (optimized) SQLite shows what the query itself costs.
            db = sqlite3.connect(os.path.join(server.dir.name, "sluice.db"))
            sql = """SELECT positions, COUNT(*) FROM requests
                 WHERE process_key = ? AND process_version = ? AND status IN ('active', 'error')
                   AND positions IS NOT NULL GROUP BY positions"""
            direct = []
            for _ in range(20):
                start = time.perf_counter()
                db.execute(sql, ("approval", 1)).fetchall()
                direct.append(time.perf_counter() - start)
            db.close()
            print(f"  the same SQL through Python's sqlite3 {sqlite3.sqlite_version}: median "
                  f"{statistics.median(direct) * 1000:.1f} ms, max {max(direct) * 1000:.1f} ms")
    finally:
        server.stop()
        if scratch:
            psql(admin, "DROP DATABASE IF EXISTS sluice_web_bench")


def asset_sizes():
    total = zipped = 0
    biggest = []
    for folder, _, files in os.walk(DIST):
        for f in files:
            if f == "files.rs":
                continue
            path = os.path.join(folder, f)
            with open(path, "rb") as fh:
                data = fh.read()
            total += len(data)
            z = len(gzip.compress(data, 9))
            zipped += z
            biggest.append((len(data), z, os.path.relpath(path, DIST)))
    biggest.sort(reverse=True)
    print(f"embedded assets: {total / 1024:.0f} KiB ({zipped / 1024:.0f} KiB gzipped) in {len(biggest)} files; largest:")
    for size, z, name in biggest[:5]:
        print(f"  {size / 1024:7.0f} KiB ({z / 1024:.0f} KiB gzipped) {name}")


def main():
    binary = sys.argv[1]
    asset_sizes()
    page_load(binary)
    counts(binary, "sqlite")
    if "--skip-postgres" not in sys.argv:
        counts(binary, "postgres")


if __name__ == "__main__":
    main()
