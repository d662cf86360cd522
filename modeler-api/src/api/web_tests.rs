//! Tests of the web app's routes (pages behind a session, assets with their headers) and of every
//! embedded file (nothing loaded from another origin).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode, header};
use tower::ServiceExt;

use super::super::app;
use super::super::tests::{ONE_TASK, TOKEN, bearer, call, state};
use super::{CSP, FILES, PAGES, safe_next};
use crate::api::AppState;

/// A GET with these headers: status, headers, body bytes.
async fn get(state: &AppState, path: &str, headers: &[(&str, &str)]) -> (StatusCode, HeaderMap, Vec<u8>) {
    let mut req = Request::builder().uri(path);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = app(state.clone()).oneshot(req.body(Body::empty()).unwrap()).await.unwrap();
    let status = resp.status();
    let headers = resp.headers().clone();
    (status, headers, axum::body::to_bytes(resp.into_body(), usize::MAX).await.unwrap().to_vec())
}

/// Signs in a new admin user through the API: the `Cookie` header of their session.
async fn session_cookie(state: &AppState) -> String {
    let body = serde_json::json!({"username": "web", "name": "Web", "email": "web@example.com",
        "password": "a long enough passphrase", "roles": ["admin"]});
    let (status, _, user) =
        call(state, "post", "/api/v1/users", &[("authorization", &bearer(TOKEN))], Some(body)).await;
    assert_eq!(status, StatusCode::CREATED, "{user}");
    let sign_in = serde_json::json!({"username": "web", "password": "a long enough passphrase"});
    let (status, headers, _) = call(state, "post", "/api/v1/session", &[], Some(sign_in)).await;
    assert_eq!(status, StatusCode::OK);
    headers
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_string())
        .collect::<Vec<_>>()
        .join("; ")
}

fn concrete(path: &str) -> String {
    path.replace("{key}", "leave").replace("{id}", "01a20a24-f9a9-74e8-8fbe-9e76b2f8b724")
}

#[tokio::test]
async fn pages_need_a_session_and_send_back_to_where_they_were() {
    let state = state().await;
    let cookie = session_cookie(&state).await;
    for (path, needs_session) in PAGES {
        assert!(!path.starts_with("/api/"), "{path}");
        let url = concrete(path);
        let (status, headers, body) = get(&state, &url, &[]).await;
        if *needs_session {
            assert_eq!(status, StatusCode::SEE_OTHER, "{url} without a session");
            let expected =
                format!("/login?next={}", form_urlencoded::byte_serialize(url.as_bytes()).collect::<String>());
            assert_eq!(headers[header::LOCATION], expected.as_str(), "{url}");
        } else {
            assert_eq!(status, StatusCode::OK, "{url}");
        }
        assert_eq!(headers[header::CONTENT_SECURITY_POLICY], CSP, "{url}");
        assert_eq!(headers[header::CACHE_CONTROL], "no-store", "{url}");
        // With the session: the shell, which loads the app's script.
        let (status, headers, body_in) = get(&state, &url, &[("cookie", &cookie)]).await;
        assert_eq!(status, StatusCode::OK, "{url} with a session");
        assert_eq!(headers[header::CONTENT_TYPE], "text/html; charset=utf-8");
        let html = String::from_utf8(body_in).unwrap();
        assert!(html.contains("<script type=\"module\" src=\"/assets/main-"), "{html}");
        if !needs_session {
            assert_eq!(body, html.as_bytes(), "{url}: the same shell");
        }
    }
    // A bearer token is no session for a page, nor is an ended session.
    let (status, ..) = get(&state, "/tasks", &[("authorization", &bearer(TOKEN))]).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (status, ..) = get(&state, "/tasks", &[("cookie", "sluice_session=not-a-session")]).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    // The query string comes back too.
    let (_, headers, _) = get(&state, "/processes?x=1&y=2", &[]).await;
    assert_eq!(headers[header::LOCATION], "/login?next=%2Fprocesses%3Fx%3D1%26y%3D2");
}

#[test]
fn next_is_always_a_path_of_this_site() {
    assert_eq!(safe_next("/requests/1?x=2"), "/requests/1?x=2");
    for bad in ["//evil.example/x", "/\\evil.example", "https://evil.example/", "evil", "/a\nb", "/login?next=/x", ""] {
        assert_eq!(safe_next(bad), "/", "{bad:?}");
    }
}

#[tokio::test]
async fn unknown_api_paths_stay_json_404s_and_unknown_assets_are_404s() {
    let state = state().await;
    for path in ["/api/v1/nothing", "/api/nothing", "/assets/nothing.js", "/nothing"] {
        let (status, headers, body) = get(&state, path, &[("authorization", &bearer(TOKEN))]).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        assert!(headers[header::CONTENT_TYPE].to_str().unwrap().starts_with("application/json"), "{path}");
        let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert!(body["error"]["code"].is_string(), "{path}: {body}");
    }
}

#[tokio::test]
async fn every_asset_is_served_with_its_type_caching_and_etag() {
    let state = state().await;
    assert!(FILES.iter().any(|(p, _, _)| p.starts_with("assets/vendor/bpmn-js-") && p.ends_with(".js")));
    assert!(FILES.iter().any(|(p, _, _)| p.starts_with("assets/vendor/bpmn-js-") && p.ends_with("LICENSE")));
    for (path, bytes, immutable) in FILES {
        if *path == "index.html" {
            continue;
        }
        let url = format!("/{path}");
        let (status, headers, body) = get(&state, &url, &[]).await;
        assert_eq!(status, StatusCode::OK, "{url}");
        assert_eq!(body, *bytes, "{url}");
        let ct = headers[header::CONTENT_TYPE].to_str().unwrap();
        let expected = match path.rsplit_once('.').map(|(_, e)| e) {
            Some("js") => "text/javascript; charset=utf-8",
            Some("css") => "text/css; charset=utf-8",
            // bpmn-js's icon font (the modeller's), in every format its CSS names.
            Some("svg") => "image/svg+xml",
            Some("woff2") => "font/woff2",
            Some("woff") => "font/woff",
            Some("ttf") => "font/ttf",
            Some("eot") => "application/vnd.ms-fontobject",
            _ => "text/plain; charset=utf-8",
        };
        assert_eq!(ct, expected, "{url}");
        let cache = headers[header::CACHE_CONTROL].to_str().unwrap();
        assert_eq!(cache.contains("immutable"), *immutable, "{url}: {cache}");
        assert_eq!(headers[header::CONTENT_SECURITY_POLICY], CSP);
        assert_eq!(headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
        let etag = headers[header::ETAG].to_str().unwrap().to_string();
        let (status, headers, body) = get(&state, &url, &[("if-none-match", &etag)]).await;
        assert_eq!((status, body.len()), (StatusCode::NOT_MODIFIED, 0), "{url}");
        assert_eq!(headers[header::ETAG], etag.as_str());
    }
    // The hashed app bundle is cached for good; the license texts are revalidated.
    assert!(FILES.iter().any(|(p, _, i)| p.starts_with("assets/main-") && *i));
    assert!(FILES.iter().any(|(p, _, i)| p.starts_with("licenses/") && !*i));
}

// ---- nothing is loaded from another origin ----

/// Whether a reference loads from this server: a path (`/x`, `x`, `./x`), a fragment, or
/// `data:`. Not `//host/…` nor any scheme with a host.
fn is_local(reference: &str) -> bool {
    let r = reference.trim().trim_matches(|c| c == '"' || c == '\'');
    if r.starts_with("data:") || r.starts_with('#') || r.is_empty() {
        return true;
    }
    if r.starts_with("//") {
        return false;
    }
    // A scheme is letters before a colon that comes before any `/`.
    match r.split_once(':') {
        Some((scheme, _)) => {
            scheme.contains('/') || !scheme.chars().all(|c| c.is_ascii_alphanumeric() || "+.-".contains(c))
        }
        None => true,
    }
}

/// The values of `attr="…"` in the tags named `tag` of an HTML text.
fn attr_values(html: &str, tag: &str, attr: &str) -> Vec<String> {
    let re = regex::Regex::new(&format!(r#"(?is)<{tag}\b[^>]*?\s{attr}\s*=\s*("[^"]*"|'[^']*'|[^\s>]+)"#)).unwrap();
    re.captures_iter(html).map(|c| c[1].to_string()).collect()
}

/// The references that make a browser load something, by kind of file: HTML (`script src`,
/// `link href`, `img`/`source`/`iframe`/`embed`/`video`/`audio src`, `object data`), CSS
/// (`url(…)`, `@import`), JavaScript (`fetch(`, `import(`/`import … from`, `importScripts(`,
/// `new Worker/EventSource/WebSocket(`, `XMLHttpRequest.open`, and HTML or CSS written in its
/// strings: `src=`, `url(`). Namespace URIs in scripts (`http://www.w3.org/2000/svg`) and links
/// a person follows (`<a href>`: the bpmn.io watermark, license texts) load nothing.
fn loads(path: &str, text: &str) -> Vec<String> {
    let mut found = Vec::new();
    let css_refs = |t: &str, out: &mut Vec<String>| {
        let url = regex::Regex::new(r#"(?i)url\(\s*("[^"]*"|'[^']*'|[^)\s]*)"#).unwrap();
        out.extend(url.captures_iter(t).map(|c| c[1].to_string()));
        let import = regex::Regex::new(r#"(?i)@import\s+("[^"]*"|'[^']*')"#).unwrap();
        out.extend(import.captures_iter(t).map(|c| c[1].to_string()));
    };
    if path.ends_with(".html") {
        for (tag, attr) in [
            ("script", "src"),
            ("link", "href"),
            ("img", "src"),
            ("img", "srcset"),
            ("source", "src"),
            ("iframe", "src"),
            ("embed", "src"),
            ("video", "src"),
            ("audio", "src"),
            ("object", "data"),
        ] {
            found.extend(attr_values(text, tag, attr));
        }
        css_refs(text, &mut found);
    } else if path.ends_with(".css") {
        css_refs(text, &mut found);
    } else if path.ends_with(".js") {
        let calls = regex::Regex::new(
            r#"(?:\bfetch|\bimport|\bimportScripts|new\s+(?:Worker|SharedWorker|EventSource|WebSocket)|\.open)\s*\(\s*(?:"[A-Z]+"\s*,\s*)?("[^"]*"|'[^']*'|`[^`]*`)"#,
        )
        .unwrap();
        found.extend(calls.captures_iter(text).map(|c| c[1].to_string()));
        let from = regex::Regex::new(r#"\bfrom\s*("[a-z]+:[^"]*"|'[a-z]+:[^']*')"#).unwrap();
        found.extend(from.captures_iter(text).map(|c| c[1].to_string()));
        let src =
            regex::Regex::new(r#"(?i)\b(?:src|srcset)\s*=\s*\\?["']?([a-z][a-z0-9+.-]*:[^"'\s>\\]*|//[^"'\s>\\]*)"#)
                .unwrap();
        found.extend(src.captures_iter(text).map(|c| c[1].to_string()));
        let url = regex::Regex::new(r#"(?i)url\(\s*\\?["']?((?:[a-z][a-z0-9+.-]*:|//)[^"')\s\\]*)"#).unwrap();
        found.extend(url.captures_iter(text).map(|c| c[1].to_string()));
    }
    found
}

#[test]
fn no_embedded_page_or_asset_loads_anything_from_another_origin() {
    let mut checked = 0;
    for (path, bytes, _) in FILES {
        if !(path.ends_with(".html") || path.ends_with(".css") || path.ends_with(".js")) {
            continue;
        }
        let text = String::from_utf8_lossy(bytes);
        for reference in loads(path, &text) {
            assert!(is_local(&reference), "{path} loads {reference} from another origin");
        }
        checked += 1;
    }
    assert!(checked >= 5, "{checked} files checked");
}

#[test]
fn the_reference_finder_finds_what_loads_and_ignores_links_and_namespaces() {
    let html = r#"<script src="https://cdn.example/x.js"></script><link rel="stylesheet" href="//cdn.example/a.css">
        <img src="/logo.png"><a href="https://bpmn.io">bpmn.io</a>"#;
    let bad: Vec<String> = loads("a.html", html).into_iter().filter(|r| !is_local(r)).collect();
    assert_eq!(bad, ["\"https://cdn.example/x.js\"", "\"//cdn.example/a.css\""]);
    let css = "a { background: url(https://x.example/i.png) } b { background: url('data:image/svg+xml;utf8,<svg/>') } @import 'https://f.example/c.css';";
    let bad: Vec<String> = loads("a.css", css).into_iter().filter(|r| !is_local(r)).collect();
    assert_eq!(bad, ["https://x.example/i.png", "'https://f.example/c.css'"]);
    let js = r#"const ns="http://www.w3.org/2000/svg";fetch("/api/v1/me");fetch('https://x.example/t');
        import("https://m.example/m.js");e.innerHTML='<img src="https://i.example/p.png">';x.open("GET","http://h.example/")"#;
    let bad: Vec<String> = loads("a.js", js).into_iter().filter(|r| !is_local(r)).collect();
    assert_eq!(
        bad,
        ["'https://x.example/t'", "\"https://m.example/m.js\"", "\"http://h.example/\"", "https://i.example/p.png"]
    );
}

#[tokio::test]
async fn a_process_version_answers_its_own_xml() {
    let state = state().await;
    super::super::tests::deploy_one_task(&state).await;
    let v2 = ONE_TASK.replace("name=\"Approve\"", "name=\"Approve it\"");
    let req = Request::builder()
        .method("POST")
        .uri("/api/v1/processes")
        .header("authorization", bearer(TOKEN))
        .header("content-type", "application/xml")
        .body(Body::from(v2.clone()))
        .unwrap();
    assert_eq!(app(state.clone()).oneshot(req).await.unwrap().status(), StatusCode::CREATED);
    let auth = bearer(TOKEN);
    let (status, _, latest) = call(&state, "get", "/api/v1/processes/leave", &[("authorization", &auth)], None).await;
    assert_eq!((status, latest["version"].as_i64()), (StatusCode::OK, Some(2)), "{latest}");
    assert_eq!(latest["xml"], v2.as_str());
    let (status, _, first) =
        call(&state, "get", "/api/v1/processes/leave?version=1", &[("authorization", &auth)], None).await;
    assert_eq!((status, first["version"].as_i64()), (StatusCode::OK, Some(1)), "{first}");
    assert_eq!(first["xml"], ONE_TASK);
    assert_eq!(first["versions"].as_array().unwrap().len(), 2);
    let (status, _, none) =
        call(&state, "get", "/api/v1/processes/leave?version=3", &[("authorization", &auth)], None).await;
    assert_eq!((status, none["error"]["code"].as_str()), (StatusCode::NOT_FOUND, Some("process_not_found")), "{none}");
    let (status, _, bad) =
        call(&state, "get", "/api/v1/processes/leave?version=x", &[("authorization", &auth)], None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}");
}
