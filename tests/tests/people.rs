//! People end to end, over HTTP with the real binary, on SQLite and on PostgreSQL: an admin
//! creates a designer and participants with tokens; roles are enforced (403 naming the role); a
//! participant sees their own Request and not another's (404); a revoked token gets 401 at once;
//! signing in sets the cookie flags; a write with the session cookie needs the CSRF header;
//! wrong passwords get rate-limited; the audit log tells who did what, without secrets.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;

use serde_json::{Value, json};
use sluice_tests::db::Db;
use sluice_tests::server::{Answer, Serve, ServeConfig, TOKEN, must_exchange};

const LEAVE: &str = r#"<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d" targetNamespace="urn:people">
  <bpmn:process id="leave" name="Leave request" isExecutable="true">
    <bpmn:startEvent id="start"/>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="approve"/>
    <bpmn:userTask id="approve" name="Approve the leave"/>
    <bpmn:sequenceFlow id="f2" sourceRef="approve" targetRef="end"/>
    <bpmn:endEvent id="end"/>
  </bpmn:process>
</bpmn:definitions>"#;

const PASSWORD: &str = "correct horse battery staple";

/// A client of one server: calls with a bearer token, a cookie, or nothing.
struct Client {
    addr: SocketAddr,
}

impl Client {
    fn send(&self, method: &str, path: &str, headers: &[(&str, &str)], body: Option<(&str, &[u8])>) -> Answer {
        let mut all: Vec<(&str, &str)> = headers.to_vec();
        let bytes = match body {
            Some((content_type, bytes)) => {
                all.push(("Content-Type", content_type));
                bytes
            }
            None => b"",
        };
        must_exchange(self.addr, method, path, &all, bytes)
    }

    fn as_token(&self, token: &str, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let auth = format!("Bearer {token}");
        let text = body.map(|b| b.to_string());
        let a = self.send(
            method,
            path,
            &[("Authorization", &auth)],
            text.as_deref().map(|t| ("application/json", t.as_bytes())),
        );
        (a.status, a.json())
    }

    fn admin(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        self.as_token(TOKEN, method, path, body)
    }

    /// Creates a user with `roles` and a password, and a token for them: (id, token).
    fn user_with_token(&self, username: &str, roles: &[&str]) -> (String, String) {
        let body = json!({"username": username, "name": username, "email": format!("{username}@example.com"),
            "password": PASSWORD, "roles": roles, "groups": ["staff"]});
        let (status, user) = self.admin("POST", "/api/v1/users", Some(body));
        assert_eq!(status, 201, "{user}");
        assert!(user.get("password").is_none(), "{user}");
        let id = user["id"].as_str().unwrap().to_string();
        let (status, token) = self.admin("POST", &format!("/api/v1/users/{id}/tokens"), Some(json!({"name": "e2e"})));
        assert_eq!(status, 201, "{token}");
        (id, token["token"].as_str().unwrap().to_string())
    }
}

fn run(name: &str, db: &Db) {
    // https: the session cookie must be `Secure`.
    let config = ServeConfig {
        database_url: db.url(),
        log_dir: db.log_dir(name),
        env: vec![("SLUICE_PUBLIC_URL".into(), "https://sluice.example".into())],
        address_space: None,
    };
    let serve = Serve::start(&config, name);
    let c = Client { addr: serve.addr };

    // The configured token is the built-in admin's.
    let (status, me) = c.admin("GET", "/api/v1/me", None);
    assert_eq!((status, me["username"].as_str(), me["roles"].clone()), (200, Some("admin"), json!(["admin"])));

    let (_, designer) = c.user_with_token("dora", &["designer"]);
    let (ann_id, ann) = c.user_with_token("ann", &["participant"]);
    let (_, bob) = c.user_with_token("bob", &["participant"]);

    // A participant cannot deploy: 403 naming `designer`; the designer can.
    let deploy = |token: &str| {
        let auth = format!("Bearer {token}");
        c.send("POST", "/api/v1/processes", &[("Authorization", &auth)], Some(("application/xml", LEAVE.as_bytes())))
    };
    let refused = deploy(&ann);
    assert_eq!(refused.status, 403, "{}", refused.body);
    assert_eq!(refused.json()["error"]["code"], "forbidden");
    assert!(refused.json()["error"]["message"].as_str().unwrap().contains("`designer`"), "{}", refused.body);
    assert_eq!(deploy(&designer).status, 201);
    // ... and the designer cannot start or list Requests.
    let (status, e) = c.as_token(&designer, "GET", "/api/v1/requests", None);
    assert_eq!(status, 403, "{e}");

    // Each participant starts a Request; each sees their own and not the other's.
    let start = |token: &str| {
        let (status, r) =
            c.as_token(token, "POST", "/api/v1/processes/leave/requests", Some(json!({"data": {"days": 3}})));
        assert_eq!(status, 201, "{r}");
        r
    };
    let mine = start(&ann);
    assert_eq!(mine["started_by"], "ann");
    let theirs = start(&bob);
    let (mine_id, theirs_id) = (mine["id"].as_str().unwrap(), theirs["id"].as_str().unwrap());
    let (status, r) = c.as_token(&ann, "GET", &format!("/api/v1/requests/{mine_id}"), None);
    assert_eq!((status, r["started_by"].as_str()), (200, Some("ann")), "{r}");
    let (status, e) = c.as_token(&ann, "GET", &format!("/api/v1/requests/{theirs_id}"), None);
    assert_eq!((status, e["error"]["code"].as_str()), (404, Some("request_not_found")), "{e}");
    let (_, list) = c.as_token(&ann, "GET", "/api/v1/requests", None);
    let ids: Vec<&str> = list["requests"].as_array().unwrap().iter().map(|r| r["id"].as_str().unwrap()).collect();
    assert_eq!(ids, [mine_id]);
    let (_, list) = c.admin("GET", "/api/v1/requests", None);
    assert_eq!(list["requests"].as_array().unwrap().len(), 2, "the admin sees every Request");
    // Her task: she completes it, and it records who.
    let (_, tasks) = c.as_token(&ann, "GET", "/api/v1/tasks?status=active", None);
    let tasks = tasks["tasks"].as_array().unwrap().clone();
    assert_eq!(tasks.len(), 1);
    let (status, done) =
        c.as_token(&ann, "POST", &format!("/api/v1/tasks/{}/complete", tasks[0]["id"].as_str().unwrap()), None);
    assert_eq!((status, done["completed_by"].as_str()), (200, Some("ann")), "{done}");

    // A revoked token stops working at once.
    let (_, listed) = c.as_token(&bob, "GET", "/api/v1/me", None);
    let bob_id = listed["id"].as_str().unwrap().to_string();
    let (_, tokens) = c.as_token(&bob, "GET", &format!("/api/v1/users/{bob_id}/tokens"), None);
    let token_id = tokens["tokens"][0]["id"].as_str().unwrap().to_string();
    assert!(tokens.to_string().find(&bob).is_none(), "a listing never shows the token");
    let (status, _) = c.as_token(&bob, "DELETE", &format!("/api/v1/tokens/{token_id}"), None);
    assert_eq!(status, 204);
    let (status, e) = c.as_token(&bob, "GET", "/api/v1/me", None);
    assert_eq!((status, e["error"]["code"].as_str()), (401, Some("unauthorized")), "{e}");
    // Another user's token is not found for a participant.
    let (_, ann_tokens) = c.as_token(&ann, "GET", &format!("/api/v1/users/{ann_id}/tokens"), None);
    let ann_token = ann_tokens["tokens"][0]["id"].as_str().unwrap().to_string();
    let (_, carl) = c.user_with_token("carl", &["participant"]);
    let (status, _) = c.as_token(&carl, "DELETE", &format!("/api/v1/tokens/{ann_token}"), None);
    assert_eq!(status, 404);

    // Signing in: the session cookie's flags, the CSRF token for writes.
    let sign_in = |username: &str, password: &str| {
        let body = json!({"username": username, "password": password}).to_string();
        c.send("POST", "/api/v1/session", &[], Some(("application/json", body.as_bytes())))
    };
    let session = sign_in("Ann", PASSWORD);
    assert_eq!(session.status, 200, "{}", session.body);
    let cookie = session.set_cookies.iter().find(|c| c.starts_with("sluice_session=")).expect("a session cookie");
    for flag in ["HttpOnly", "SameSite=Strict", "Secure", "Path=/"] {
        assert!(cookie.split(';').any(|part| part.trim() == flag), "{flag} missing: {cookie}");
    }
    let csrf_cookie = session.set_cookies.iter().find(|c| c.starts_with("sluice_csrf=")).expect("a CSRF cookie");
    assert!(!csrf_cookie.contains("HttpOnly"), "the web app reads it: {csrf_cookie}");
    let csrf = session.json()["csrf_token"].as_str().unwrap().to_string();
    let cookie = cookie.split(';').next().unwrap().to_string();
    let me = c.send("GET", "/api/v1/me", &[("Cookie", &cookie)], None);
    assert_eq!((me.status, me.json()["username"].as_str()), (200, Some("ann")));
    let start_body = json!({"data": {}}).to_string();
    let write = c.send(
        "POST",
        "/api/v1/processes/leave/requests",
        &[("Cookie", &cookie)],
        Some(("application/json", start_body.as_bytes())),
    );
    assert_eq!((write.status, write.json()["error"]["code"].as_str()), (403, Some("csrf")), "{}", write.body);
    let write = c.send(
        "POST",
        "/api/v1/processes/leave/requests",
        &[("Cookie", &cookie), ("X-CSRF-Token", &csrf)],
        Some(("application/json", start_body.as_bytes())),
    );
    assert_eq!((write.status, write.json()["started_by"].as_str()), (201, Some("ann")), "{}", write.body);
    let out = c.send("DELETE", "/api/v1/session", &[("Cookie", &cookie), ("X-CSRF-Token", &csrf)], None);
    assert_eq!(out.status, 204);
    assert_eq!(
        c.send("GET", "/api/v1/me", &[("Cookie", &cookie)], None).status,
        401,
        "the session ended on the server"
    );

    // Changing one's own password: the current one is needed; the other sessions end, this one
    // stays; the new password signs in and the old one no longer does.
    let open = |password: &str| {
        let s = sign_in("ann", password);
        assert_eq!(s.status, 200, "{}", s.body);
        let cookie = s.set_cookies.iter().find(|c| c.starts_with("sluice_session=")).unwrap();
        (cookie.split(';').next().unwrap().to_string(), s.json()["csrf_token"].as_str().unwrap().to_string())
    };
    let (here, here_csrf) = open(PASSWORD);
    let (other, _) = open(PASSWORD);
    let change = |current: &str, new: &str| {
        let body = json!({"current_password": current, "new_password": new}).to_string();
        let headers = [("Cookie", here.as_str()), ("X-CSRF-Token", here_csrf.as_str())];
        c.send("PUT", "/api/v1/me/password", &headers, Some(("application/json", body.as_bytes())))
    };
    let wrong = change("not ann's passphrase", "a brand new passphrase");
    assert_eq!((wrong.status, wrong.json()["error"]["code"].as_str()), (403, Some("wrong_password")), "{}", wrong.body);
    let short = change(PASSWORD, "short");
    assert_eq!((short.status, short.json()["error"]["field"].as_str()), (400, Some("new_password")), "{}", short.body);
    assert_eq!(change(PASSWORD, "a brand new passphrase").status, 204);
    assert_eq!(c.send("GET", "/api/v1/me", &[("Cookie", &other)], None).status, 401, "the other session ended");
    assert_eq!(c.send("GET", "/api/v1/me", &[("Cookie", &here)], None).status, 200, "this session stays");
    assert_eq!(sign_in("ann", PASSWORD).status, 401);
    let _ = open("a brand new passphrase");

    // Wrong passwords: the same answer as an unknown user, then 429 with Retry-After.
    let unknown = sign_in("nobody", PASSWORD);
    let wrong = sign_in("bob", "not bob's passphrase");
    assert_eq!((unknown.status, wrong.status), (401, 401));
    assert_eq!(unknown.json(), wrong.json());
    for _ in 0..4 {
        assert_eq!(sign_in("bob", "not bob's passphrase").status, 401);
    }
    let limited = sign_in("bob", PASSWORD);
    assert_eq!((limited.status, limited.json()["error"]["code"].as_str()), (429, Some("too_many_attempts")));
    let wait: u64 = limited.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=900).contains(&wait), "{wait}");

    // The audit log: admin only; who did what; no secret.
    let (status, _) = c.as_token(&ann, "GET", "/api/v1/audit", None);
    assert_eq!(status, 403);
    let (status, audit) = c.admin("GET", "/api/v1/audit?limit=1000", None);
    assert_eq!(status, 200, "{audit}");
    let actions: Vec<&str> =
        audit["entries"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
    for action in [
        "user_created",
        "token_created",
        "process_deployed",
        "task_completed",
        "token_revoked",
        "sign_in",
        "sign_out",
        "sign_in_failed",
        "password_changed",
        "password_change_failed",
    ] {
        assert!(actions.contains(&action), "{action} is not in the audit log: {actions:?}");
    }
    let deployed = audit["entries"].as_array().unwrap().iter().find(|e| e["action"] == "process_deployed").unwrap();
    assert_eq!((deployed["actor"].as_str(), deployed["target"].as_str()), (Some("dora"), Some("leave")));
    assert!(deployed["client"].as_str().is_some_and(|a| a == "127.0.0.1"), "{deployed}");
    let text = audit.to_string();
    for secret in
        ["a brand new passphrase", PASSWORD, TOKEN, designer.as_str(), ann.as_str(), bob.as_str(), csrf.as_str()]
    {
        assert!(!text.contains(secret), "the audit log holds a secret: {text}");
    }
    let (_, by_dora) = c.admin("GET", "/api/v1/audit?actor=dora", None);
    assert!(by_dora["entries"].as_array().unwrap().iter().all(|e| e["actor"] == "dora"));
}

#[test]
fn people_over_http_on_sqlite() {
    let name = "people-sqlite";
    run(name, &Db::sqlite(name));
}

#[test]
fn people_over_http_on_postgres() {
    let Some(db) = Db::postgres("people::people_over_http_on_postgres") else {
        return;
    };
    run("people-postgres", &db);
}
