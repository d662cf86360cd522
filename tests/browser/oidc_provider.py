"""A small OpenID Connect provider for the browser test, on localhost (another site than the
server's 127.0.0.1, so the way back from it is a cross-site navigation, as with a real provider).

Its authorization endpoint approves one user at once; its token endpoint checks the client's
credentials and the PKCE verifier and answers an ID token signed RS256 with the committed
test-only key (tests/data/oidc_test_rsa_key.pk8), signed by the `openssl` command (no Python
crypto package needed).
"""

import base64
import hashlib
import json
import os
import subprocess
import tempfile
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

KEY = os.path.join(os.path.dirname(__file__), "..", "data", "oidc_test_rsa_key.pk8")
KID = "sluice-test-key"


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _openssl(*args, data=None):
    return subprocess.run(["openssl", *args], input=data, capture_output=True, check=True).stdout


class Provider:
    def __init__(self, client_id, client_secret, user):
        self.client_id, self.client_secret, self.user = client_id, client_secret, user
        self.codes = {}
        self.dir = tempfile.TemporaryDirectory(prefix="sluice-oidc-")
        self.pem = os.path.join(self.dir.name, "key.pem")
        _openssl("pkey", "-inform", "DER", "-in", KEY, "-out", self.pem)
        modulus = _openssl("rsa", "-in", self.pem, "-noout", "-modulus").decode().strip().split("=", 1)[1]
        self.jwk = {"kty": "RSA", "use": "sig", "alg": "RS256", "kid": KID,
                    "n": b64url(bytes.fromhex(modulus)), "e": b64url((65537).to_bytes(3, "big"))}
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                provider.get(self)

            def do_POST(self):
                provider.post(self)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://localhost:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def stop(self):
        self.httpd.shutdown()
        self.dir.cleanup()

    def _json(self, h, status, body):
        data = json.dumps(body).encode()
        h.send_response(status)
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(len(data)))
        h.end_headers()
        h.wfile.write(data)

    def get(self, h):
        url = urllib.parse.urlsplit(h.path)
        q = dict(urllib.parse.parse_qsl(url.query))
        if url.path == "/.well-known/openid-configuration":
            self._json(h, 200, {
                "issuer": self.base, "authorization_endpoint": f"{self.base}/authorize",
                "token_endpoint": f"{self.base}/token", "jwks_uri": f"{self.base}/jwks",
                "token_endpoint_auth_methods_supported": ["client_secret_basic"],
            })
        elif url.path == "/jwks":
            self._json(h, 200, {"keys": [self.jwk]})
        elif url.path == "/authorize":
            if q.get("client_id") != self.client_id or q.get("code_challenge_method") != "S256":
                return self._json(h, 400, {"error": "invalid_request"})
            code = b64url(os.urandom(16))
            self.codes[code] = (q["redirect_uri"], q["nonce"], q["code_challenge"])
            back = q["redirect_uri"] + "?" + urllib.parse.urlencode({"code": code, "state": q["state"]})
            h.send_response(302)
            h.send_header("Location", back)
            h.send_header("Content-Length", "0")
            h.end_headers()
        else:
            self._json(h, 404, {"error": "not_found"})

    def post(self, h):
        body = h.rfile.read(int(h.headers.get("Content-Length", "0"))).decode()
        form = dict(urllib.parse.parse_qsl(body))
        basic = base64.b64encode(f"{self.client_id}:{self.client_secret}".encode()).decode()
        if h.headers.get("Authorization") != f"Basic {basic}":
            return self._json(h, 401, {"error": "invalid_client"})
        found = self.codes.pop(form.get("code", ""), None)
        if not found or found[0] != form.get("redirect_uri"):
            return self._json(h, 400, {"error": "invalid_grant"})
        challenge = b64url(hashlib.sha256(form.get("code_verifier", "").encode()).digest())
        if challenge != found[2]:
            return self._json(h, 400, {"error": "invalid_grant", "error_description": "PKCE"})
        now = int(time.time())
        claims = {"iss": self.base, "aud": self.client_id, "exp": now + 300, "iat": now, "nonce": found[1],
                  **self.user}
        header = {"alg": "RS256", "typ": "JWT", "kid": KID}
        signed = f"{b64url(json.dumps(header).encode())}.{b64url(json.dumps(claims).encode())}"
        signature = _openssl("dgst", "-sha256", "-sign", self.pem, data=signed.encode())
        self._json(h, 200, {"access_token": "opaque", "token_type": "Bearer", "id_token": f"{signed}.{b64url(signature)}"})
