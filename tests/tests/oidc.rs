//! OpenID Connect sign-in end to end, over HTTP with the real binary on SQLite and PostgreSQL,
//! against a local provider the test starts (`sluice_tests::oidc_provider`): an admin configures
//! it; a browser's way (start → provider → callback) is followed hop by hop, each redirect checked
//! before it is taken; the session works like a password sign-in's, the groups come from the
//! claim (the email only when verified); a tampered or replayed state, a wrong nonce, a bad
//! signature, an expired token, a wrong audience and an unknown key are each refused and audited;
//! nothing secret is answered or logged.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;

use serde_json::{Value, json};
use sluice_tests::db::Db;
use sluice_tests::oidc_provider::{Fault, Provider};
use sluice_tests::server::{Answer, Serve, ServeConfig, TOKEN, must_exchange};

const CLIENT_ID: &str = "sluice-e2e";
const CLIENT_SECRET: &str = "provider-client-secret-7f3a9c";
/// Where the server says it is (`SLUICE_PUBLIC_URL` of `Serve`): the redirect URI's base.
const PUBLIC_URL: &str = "http://sluice.example";

fn send(addr: SocketAddr, method: &str, path: &str, headers: &[(&str, &str)], body: Option<&Value>) -> Answer {
    let text = body.map(Value::to_string);
    let mut all = headers.to_vec();
    if text.is_some() {
        all.push(("Content-Type", "application/json"));
    }
    must_exchange(addr, method, path, &all, text.as_deref().unwrap_or_default().as_bytes())
}

fn admin(addr: SocketAddr, method: &str, path: &str, body: Option<Value>) -> Answer {
    let auth = format!("Bearer {TOKEN}");
    send(addr, method, path, &[("Authorization", &auth)], body.as_ref())
}

/// `name=value` of a `Set-Cookie` of the answer, and the whole header.
fn cookie(a: &Answer, name: &str) -> Option<(String, String)> {
    let full = a.set_cookies.iter().find(|c| c.starts_with(&format!("{name}=")))?;
    Some((full.split(';').next().unwrap_or_default().to_string(), full.clone()))
}

/// The path and query of an absolute URL that must begin with `base`.
fn path_under<'u>(url: &'u str, base: &str) -> &'u str {
    assert!(url.starts_with(base), "a redirect to {url}, not under {base}");
    &url[base.len()..]
}

/// One browser's way through the sign-in, each hop checked: the answer of the callback, and the
/// query the provider's authorization endpoint got. `tamper` changes the callback's path and
/// the state cookie before they are sent.
struct Flow<'a> {
    sluice: SocketAddr,
    provider: &'a Provider,
}

impl Flow<'_> {
    fn start(&self, next: &str) -> (String, String) {
        let path = format!("/api/v1/auth/oidc/start?next={}", urlencode(next));
        let start = send(self.sluice, "GET", &path, &[], None);
        assert_eq!(start.status, 303, "{}", start.body);
        let (state_cookie, full) = cookie(&start, "sluice_oidc_state").expect("the state cookie");
        for flag in ["HttpOnly", "SameSite=Lax", "Path=/api/v1/auth/oidc"] {
            assert!(full.split(';').any(|p| p.trim() == flag), "{flag} missing: {full}");
        }
        let to_provider = start.header("location").unwrap().to_string();
        let authorize = path_under(&to_provider, &self.provider.issuer()).to_string();
        assert!(authorize.starts_with("/authorize?"), "{authorize}");
        // The provider approves at once and sends the browser back.
        let back = must_exchange(self.provider.addr, "GET", &authorize, &[], b"");
        assert_eq!(back.status, 302, "{}", back.body);
        let callback = path_under(back.header("location").unwrap(), PUBLIC_URL).to_string();
        assert!(callback.starts_with("/api/v1/auth/oidc/callback?code="), "{callback}");
        (callback, state_cookie)
    }

    fn callback(&self, callback: &str, state_cookie: &str, accept: Option<&str>) -> Answer {
        let mut headers = vec![("Cookie", state_cookie)];
        if let Some(a) = accept {
            headers.push(("Accept", a));
        }
        send(self.sluice, "GET", callback, &headers, None)
    }

    fn sign_in(&self, next: &str) -> Answer {
        let (callback, state_cookie) = self.start(next);
        self.callback(&callback, &state_cookie, None)
    }

    /// A sign-in that must be refused with `code`, whose message contains `says`.
    fn refused(&self, code: &str, says: &str) -> Answer {
        let a = self.sign_in("/");
        assert_eq!(a.json()["error"]["code"], code, "{}", a.body);
        let message = a.json()["error"]["message"].as_str().unwrap_or_default().to_string();
        assert!(message.contains(says), "{message}");
        assert!(cookie(&a, "sluice_session").is_none(), "a refused sign-in starts no session");
        a
    }
}

fn urlencode(s: &str) -> String {
    serde_urlencoded::to_string([("x", s)]).unwrap().trim_start_matches("x=").to_string()
}

fn run(name: &str, db: &Db) {
    let provider = Provider::start(
        CLIENT_ID,
        CLIENT_SECRET,
        json!({"sub": "subject-olivia", "preferred_username": "Olivia", "email": "olivia@corp.example",
            "name": "Olivia Ortiz", "groups": ["staff", "finance"]}),
    );
    let config = ServeConfig { database_url: db.url(), log_dir: db.log_dir(name), env: vec![], address_space: None };
    let serve = Serve::start(&config, name);
    let addr = serve.addr;
    let flow = Flow { sluice: addr, provider: &provider };

    // Not configured: the sign-in page offers no provider; start is 404.
    let methods = send(addr, "GET", "/api/v1/auth/methods", &[], None);
    assert_eq!((methods.status, methods.json()["oidc"].clone()), (200, Value::Null), "{}", methods.body);
    let start = send(addr, "GET", "/api/v1/auth/oidc/start", &[], None);
    assert_eq!((start.status, start.json()["error"]["code"].as_str()), (404, Some("oidc_not_configured")));

    // The admin configures it (a participant may not); the secret is never answered.
    let body = json!({"discovery_url": provider.issuer(), "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET,
        "groups_claim": "groups", "name": "Corp SSO"});
    let user = json!({"username": "pat", "name": "Pat", "email": "pat@corp.example", "roles": ["participant"]});
    let pat = admin(addr, "POST", "/api/v1/users", Some(user)).json();
    let token = admin(
        addr,
        "POST",
        &format!("/api/v1/users/{}/tokens", pat["id"].as_str().unwrap()),
        Some(json!({"name": "t"})),
    );
    let pat_auth = format!("Bearer {}", token.json()["token"].as_str().unwrap());
    let refused = send(addr, "PUT", "/api/v1/auth/oidc", &[("Authorization", &pat_auth)], Some(&body));
    assert_eq!((refused.status, refused.json()["error"]["code"].as_str()), (403, Some("forbidden")));
    let bad = admin(
        addr,
        "PUT",
        "/api/v1/auth/oidc",
        Some(json!({"discovery_url": "http://idp.example", "client_id": "x", "client_secret": "y"})),
    );
    assert_eq!((bad.status, bad.json()["error"]["field"].as_str()), (400, Some("discovery_url")), "{}", bad.body);
    let put = admin(addr, "PUT", "/api/v1/auth/oidc", Some(body));
    assert_eq!(put.status, 200, "{}", put.body);
    let got = admin(addr, "GET", "/api/v1/auth/oidc", None);
    for shown in [&put, &got] {
        let v = shown.json();
        assert_eq!(v["discovery_url"], provider.discovery_url());
        assert_eq!(
            (v["client_secret_set"].as_bool(), v["role_for_new_users"].as_str()),
            (Some(true), Some("participant"))
        );
        assert_eq!(v["redirect_uri"], format!("{PUBLIC_URL}/api/v1/auth/oidc/callback"));
        assert!(!shown.body.contains(CLIENT_SECRET), "{}", shown.body);
    }
    let methods = send(addr, "GET", "/api/v1/auth/methods", &[], None).json();
    assert_eq!(methods["oidc"]["name"], "Corp SSO");

    // Signing in: start → provider → callback, then on to `next` with the session cookies.
    let signed_in = flow.sign_in("/requests?status=active");
    assert_eq!(signed_in.status, 303, "{}", signed_in.body);
    assert_eq!(signed_in.header("location"), Some("/requests?status=active"));
    let (session, full) = cookie(&signed_in, "sluice_session").expect("a session cookie");
    for flag in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(full.split(';').any(|p| p.trim() == flag), "{flag} missing: {full}");
    }
    let (csrf_cookie, _) = cookie(&signed_in, "sluice_csrf").expect("a CSRF cookie");
    let (_, cleared) = cookie(&signed_in, "sluice_oidc_state").expect("the state cookie is cleared");
    assert!(cleared.contains("Max-Age=0"), "{cleared}");
    let asked = provider.shared().authorize_requests.last().cloned().unwrap();
    assert_eq!(asked["code_challenge_method"], "S256");
    assert_eq!(asked["scope"], "openid email profile groups");
    assert_eq!(asked["redirect_uri"], format!("{PUBLIC_URL}/api/v1/auth/oidc/callback"));
    assert!(asked["nonce"].len() >= 32 && asked["state"].len() >= 32, "{asked:?}");
    let me = send(addr, "GET", "/api/v1/me", &[("Cookie", &session)], None);
    assert_eq!(me.status, 200, "{}", me.body);
    let me = me.json();
    assert_eq!((me["username"].as_str(), me["email"].as_str()), (Some("olivia"), Some("olivia@corp.example")));
    assert_eq!((me["roles"].clone(), me["groups"].clone()), (json!(["participant"]), json!(["finance", "staff"])));
    assert_eq!(me["name"], "Olivia Ortiz");
    // The session is a session like any: a write needs the CSRF token of its cookie.
    let csrf = csrf_cookie.trim_start_matches("sluice_csrf=").to_string();
    let out = send(addr, "DELETE", "/api/v1/session", &[("Cookie", &session)], None);
    assert_eq!((out.status, out.json()["error"]["code"].as_str()), (403, Some("csrf")));
    let out = send(addr, "DELETE", "/api/v1/session", &[("Cookie", &session), ("X-CSRF-Token", &csrf)], None);
    assert_eq!(out.status, 204);

    // The next sign-in is the same user, with the groups the claim has now; `next` to another
    // site goes home instead.
    // An email the provider did not verify is not taken.
    provider.shared().user["groups"] = json!(["ops"]);
    provider.shared().user["email"] = json!("someone-else@evil.example");
    provider.shared().user["email_verified"] = json!(false);
    let again = flow.sign_in("//evil.example/");
    assert_eq!((again.status, again.header("location")), (303, Some("/")), "{}", again.body);
    let (session, _) = cookie(&again, "sluice_session").unwrap();
    let me = send(addr, "GET", "/api/v1/me", &[("Cookie", &session)], None).json();
    assert_eq!((me["id"].clone(), me["groups"].clone()), (got_id(&addr, "olivia"), json!(["ops"])));
    assert_eq!(me["email"], "olivia@corp.example");

    // A state changed on the way, one this browser did not start, and one used before.
    let (callback, state_cookie) = flow.start("/");
    let tampered = callback.replacen("state=", "state=0", 1);
    let a = flow.callback(&tampered, &state_cookie, None);
    assert_eq!((a.status, a.json()["error"]["code"].as_str()), (400, Some("invalid_oidc_state")), "{}", a.body);
    let forged_cookie = format!("sluice_oidc_state={}", tampered.rsplit("state=").next().unwrap());
    let a = flow.callback(&tampered, &forged_cookie, None);
    assert_eq!((a.status, a.json()["error"]["code"].as_str()), (400, Some("invalid_oidc_state")), "{}", a.body);
    let a = flow.callback(&callback, &state_cookie, None);
    assert_eq!(a.status, 303, "the untouched one still works: {}", a.body);
    let a = flow.callback(&callback, &state_cookie, None);
    assert_eq!((a.status, a.json()["error"]["code"].as_str()), (400, Some("oidc_state_used")), "{}", a.body);

    // ID tokens that are wrong in one way each.
    for (fault, says) in [
        (Fault::WrongNonce, "nonce"),
        (Fault::BadSignature, "signature"),
        (Fault::Expired, "expired"),
        (Fault::WrongAudience, "not for this client"),
    ] {
        provider.shared().fault = fault;
        let a = flow.refused("invalid_id_token", says);
        assert_eq!(a.status, 401, "{fault:?}: {}", a.body);
    }
    // A key the JWKS does not have: read again once (a rotation; not more than once a second),
    // then refused.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let reads = provider.shared().jwks_reads;
    provider.shared().fault = Fault::UnknownKid;
    flow.refused("invalid_id_token", "no key");
    assert_eq!(provider.shared().jwks_reads, reads + 1, "the JWKS is read again for an unknown kid");
    // A browser is sent to the sign-in page, which shows the error.
    provider.shared().fault = Fault::Expired;
    let (callback, state_cookie) = flow.start("/");
    let a = flow.callback(&callback, &state_cookie, Some("text/html,application/xhtml+xml"));
    assert_eq!((a.status, a.header("location")), (303, Some("/login?oidc_error=invalid_id_token")), "{}", a.body);
    provider.shared().fault = Fault::None;

    // A provider user named like the built-in admin does not become it.
    provider.shared().user = json!({"sub": "someone-else", "preferred_username": "admin"});
    let a = flow.refused("oidc_user_conflict", "built-in administrator");
    assert_eq!(a.status, 403);

    // The audit log: sign-ins and refusals with the method, the configuration; no secret.
    let audit = admin(addr, "GET", "/api/v1/audit?limit=1000", None);
    let entries = audit.json()["entries"].as_array().unwrap().clone();
    let oidc_sign_ins = entries.iter().filter(|e| e["action"] == "sign_in" && e["details"]["method"] == "oidc").count();
    assert_eq!(oidc_sign_ins, 3, "{}", audit.body);
    let failures: Vec<&str> = entries
        .iter()
        .filter(|e| e["action"] == "sign_in_failed" && e["details"]["method"] == "oidc")
        .filter_map(|e| e["details"]["reason"].as_str())
        .collect();
    for reason in ["invalid_oidc_state", "oidc_state_used", "invalid_id_token", "oidc_user_conflict"] {
        assert!(failures.contains(&reason), "{reason} not audited: {failures:?}");
    }
    assert!(entries.iter().any(|e| e["action"] == "oidc_configured" && e["actor"] == "admin"));
    assert!(!audit.body.contains(CLIENT_SECRET), "the audit log holds the client secret");

    // Off again: the sign-in page no longer offers it.
    assert_eq!(admin(addr, "DELETE", "/api/v1/auth/oidc", None).status, 204);
    assert_eq!(send(addr, "GET", "/api/v1/auth/methods", &[], None).json()["oidc"], Value::Null);
    assert_eq!(send(addr, "GET", "/api/v1/auth/oidc/start", &[], None).status, 404);
    let log = serve.log_tail();
    assert!(!log.contains(CLIENT_SECRET), "the log holds the client secret: {log}");
}

/// The id of a user by username (as the admin).
fn got_id(addr: &SocketAddr, username: &str) -> Value {
    let users = admin(*addr, "GET", "/api/v1/users", None).json();
    users["users"].as_array().unwrap().iter().find(|u| u["username"] == username).map(|u| u["id"].clone()).unwrap()
}

#[test]
fn oidc_sign_in_on_sqlite() {
    let name = "oidc-sqlite";
    run(name, &Db::sqlite(name));
}

#[test]
fn oidc_sign_in_on_postgres() {
    let Some(db) = Db::postgres("oidc::oidc_sign_in_on_postgres") else {
        return;
    };
    run("oidc-postgres", &db);
}
