"""Signs Slack interactivity requests with Slack's own Python SDK and sends them to a running
`sluice serve`: every request whose signature does not hold must be refused with 401 (and the
uniform error body), the correctly signed one accepted with 200.

Driven by tests/tests/slack_notifications.rs, which passes through the environment:
SLUICE_URL (the server), SLACK_SIGNING_SECRET, SLUICE_BUTTON_VALUE, SLUICE_CHANNEL and
SLUICE_MESSAGE_TS (an Approve button of a real task_waiting message and where it is).
Prints one line per case; exits 1 on the first case that does not behave.
"""

import json
import os
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

from slack_sdk.signature import SignatureVerifier

URL = os.environ["SLUICE_URL"].rstrip("/") + "/api/v1/slack/interactions"
SECRET = os.environ["SLACK_SIGNING_SECRET"]
VALUE = os.environ["SLUICE_BUTTON_VALUE"]
CHANNEL = os.environ["SLUICE_CHANNEL"]
TS = os.environ["SLUICE_MESSAGE_TS"]

verifier = SignatureVerifier(signing_secret=SECRET)


def body() -> str:
    payload = {
        "type": "block_actions",
        "user": {"id": "U0PYTHON", "username": "py", "name": "py", "team_id": "T0SLUICE"},
        "team": {"id": "T0SLUICE", "domain": "sluice-test"},
        "container": {"type": "message", "message_ts": TS, "channel_id": CHANNEL, "is_ephemeral": False},
        "channel": {"id": CHANNEL, "name": "sales"},
        "message": {"type": "message", "ts": TS, "text": "waiting", "blocks": []},
        "response_url": os.environ.get("SLUICE_RESPONSE_URL", "https://hooks.slack.com/actions/T0SLUICE/1/x"),
        "trigger_id": "1.2.3",
        "actions": [
            {
                "action_id": "sluice_approve",
                "block_id": "sluice_decision",
                "value": VALUE,
                "type": "button",
                "action_ts": str(time.time()),
            }
        ],
    }
    return urllib.parse.urlencode({"payload": json.dumps(payload)})


def send(data: bytes, headers: dict) -> tuple:
    req = urllib.request.Request(URL, data=data, method="POST")
    req.add_header("Content-Type", "application/x-www-form-urlencoded")
    for k, v in headers.items():
        req.add_header(k, v)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def signed(text: str, ts: int) -> dict:
    sig = verifier.generate_signature(timestamp=str(ts), body=text)
    if abs(time.time() - ts) < 290:
        # The SDK's own check agrees (it also refuses timestamps more than 5 minutes old).
        assert verifier.is_valid(body=text, timestamp=str(ts), signature=sig)
    return {"X-Slack-Request-Timestamp": str(ts), "X-Slack-Signature": sig}


def expect(case: str, status: int, answer: tuple) -> None:
    got, text = answer
    if got != status:
        print(f"FAIL {case}: expected {status}, got {got}: {text}")
        sys.exit(1)
    if status == 401:
        err = json.loads(text).get("error", {})
        if err.get("code") != "unauthorized" or not err.get("message"):
            print(f"FAIL {case}: the 401 has not the uniform error body: {text}")
            sys.exit(1)
    print(f"ok {case} -> {got}")


now = int(time.time())
text = body()

changed = bytearray(text.encode())
changed[len(changed) // 2] ^= 0x01
expect("a changed byte", 401, send(bytes(changed), signed(text, now)))

stale = now - 301
expect("a stale timestamp", 401, send(text.encode(), signed(text, stale)))
# The server reads its clock after this script read `now`, so a timestamp just past the limit
# ahead could come within it by the time the server checks: 330 s is past it whatever the delay.
future = now + 330
expect("a timestamp too far ahead", 401, send(text.encode(), signed(text, future)))

headers = signed(text, now)
expect("no X-Slack-Signature", 401, send(text.encode(), {"X-Slack-Request-Timestamp": headers["X-Slack-Request-Timestamp"]}))
expect("no X-Slack-Request-Timestamp", 401, send(text.encode(), {"X-Slack-Signature": headers["X-Slack-Signature"]}))
expect("no headers", 401, send(text.encode(), {}))

v1 = dict(headers)
v1["X-Slack-Signature"] = "v1=" + headers["X-Slack-Signature"][len("v0="):]
expect("a v1= signature", 401, send(text.encode(), v1))

expect("another secret", 401, send(text.encode(), {
    "X-Slack-Request-Timestamp": str(now),
    "X-Slack-Signature": SignatureVerifier("not-the-secret").generate_signature(timestamp=str(now), body=text),
}))

status, answer = send(text.encode(), signed(text, now))
expect("a correctly signed request", 200, (status, answer))
print("answer", answer)
