//! Slack workspace integrations end to end: the real `sluice serve` binary with the fake Slack
//! (Web API and install page): the Slack app's settings, OAuth installs and their states, bot
//! tokens, rotating tokens, channel listings, and no secret (the button key included) in plain
//! text in the database.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use sluice_fake_slack::{self as fake, FakeSlack};
use sluice_tests::server::{self, Answer, Spawned, free_port};
use sluice_tests::{bpmn, scratch_dir};

const TOKEN: &str = "test-token-0123456789";
const PUBLIC_URL: &str = "http://sluice.example";
const CALLBACK: &str = "/api/v1/integrations/slack/oauth/callback";
const SIGNING_SECRET: &str = "plain-signing-secret-1234";
/// A bot token of a second workspace of the fake.
const OTHER_TOKEN: &str = "xoxb-other-workspace";

/// One HTTP/1.1 exchange on a fresh connection to `addr` (see `sluice_tests::server::exchange`).
fn http(addr: SocketAddr, auth: bool, method: &str, path: &str, body: Option<&Value>) -> Answer {
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let bearer = format!("Bearer {TOKEN}");
    let mut headers = Vec::new();
    if auth {
        headers.push(("Authorization", bearer.as_str()));
    }
    if !body.is_empty() {
        headers.push(("Content-Type", "application/json"));
    }
    server::must_exchange(addr, method, path, &headers, body.as_bytes())
}

/// The error code of an API error answer.
fn error_code(a: &Answer) -> String {
    a.json()["error"]["code"].as_str().unwrap_or_default().to_string()
}

/// `scheme://host:port/path?query` → (addr, "/path?query").
fn split_url(url: &str) -> (SocketAddr, String) {
    let rest = url.split_once("://").map(|(_, r)| r).unwrap_or(url);
    let (host, path) = rest.split_once('/').map(|(h, p)| (h, format!("/{p}"))).unwrap_or((rest, "/".into()));
    (host.parse().unwrap_or_else(|_| panic!("not an ip:port URL: {url}")), path)
}

fn query_of(url: &str) -> HashMap<String, String> {
    let query = url.split_once('?').map(|(_, q)| q).unwrap_or_default();
    serde_urlencoded::from_str::<Vec<(String, String)>>(query).unwrap().into_iter().collect()
}

/// A running `sluice serve`; killed when dropped.
struct Server {
    serve: Spawned,
    addr: SocketAddr,
    dir: PathBuf,
}

impl Server {
    fn command(dir: &Path, addr: SocketAddr, slack: &FakeSlack) -> Command {
        let mut cmd = server::serve_command(dir, addr, TOKEN);
        cmd.env("SLACK_API_URL", slack.api_url()).env("SLACK_OAUTH_AUTHORIZE_URL", slack.authorize_url());
        for var in
            ["SLUICE_SECRET_KEY", "SLACK_BOT_TOKEN", "SLACK_CLIENT_ID", "SLACK_CLIENT_SECRET", "SLACK_SIGNING_SECRET"]
        {
            cmd.env_remove(var);
        }
        cmd
    }

    fn start(name: &str, slack: &FakeSlack, tune: impl FnOnce(&mut Command)) -> Server {
        let dir = scratch_dir(name);
        Server::start_in(dir, slack, tune)
    }

    fn start_in(dir: PathBuf, slack: &FakeSlack, tune: impl FnOnce(&mut Command)) -> Server {
        let addr = free_port();
        let mut cmd = Server::command(&dir, addr, slack);
        tune(&mut cmd);
        Server { serve: Spawned::start(&mut cmd, addr), addr, dir }
    }

    fn call(&self, method: &str, path: &str, body: Option<Value>) -> Answer {
        http(self.addr, true, method, path, body.as_ref())
    }

    fn get(&self, path: &str) -> Answer {
        self.call("GET", path, None)
    }

    fn set_app(&self, client_secret: &str) {
        let body = json!({"client_id": fake::DEFAULT_CLIENT_ID, "client_secret": client_secret, "signing_secret": SIGNING_SECRET});
        let a = self.call("PUT", "/api/v1/admin/slack-app", Some(body));
        assert_eq!(a.status, 200, "{}", a.body);
        assert!(!a.body.contains(client_secret) && !a.body.contains(SIGNING_SECRET), "a secret came back: {}", a.body);
    }

    /// Starts an install of `alias`; answers Slack's authorize URL from the 302.
    fn install(&self, alias: &str) -> String {
        let a = self.get(&format!("/api/v1/integrations/slack/install?alias={alias}"));
        assert_eq!(a.status, 302, "{}", a.body);
        let location = a.header("location").expect("a Location header").to_string();
        assert_eq!(a.json()["url"], json!(location));
        location
    }

    /// The admin's browser on Slack's install page: answers the callback path Slack sends it back to.
    fn approve(&self, authorize_url: &str) -> String {
        let (addr, path) = split_url(authorize_url);
        let a = http(addr, false, "GET", &path, None);
        assert_eq!(a.status, 302, "the fake's install page: {}", a.body);
        let back = a.header("location").unwrap();
        let path = back.strip_prefix(PUBLIC_URL).unwrap_or_else(|| panic!("redirected elsewhere: {back}"));
        assert!(path.starts_with(CALLBACK), "{path}");
        path.to_string()
    }

    /// The browser back at the callback: no API token.
    fn callback(&self, path: &str) -> Answer {
        http(self.addr, false, "GET", path, None)
    }

    fn oauth_install(&self, alias: &str) -> Value {
        let url = self.install(alias);
        let a = self.callback(&self.approve(&url));
        assert_eq!(a.status, 200, "{}", a.body);
        a.json()
    }

    fn integrations(&self) -> Value {
        let a = self.get("/api/v1/integrations/slack");
        assert_eq!(a.status, 200, "{}", a.body);
        assert!(!a.body.contains("xox"), "a token came back: {}", a.body);
        a.json()
    }

    fn channels(&self, alias: &str, refresh: bool) -> Answer {
        self.get(&format!("/api/v1/integrations/slack/{alias}/channels{}", if refresh { "?refresh=true" } else { "" }))
    }

    fn terminate(&mut self) {
        self.serve.terminate();
    }
}

/// The fake Slack on a runtime of its own: the default workspace plus a second one, no Tier 2
/// limit on `conversations.list` unless a test sets one.
fn fake_slack(tune: impl FnOnce(&mut fake::Config)) -> (tokio::runtime::Runtime, FakeSlack) {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let mut config =
        fake::Config { post_interval: Duration::from_millis(10), list_rate_limit: None, ..Default::default() };
    config.workspaces.push(
        fake::Workspace::new("T0OTHER", "Other Co")
            .bot("U0OTHERBOT", "B0OTHER")
            .token(OTHER_TOKEN, fake::SLUICE_SCOPES)
            .channel(fake::Channel::public("C0OTHER", "elsewhere").member()),
    );
    tune(&mut config);
    let slack = rt.block_on(FakeSlack::start(config)).unwrap();
    (rt, slack)
}

fn names(channels: &Value) -> Vec<String> {
    channels["channels"].as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap().to_string()).collect()
}

#[test]
fn an_oauth_install_goes_through_slack_and_its_state_is_single_use() {
    let (_rt, slack) = fake_slack(|_| {});
    let server = Server::start("slack-oauth", &slack, |_| {});

    // Without the Slack app there is nothing to install with.
    let a = server.get("/api/v1/integrations/slack/install?alias=sales");
    assert_eq!((a.status, error_code(&a).as_str()), (409, "slack_app_not_configured"), "{}", a.body);
    server.set_app(fake::DEFAULT_CLIENT_SECRET);

    // The install needs the API token; the answer sends the browser to Slack with everything.
    let a = http(server.addr, false, "GET", "/api/v1/integrations/slack/install?alias=sales", None);
    assert_eq!(a.status, 401);
    let a = server.get("/api/v1/integrations/slack/install");
    assert_eq!((a.status, error_code(&a).as_str()), (400, "bad_request"), "{}", a.body);
    let a = server.get("/api/v1/integrations/slack/install?alias=no%20spaces");
    assert_eq!((a.status, error_code(&a).as_str()), (400, "invalid_alias"), "{}", a.body);
    let url = server.install("sales");
    assert!(url.starts_with(&slack.authorize_url()), "{url}");
    let q = query_of(&url);
    assert_eq!(q["client_id"], fake::DEFAULT_CLIENT_ID);
    assert_eq!(
        q["scope"],
        "chat:write,chat:write.public,channels:read,groups:read,channels:history,groups:history,im:history,\
         im:write,users:read,users:read.email"
    );
    assert_eq!(q["redirect_uri"], format!("{PUBLIC_URL}{CALLBACK}"));
    assert!(q["state"].len() >= 40, "{}", q["state"]);

    // Slack approves and sends the browser back; the callback exchanges the code.
    let back = server.approve(&url);
    assert_eq!(query_of(&back)["state"], q["state"]);
    let a = server.callback(&back);
    assert_eq!(a.status, 200, "{}", a.body);
    let installed = a.json();
    assert_eq!(installed["alias"], "sales");
    assert_eq!(installed["team"], json!({"id": fake::DEFAULT_TEAM_ID, "name": "Sluice Test"}));
    assert_eq!(installed["source"], "oauth");
    assert!(!a.body.contains("xox"), "{}", a.body);
    assert_eq!(slack.calls("oauth.v2.access"), 1);
    let auth = &slack.authorizations()[0];
    let asked = "chat:write,chat:write.public,channels:read,groups:read,channels:history,groups:history,im:history,\
                 im:write,users:read,users:read.email";
    assert_eq!(auth.scopes, asked.split(',').collect::<Vec<_>>());

    let list = server.integrations();
    assert_eq!(list["integrations"].as_array().unwrap().len(), 1);
    assert_eq!(list["integrations"][0]["id"], installed["id"]);
    assert_eq!(list["integrations"][0]["team"]["id"], fake::DEFAULT_TEAM_ID);

    // The same redirect again: the state was used.
    let a = server.callback(&back);
    assert_eq!((a.status, error_code(&a).as_str()), (400, "oauth_state_used"), "{}", a.body);
    assert_eq!(slack.calls("oauth.v2.access"), 1, "a used state never reaches Slack");

    // Forged states: not signed by this server, tampered, missing.
    let url = server.install("sales");
    let back = server.approve(&url);
    let state = query_of(&back)["state"].clone();
    let code = query_of(&back)["code"].clone();
    let (nonce, tag) = state.split_once('.').unwrap();
    let flipped = format!("{nonce}.{}{}", if tag.starts_with('A') { "B" } else { "A" }, &tag[1..]);
    for forged in
        [flipped.as_str(), "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "x", ""]
    {
        let a = server.callback(&format!("{CALLBACK}?code={code}&state={forged}"));
        assert_eq!((a.status, error_code(&a).as_str()), (400, "invalid_oauth_state"), "{forged}: {}", a.body);
    }
    let a = server.callback(&format!("{CALLBACK}?code={code}"));
    assert_eq!((a.status, error_code(&a).as_str()), (400, "invalid_oauth_state"), "{}", a.body);
    assert_eq!(slack.calls("oauth.v2.access"), 1);

    // An admin who cancels on Slack's page comes back with `error`, and the state is used up.
    slack.deny_installs(true);
    let back = server.approve(&server.install("sales"));
    assert!(back.contains("error=access_denied"), "{back}");
    let a = server.callback(&back);
    assert_eq!((a.status, error_code(&a).as_str()), (400, "slack_install_denied"), "{}", a.body);
    assert_eq!(error_code(&server.callback(&back)), "oauth_state_used");
    slack.deny_installs(false);
    assert_eq!(server.integrations()["integrations"].as_array().unwrap().len(), 1);
}

#[test]
fn an_expired_state_is_refused() {
    let (_rt, slack) = fake_slack(|_| {});
    let server = Server::start("slack-expired", &slack, |c| {
        c.env("SLUICE_SLACK_OAUTH_STATE_TTL_SECS", "1");
    });
    server.set_app(fake::DEFAULT_CLIENT_SECRET);
    let back = server.approve(&server.install("sales"));
    std::thread::sleep(Duration::from_millis(1300));
    let a = server.callback(&back);
    assert_eq!((a.status, error_code(&a).as_str()), (400, "oauth_state_expired"), "{}", a.body);
    assert_eq!(slack.calls("oauth.v2.access"), 0);
    assert!(server.integrations()["integrations"].as_array().unwrap().is_empty());
}

#[test]
fn a_wrong_client_secret_is_refused_with_a_clear_error() {
    let (_rt, slack) = fake_slack(|_| {});
    let server = Server::start("slack-bad-secret", &slack, |_| {});
    server.set_app("not-the-client-secret");
    let back = server.approve(&server.install("sales"));
    let a = server.callback(&back);
    assert_eq!((a.status, error_code(&a).as_str()), (422, "slack_oauth_failed"), "{}", a.body);
    let message = a.json()["error"]["message"].as_str().unwrap().to_string();
    assert!(message.contains("bad_client_secret") && message.contains("client secret is wrong"), "{message}");
    assert!(server.integrations()["integrations"].as_array().unwrap().is_empty());

    // With the right secret the next install goes through.
    server.set_app(fake::DEFAULT_CLIENT_SECRET);
    assert_eq!(server.oauth_install("sales")["team"]["id"], fake::DEFAULT_TEAM_ID);
}

#[test]
fn bot_tokens_are_checked_and_reinstalling_an_alias_replaces_its_token() {
    let (_rt, slack) = fake_slack(|_| {});
    let server = Server::start("slack-tokens", &slack, |_| {});
    let register = |alias: &str, token: &str| {
        server.call("POST", "/api/v1/integrations/slack", Some(json!({"alias": alias, "bot_token": token})))
    };

    let a = register("ops", OTHER_TOKEN);
    assert_eq!(a.status, 201, "{}", a.body);
    let ops = a.json();
    assert_eq!(ops["alias"], "ops");
    assert_eq!(ops["team"], json!({"id": "T0OTHER", "name": "Other Co"}));
    assert!(ops["id"].as_str().unwrap().len() == 36, "{ops}");
    assert!(!a.body.contains("xox"), "{}", a.body);

    let a = register("bad", "xoxb-nobody-knows");
    assert_eq!((a.status, error_code(&a).as_str()), (422, "slack_auth_failed"), "{}", a.body);
    assert!(a.body.contains("invalid_auth"), "{}", a.body);
    let a = register("bad", "");
    assert_eq!(a.status, 400, "{}", a.body);
    let a = register("bad alias", fake::DEFAULT_TOKEN);
    assert_eq!((a.status, error_code(&a).as_str()), (400, "invalid_alias"), "{}", a.body);
    let a = server.call("POST", "/api/v1/integrations/slack", Some(json!({"alias": "x"})));
    assert_eq!(a.status, 400, "{}", a.body);

    // Reinstall `ops` through OAuth into the other workspace: same id, new team, new token.
    server.set_app(fake::DEFAULT_CLIENT_SECRET);
    let again = server.oauth_install("ops");
    assert_eq!(again["id"], ops["id"]);
    assert_eq!(again["replaced"], true);
    assert_eq!(again["team"]["id"], fake::DEFAULT_TEAM_ID);
    // The old token no longer matters: revoke it and the integration still works.
    slack.revoke_token(OTHER_TOKEN);
    let a = server.channels("ops", true);
    assert_eq!(a.status, 200, "{}", a.body);
    assert!(names(&a.json()).contains(&"general".to_string()), "{}", a.body);
    assert_eq!(server.integrations()["integrations"].as_array().unwrap().len(), 1);

    // Delete: 204, then it is gone.
    let a = server.call("DELETE", "/api/v1/integrations/slack/ops", None);
    assert_eq!(a.status, 204, "{}", a.body);
    let a = server.call("DELETE", "/api/v1/integrations/slack/ops", None);
    assert_eq!((a.status, error_code(&a).as_str()), (404, "integration_not_found"), "{}", a.body);
    let a = server.channels("ops", false);
    assert_eq!((a.status, error_code(&a).as_str()), (404, "integration_not_found"), "{}", a.body);
    assert!(server.integrations()["integrations"].as_array().unwrap().is_empty());
}

#[test]
fn channels_come_from_every_page_and_private_ones_only_with_the_bot() {
    let (_rt, slack) = fake_slack(|c| {
        // Three channels looked at per page: the default workspace's six plus four more make four pages.
        c.list_page_cap = 3;
        let w = &mut c.workspaces[0];
        for i in 0..4 {
            w.channels.push(fake::Channel::public(format!("C0EXTRA{i}"), format!("extra-{i}")));
        }
    });
    let server = Server::start("slack-channels", &slack, |_| {});
    let a = server.call(
        "POST",
        "/api/v1/integrations/slack",
        Some(json!({"alias": "main", "bot_token": fake::DEFAULT_TOKEN})),
    );
    assert_eq!(a.status, 201, "{}", a.body);

    let a = server.channels("main", false);
    assert_eq!(a.status, 200, "{}", a.body);
    let body = a.json();
    let mut got = names(&body);
    got.sort();
    // Public channels (joined or not), the private one the bot is in; not the hidden private one,
    // not the archived one.
    assert_eq!(got, ["extra-0", "extra-1", "extra-2", "extra-3", "general", "random", "sales", "secret"]);
    let secret = body["channels"].as_array().unwrap().iter().find(|c| c["name"] == "secret").unwrap().clone();
    assert_eq!(secret, json!({"id": "G0SECRET", "name": "secret", "is_private": true, "is_member": true}));
    assert!(body["note"].as_str().unwrap().contains("invite"), "{body}");
    assert_eq!(slack.calls("conversations.list"), 4, "every page was read");

    // Cached for a while: no new call.
    assert_eq!(server.channels("main", false).status, 200);
    assert_eq!(slack.calls("conversations.list"), 4);

    // Invited to the hidden private channel, the bot sees it; a 429 on the way is waited out.
    slack.set_member("G0HIDDEN", true);
    slack.fail_next("conversations.list", 1, fake::Failure::RateLimited { retry_after_secs: 1 });
    let started = Instant::now();
    let a = server.channels("main", true);
    assert_eq!(a.status, 200, "{}", a.body);
    assert!(started.elapsed() >= Duration::from_millis(900), "Retry-After was honoured");
    assert!(names(&a.json()).contains(&"hidden".to_string()), "{}", a.body);
    assert_eq!(slack.rate_limited("conversations.list"), 1);
    assert_eq!(slack.calls("conversations.list"), 4 + 1 + 4);

    // Slack keeps limiting for longer than the API waits: 503 with Retry-After, not a hang.
    slack.fail_next("conversations.list", 1, fake::Failure::RateLimited { retry_after_secs: 120 });
    let a = server.channels("main", true);
    assert_eq!((a.status, error_code(&a).as_str()), (503, "slack_rate_limited"), "{}", a.body);
    assert_eq!(a.header("retry-after"), Some("120"));
    // A token Slack revoked asks to reconnect.
    slack.revoke_token(fake::DEFAULT_TOKEN);
    let a = server.channels("main", true);
    assert_eq!((a.status, error_code(&a).as_str()), (422, "slack_auth_failed"), "{}", a.body);
}

/// start → a Slack Notification through the integration `rotating` → end.
fn notify_model() -> String {
    let integration = [bpmn::input("integration", "rotating")];
    bpmn::one_task(
        "notify",
        None,
        bpmn::slack_task("tell", None, "#general", "Order {{ order_id }} is in", &integration),
    )
}

#[test]
fn rotating_tokens_are_refreshed_before_they_expire_and_notifications_use_them() {
    let (_rt, slack) = fake_slack(|_| {});
    slack.set_token_rotation(Some(Duration::from_secs(2)));
    let server = Server::start("slack-rotation", &slack, |_| {});
    server.set_app(fake::DEFAULT_CLIENT_SECRET);
    let installed = server.oauth_install("rotating");
    assert!(installed["token_expires_at"].is_string(), "{installed}");
    assert_eq!(slack.calls("oauth.v2.access"), 1);

    // The token the install gave expires in 2 s; well after that the integration still works,
    // because the refresh happens before use.
    std::thread::sleep(Duration::from_millis(2500));
    let a = server.channels("rotating", true);
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(slack.calls("oauth.v2.access"), 2, "one refresh");

    // The Slack Notification connector finds the integration (and a fresh token) the same way.
    std::thread::sleep(Duration::from_millis(2500));
    let a = raw_post(server.addr, "/api/v1/processes", "application/xml", notify_model().as_bytes());
    assert_eq!(a.status, 201, "{}", a.body);
    let a = server.call("POST", "/api/v1/processes/notify/requests", Some(json!({"data": {"order_id": "ORD-7"}})));
    assert_eq!(a.status, 201, "{}", a.body);
    let id = a.json()["id"].as_str().unwrap().to_string();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let r = server.get(&format!("/api/v1/requests/{id}")).json();
        if r["status"] == "completed" {
            break;
        }
        assert!(r["status"] == "active" && Instant::now() < deadline, "{r}");
        std::thread::sleep(Duration::from_millis(50));
    }
    let posted = slack.messages("C0GENERAL");
    assert_eq!(posted.len(), 1);
    assert!(posted[0].text.contains("ORD-7"), "{:?}", posted[0]);
    assert_eq!(slack.calls("oauth.v2.access"), 3, "refreshed again before posting");
}

fn raw_post(addr: SocketAddr, path: &str, content_type: &str, body: &[u8]) -> Answer {
    let bearer = format!("Bearer {TOKEN}");
    let headers = [("Authorization", bearer.as_str()), ("Content-Type", content_type)];
    server::must_exchange(addr, "POST", path, &headers, body)
}

/// Sets up every kind of secret: the app's client and signing secrets, a registered bot token,
/// an OAuth install with a rotating token and its refresh token, `SLACK_BOT_TOKEN` as `default`.
fn set_up_secrets(server: &Server, slack: &FakeSlack) {
    server.set_app(fake::DEFAULT_CLIENT_SECRET);
    let a = server.call("POST", "/api/v1/integrations/slack", Some(json!({"alias": "ops", "bot_token": OTHER_TOKEN})));
    assert_eq!(a.status, 201, "{}", a.body);
    slack.set_token_rotation(Some(Duration::from_secs(3600)));
    server.oauth_install("sales");
    let list = server.integrations();
    let aliases: Vec<&str> =
        list["integrations"].as_array().unwrap().iter().map(|i| i["alias"].as_str().unwrap()).collect();
    assert_eq!(aliases, ["default", "ops", "sales"]);
}

/// The secrets as they must never appear: plain, and as hex (how PostgreSQL prints bytea).
fn forbidden() -> Vec<(String, Vec<u8>)> {
    let plain = ["xoxb-", "xoxe", fake::DEFAULT_CLIENT_SECRET, SIGNING_SECRET, OTHER_TOKEN, fake::DEFAULT_TOKEN];
    let mut all = Vec::new();
    for p in plain {
        all.push((p.to_string(), p.as_bytes().to_vec()));
        let hex: String = p.bytes().map(|b| format!("{b:02x}")).collect();
        all.push((format!("{p} as hex"), hex.into_bytes()));
    }
    all
}

/// The key of Slack buttons, read from the `settings` value `stored` and opened with the server's
/// secret key (hex): it must be stored sealed, so its plain text must not be found either.
fn open_button_key(stored: &str, secret_key: &str) -> String {
    use base64::Engine;
    let sealed =
        stored.strip_prefix("sealed:v1:").unwrap_or_else(|| panic!("the button key is stored plain: {stored}"));
    let sealed = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(sealed).unwrap();
    let key = sluice_secrets::SecretKey::parse(secret_key, "the test").unwrap();
    let plain = key.open_text("slack_notifications:button_key", &sealed).unwrap();
    assert!(plain.len() >= 32, "{} bytes", plain.len());
    plain
}

fn assert_no_secret(what: &str, bytes: &[u8], button_key: &str) {
    let hex: String = button_key.bytes().map(|b| format!("{b:02x}")).collect();
    let button = [
        ("the button key".to_string(), button_key.as_bytes().to_vec()),
        ("the button key as hex".into(), hex.into_bytes()),
    ];
    for (name, needle) in forbidden().into_iter().chain(button) {
        assert!(!bytes.windows(needle.len()).any(|w| w == needle.as_slice()), "{what} holds {name} in plain text");
    }
}

#[test]
fn the_sqlite_files_hold_no_token_or_secret_in_plain_text() {
    let (_rt, slack) = fake_slack(|_| {});
    let mut server = Server::start("slack-at-rest", &slack, |c| {
        c.env("SLACK_BOT_TOKEN", fake::DEFAULT_TOKEN);
    });
    set_up_secrets(&server, &slack);
    let db = server.dir.join("sluice.db");
    let key_file = PathBuf::from(format!("{}.key", db.display()));
    let stored = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
        let url = format!("sqlite://{}?mode=ro", db.display());
        let pool = sqlx::sqlite::SqlitePoolOptions::new().max_connections(1).connect(&url).await.unwrap();
        let v: String = sqlx::query_scalar("SELECT value FROM settings WHERE key = 'slack_button_key'")
            .fetch_one(&pool)
            .await
            .unwrap();
        pool.close().await;
        v
    });
    let button_key = open_button_key(&stored, &std::fs::read_to_string(&key_file).unwrap());
    let check_files = |when: &str| {
        let mut all = Vec::new();
        for suffix in ["", "-wal", "-shm"] {
            let path = PathBuf::from(format!("{}{suffix}", db.display()));
            if let Ok(bytes) = std::fs::read(&path) {
                assert_no_secret(&format!("{} ({when})", path.display()), &bytes, &button_key);
                all.extend(bytes);
            }
        }
        // The control: what is not secret is there to be found, in plain text.
        assert!(all.windows(8).any(|w| w == b"T0SLUICE"), "the team id is not in the files ({when})");
    };
    check_files("while serving");
    server.terminate();
    check_files("after shutdown");

    // The key sits beside the database, readable by its owner only.
    let key = PathBuf::from(format!("{}.key", db.display()));
    let text = std::fs::read_to_string(&key).unwrap();
    assert_eq!(text.trim().len(), 64, "32 bytes as hex");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&key).unwrap().permissions().mode() & 0o777, 0o600);
    }

    // Another key cannot read these secrets: the server says so and does not start.
    let out =
        Server::command(&server.dir, free_port(), &slack).env("SLUICE_SECRET_KEY", "00".repeat(32)).output().unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("another key"), "{stderr}");
    // A malformed key is refused clearly.
    let out = Server::command(&server.dir, free_port(), &slack).env("SLUICE_SECRET_KEY", "short").output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("32 random bytes"));

    // With its own key file, the restarted server reads them all back.
    let dir = server.dir.clone();
    drop(server);
    let server = Server::start_in(dir.clone(), &slack, |_| {});
    let a = server.channels("sales", true);
    assert_eq!(a.status, 200, "{}", a.body);
    drop(server);

    // A lost key file is not silently replaced by a new key.
    std::fs::rename(&key, dir.join("moved.key")).unwrap();
    let out = Server::command(&dir, free_port(), &slack).output().unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("which is missing"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!key.exists());
}

fn postgres_url(db: &str) -> String {
    let base =
        std::env::var("SLUICE_TEST_POSTGRES_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    match base.rsplit_once('/') {
        Some((server, _)) => format!("{server}/{db}"),
        None => base,
    }
}

#[test]
fn the_postgres_tables_hold_no_token_or_secret_in_plain_text() {
    if !sluice_test_support::postgres_or_skip(
        "slack_integrations::the_postgres_tables_hold_no_token_or_secret_in_plain_text",
    ) {
        return;
    }
    let (rt, slack) = fake_slack(|_| {});
    let db = format!("sluice_secrets_{}", std::process::id());
    let admin_url = postgres_url("test");
    let admin = |sql: String| {
        let url = admin_url.clone();
        rt.block_on(async move {
            let pool = sqlx::postgres::PgPoolOptions::new().max_connections(1).connect(&url).await.unwrap();
            sqlx::raw_sql(&sql).execute(&pool).await.unwrap();
            pool.close().await;
        })
    };
    admin(format!("DROP DATABASE IF EXISTS {db}"));
    admin(format!("CREATE DATABASE {db}"));
    let url = postgres_url(&db);

    // Without SLUICE_SECRET_KEY the server refuses to start, saying why.
    let dir = scratch_dir("slack-pg");
    let out = Server::command(&dir, free_port(), &slack).env("SLUICE_DATABASE_URL", &url).output().unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("SLUICE_SECRET_KEY is required with PostgreSQL"), "{stderr}");

    let key = "11".repeat(32);
    let server = Server::start_in(dir, &slack, |c| {
        c.env("SLUICE_DATABASE_URL", &url).env("SLUICE_SECRET_KEY", &key).env("SLACK_BOT_TOKEN", fake::DEFAULT_TOKEN);
    });
    set_up_secrets(&server, &slack);

    // Every row of every table, as PostgreSQL prints it.
    let dump = rt.block_on(async {
        let pool = sqlx::postgres::PgPoolOptions::new().max_connections(1).connect(&url).await.unwrap();
        let tables: Vec<String> = sqlx::query_scalar(
            "SELECT table_name::text FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE'",
        )
        .fetch_all(&pool)
        .await
        .unwrap();
        assert!(tables.iter().any(|t| t == "slack_integrations"), "{tables:?}");
        let mut dump = String::new();
        for t in &tables {
            let rows: Vec<String> =
                sqlx::query_scalar(&format!("SELECT CAST(t AS TEXT) FROM {t} t")).fetch_all(&pool).await.unwrap();
            dump.push_str(&rows.join("\n"));
        }
        let stored: String = sqlx::query_scalar("SELECT value FROM settings WHERE key = 'slack_button_key'")
            .fetch_one(&pool)
            .await
            .unwrap();
        pool.close().await;
        (dump, stored)
    });
    let (dump, stored) = dump;
    let button_key = open_button_key(&stored, &key);
    assert!(dump.contains("T0SLUICE") && dump.contains("sales"), "the dump has the integrations");
    assert_no_secret("the PostgreSQL dump", dump.as_bytes(), &button_key);
    drop(server);
    admin(format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)"));
}

#[test]
fn slack_unreachable_at_start_is_a_warning_not_a_failure() {
    let (_rt, slack) = fake_slack(|_| {});
    // SLACK_API_URL points at a closed port: SLACK_BOT_TOKEN cannot be checked, the server serves.
    let server = Server::start("slack-down", &slack, |c| {
        c.env("SLACK_API_URL", "http://127.0.0.1:9/api").env("SLACK_BOT_TOKEN", fake::DEFAULT_TOKEN);
    });
    assert!(server.integrations()["integrations"].as_array().unwrap().is_empty());
    let a = server.call("POST", "/api/v1/integrations/slack", Some(json!({"alias": "x", "bot_token": "xoxb-1"})));
    assert_eq!((a.status, error_code(&a).as_str()), (502, "slack_unreachable"), "{}", a.body);
}

/// A model whose one Slack task (`task_id`) names `integration` (`None`: names none).
fn slack_model(key: &str, task_id: &str, integration: Option<&str>) -> String {
    let named = integration.map(|a| format!(r#"<sluice:input name="integration" value="{a}"/>"#)).unwrap_or_default();
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" xmlns:sluice="urn:sluice:bpmn:1" id="d" targetNamespace="urn:t">
  <bpmn:process id="{key}" isExecutable="true">
    <bpmn:startEvent id="start"/>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="{task_id}"/>
    <bpmn:serviceTask id="{task_id}" implementation="slack-notification">
      <bpmn:extensionElements>
        <sluice:input name="channel" value="C0GENERAL"/>
        <sluice:input name="message" value="hello"/>
        {named}
      </bpmn:extensionElements>
    </bpmn:serviceTask>
    <bpmn:sequenceFlow id="f2" sourceRef="{task_id}" targetRef="end"/>
    <bpmn:endEvent id="end"/>
  </bpmn:process>
</bpmn:definitions>"#
    )
}

/// What models and notification settings use is not deleted (unless forced), and a second
/// workspace is not connected while tasks that name no integration rely on the only one.
#[test]
fn integrations_that_models_rely_on_are_not_pulled_from_under_them() {
    let (_rt, slack) = fake_slack(|_| {});
    let server = Server::start("slack-reliance", &slack, |_| {});
    let register = |alias: &str, token: &str| {
        server.call("POST", "/api/v1/integrations/slack", Some(json!({"alias": alias, "bot_token": token})))
    };
    assert_eq!(register("ops", fake::DEFAULT_TOKEN).status, 201);
    let bearer = format!("Bearer {TOKEN}");
    let deploy = |xml: String| {
        let headers = [("Authorization", bearer.as_str()), ("Content-Type", "application/xml")];
        let a = server::exchange(server.addr, "POST", "/api/v1/processes", &headers, xml.as_bytes()).unwrap();
        assert!(a.status == 200 || a.status == 201, "{}", a.body);
    };
    deploy(slack_model("order", "notify", None));
    deploy(slack_model("invoice", "tell", Some("ops")));
    let settings = json!({"integration": "ops", "events": {"request_started": ["C0GENERAL"]}});
    let a = server.call("PUT", "/api/v1/processes/invoice/notifications", Some(settings));
    assert_eq!(a.status, 200, "{}", a.body);

    // A second workspace would leave `order`'s task (it names none) without one.
    let a = register("sales", OTHER_TOKEN);
    assert_eq!((a.status, error_code(&a).as_str()), (409, "integration_name_needed"), "{}", a.body);
    let message = a.json()["error"]["message"].as_str().unwrap().to_string();
    for needle in ["`notify`", "`order`", "`ops`", "`default`"] {
        assert!(message.contains(needle), "{needle}: {message}");
    }
    assert!(!message.contains("`invoice`"), "invoice names its integration: {message}");
    server.set_app(fake::DEFAULT_CLIENT_SECRET);
    let a = server.get("/api/v1/integrations/slack/install?alias=sales");
    assert_eq!((a.status, error_code(&a).as_str()), (409, "integration_name_needed"), "{}", a.body);
    let aliases = |server: &Server| -> Vec<String> {
        let list = server.integrations();
        list["integrations"].as_array().unwrap().iter().map(|i| i["alias"].as_str().unwrap().to_string()).collect()
    };
    assert_eq!(aliases(&server), ["ops"]);
    // Replacing the only one is fine.
    assert_eq!(register("ops", fake::DEFAULT_TOKEN).status, 201);

    // `ops` is in use by all three: the settings of `invoice` and the tasks of both.
    let a = server.call("DELETE", "/api/v1/integrations/slack/ops", None);
    assert_eq!((a.status, error_code(&a).as_str()), (409, "integration_in_use"), "{}", a.body);
    let message = a.json()["error"]["message"].as_str().unwrap().to_string();
    for needle in ["notification settings of `invoice`", "`tell`", "`notify`", "`order`", "force=true"] {
        assert!(message.contains(needle), "{needle}: {message}");
    }
    let a = server.call("DELETE", "/api/v1/integrations/slack/ops?force=perhaps", None);
    assert_eq!((a.status, error_code(&a).as_str()), (400, "invalid_query"), "{}", a.body);

    // Connected as `default`, the second workspace is what nameless tasks use from then on.
    assert_eq!(register("default", OTHER_TOKEN).status, 201, "`default` may always be connected");
    let a = server.call("DELETE", "/api/v1/integrations/slack/ops", None);
    assert_eq!(a.status, 409, "{}", a.body);
    assert!(!a.body.contains("`order`"), "order's task now uses `default`: {}", a.body);
    let a = server.call("DELETE", "/api/v1/integrations/slack/default", None);
    assert_eq!((a.status, error_code(&a).as_str()), (409, "integration_in_use"), "{}", a.body);
    assert!(a.body.contains("`notify`") && !a.body.contains("`invoice`"), "{}", a.body);

    // Forced, it goes; unknown aliases are still 404.
    let a = server.call("DELETE", "/api/v1/integrations/slack/ops?force=true", None);
    assert_eq!(a.status, 204, "{}", a.body);
    assert_eq!(aliases(&server), ["default"]);
    let a = server.call("DELETE", "/api/v1/integrations/slack/nope", None);
    assert_eq!((a.status, error_code(&a).as_str()), (404, "integration_not_found"), "{}", a.body);
}

/// A database written by an earlier version holds the button key in plain text: the next start
/// seals it in place (the same key, so the buttons already posted keep working).
#[test]
fn a_plain_button_key_of_an_earlier_version_is_sealed_at_start() {
    let (_rt, slack) = fake_slack(|_| {});
    let mut server = Server::start("slack-button-key", &slack, |_| {});
    server.terminate();
    let dir = server.dir.clone();
    drop(server);
    let db = dir.join("sluice.db");
    let plain = "c0ffee".repeat(8);
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let sql = |statement: String| -> Option<String> {
        rt.block_on(async {
            let url = format!("sqlite://{}", db.display());
            let pool = sqlx::sqlite::SqlitePoolOptions::new().max_connections(1).connect(&url).await.unwrap();
            let value: Option<String> = sqlx::query_scalar(&statement).fetch_optional(&pool).await.unwrap();
            pool.close().await;
            value
        })
    };
    // What the earlier version stored.
    sql(format!("UPDATE settings SET value = '{plain}' WHERE key = 'slack_button_key' RETURNING value"));
    let server = Server::start_in(dir.clone(), &slack, |_| {});
    let stored = sql("SELECT value FROM settings WHERE key = 'slack_button_key'".into()).unwrap();
    let key_file = PathBuf::from(format!("{}.key", db.display()));
    assert_eq!(open_button_key(&stored, &std::fs::read_to_string(&key_file).unwrap()), plain, "the same key, sealed");
    // Nor does the plain key linger in the files (free space, old pages), while serving or after.
    let check_files = |when: &str| {
        for suffix in ["", "-wal", "-shm"] {
            let path = PathBuf::from(format!("{}{suffix}", db.display()));
            if let Ok(bytes) = std::fs::read(&path) {
                assert_no_secret(&format!("{} ({when})", path.display()), &bytes, &plain);
            }
        }
    };
    check_files("while serving");
    let mut server = server;
    server.terminate();
    check_files("after shutdown");
}
