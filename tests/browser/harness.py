"""What the browser tests share: a real `sluice serve` on a temporary SQLite database with a known
admin user, a local HTTP service for connector calls, the API, and Debian's Chromium through
Playwright (never a browser of Playwright's own)."""

import http.server
import json
import os
import secrets
import socket
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

CHROMIUM = os.environ.get("SLUICE_CHROMIUM", "/usr/bin/chromium")
ADMIN = "webadmin"
PASSWORD = "correct horse battery staple"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """`sluice serve` (the binary at `binary`) on a fresh SQLite database in a temporary folder."""

    def __init__(self, binary, slack_api_url="http://127.0.0.1:9", database_url=None, extra_env=None):
        self.dir = tempfile.TemporaryDirectory(prefix="sluice-browser-")
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.token = "browser-" + secrets.token_hex(16)
        env = {k: v for k, v in os.environ.items() if not k.startswith("SLACK_")}
        env.update(
            SLUICE_LISTEN=f"127.0.0.1:{self.port}",
            SLUICE_DATABASE_URL=database_url or f"sqlite://{self.dir.name}/sluice.db",
            SLUICE_API_TOKEN=self.token,
            SLUICE_PUBLIC_URL=self.base,
            # The fake Slack, or a closed local port: nothing reaches outside this machine.
            SLACK_API_URL=slack_api_url,
            RUST_LOG=os.environ.get("RUST_LOG", "warn"),
        )
        env.pop("SLUICE_PROCESSES", None)
        env.update(extra_env or {})
        self.log = open(os.path.join(self.dir.name, "server.log"), "wb")
        self.proc = subprocess.Popen([binary, "serve"], env=env, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.time() + 30
        while True:
            try:
                urllib.request.urlopen(f"{self.base}/healthz", timeout=1)
                break
            except (urllib.error.URLError, ConnectionError, OSError):
                if self.proc.poll() is not None or time.time() > deadline:
                    raise RuntimeError(f"sluice serve did not start:\n{self.server_log()}")
                time.sleep(0.2)
        status, _ = self.api("POST", "/api/v1/users", {
            "username": ADMIN, "name": "Web Admin", "email": "webadmin@example.com",
            "password": PASSWORD, "roles": ["admin"],
        })
        assert status == 201, status

    def api(self, method, path, body=None, content_type="application/json"):
        """Calls the API with the configured token: (status, parsed JSON or None)."""
        data = None
        headers = {"Authorization": f"Bearer {self.token}"}
        if body is not None:
            data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
            headers["Content-Type"] = content_type
        req = urllib.request.Request(self.base + path, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                text = resp.read()
                return resp.status, json.loads(text) if text else None
        except urllib.error.HTTPError as e:
            text = e.read()
            return e.code, json.loads(text) if text else None

    def deploy(self, xml):
        status, body = self.api("POST", "/api/v1/processes", xml, "application/xml")
        assert status in (200, 201), (status, body)
        return body

    def start(self, key, data=None):
        status, body = self.api("POST", f"/api/v1/processes/{key}/requests", {"data": data or {}})
        assert status == 201, (status, body)
        return body

    def server_log(self):
        if not self.log.closed:
            self.log.flush()
        with open(os.path.join(self.dir.name, "server.log"), "rb") as f:
            return f.read().decode(errors="replace")[-4000:]

    def stop(self):
        self.proc.terminate()
        try:
            code = self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = self.proc.wait()
        self.log.close()
        return code


class Switch(http.server.BaseHTTPRequestHandler):
    """A local HTTP service: 404 until `Switch.ok` is set, then 200 with a JSON body."""

    ok = False
    calls = 0

    def do_POST(self):  # noqa: N802 (the standard library's name)
        self.do_GET()

    def do_GET(self):  # noqa: N802
        type(self).calls += 1
        status = 200 if type(self).ok else 404
        body = json.dumps({"approved": True} if status == 200 else {"error": "not yet"}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def switch_service():
    """Starts the local service on a free port: (its base URL, the handler class to flip)."""
    handler = type("SwitchHandler", (Switch,), {"ok": False, "calls": 0})
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{httpd.server_address[1]}", handler, httpd


class FakeSlack:
    """The fake Slack Web API (`tests/fake-slack`'s binary) on a free local port, with its default
    workspace (token `xoxb-fake-default`; channels general, sales, random, secret, hidden, old)."""

    TOKEN = "xoxb-fake-default"

    def __init__(self, binary):
        self.proc = subprocess.Popen(
            [binary, "--port", "0", "--post-interval-ms", "10", "--no-list-limit"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        line = self.proc.stdout.readline()
        prefix = "fake Slack listening: SLACK_API_URL="
        if not line.startswith(prefix):
            self.proc.kill()
            raise RuntimeError(f"the fake Slack did not start: {line!r}")
        self.api_url = line[len(prefix):].strip()
        # Its further output is read (and dropped) so it never blocks on a full pipe.
        threading.Thread(target=self.proc.stdout.read, daemon=True).start()

    def call(self, method, **params):
        """A Web API method, as a bot would call it: the parsed answer."""
        data = urllib.parse.urlencode(params).encode()
        req = urllib.request.Request(
            f"{self.api_url}/{method}", data=data, method="POST",
            headers={"Authorization": f"Bearer {self.TOKEN}", "Content-Type": "application/x-www-form-urlencoded"},
        )
        with urllib.request.urlopen(req, timeout=10) as resp:
            return json.loads(resp.read())

    def messages(self, channel):
        """The messages of a channel, newest first."""
        answer = self.call("conversations.history", channel=channel)
        assert answer.get("ok"), answer
        return answer["messages"]

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
