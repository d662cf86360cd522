//! The web app: its pages and assets, embedded in the binary (`web-dist/`, built from `web/` by
//! `web/build.sh` and committed, so cargo alone builds it) and served from the API's origin.
//!
//! Every page route answers the same shell (`index.html`); its script reads the path and draws
//! the page from the API, with the session cookie. The shells are public, but a page asked for
//! without a live session is redirected to `/login?next=…` (a path of this site only). Assets
//! whose names carry a hash or a version are cached for good; the rest are revalidated with their
//! ETag. Every answer carries a Content-Security-Policy that lets the page load only from here.

use std::collections::HashMap;
use std::sync::OnceLock;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use sha2::{Digest, Sha256};

use super::{ApiError, AppState, auth};

include!(concat!(env!("CARGO_MANIFEST_DIR"), "/web-dist/files.rs"));

/// The page routes (each answers the shell, behind a session) and whether they need one.
pub const PAGES: &[(&str, bool)] = &[
    ("/", true),
    ("/login", false),
    ("/processes", true),
    ("/processes/{key}", true),
    ("/requests/{id}", true),
    ("/tasks", true),
    ("/tasks/{id}", true),
    ("/modeller", true),
    ("/modeller/{key}", true),
    ("/settings/slack", true),
];

/// What the pages may load: only this origin's scripts, styles, images (and `data:` images, which
/// bpmn-js's CSS uses for icons), fonts and API; no plugins, frames, or forms posted elsewhere.
/// No inline script and no inline style sheet; bpmn-js positions overlays through the style
/// properties of elements (CSSOM), which this policy allows.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
     font-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// How long an asset whose name carries its hash or version may be cached (a year).
const IMMUTABLE: &str = "public, max-age=31536000, immutable";

/// One embedded file, ready to serve.
struct Asset {
    bytes: &'static [u8],
    content_type: &'static str,
    etag: String,
    immutable: bool,
}

/// The embedded files by URL path (`/assets/…`, `/licenses/…`, `/THIRD-PARTY.txt`; the shell at
/// `/index.html`), built once.
fn assets() -> &'static HashMap<String, Asset> {
    static ASSETS: OnceLock<HashMap<String, Asset>> = OnceLock::new();
    ASSETS.get_or_init(|| {
        FILES
            .iter()
            .map(|(path, bytes, immutable)| {
                let hash: String = Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect();
                let asset = Asset {
                    bytes,
                    content_type: content_type_of(path),
                    etag: format!("\"{}\"", &hash[..32]),
                    immutable: *immutable,
                };
                (format!("/{path}"), asset)
            })
            .collect()
    })
}

/// The content type of a file by its name.
pub fn content_type_of(path: &str) -> &'static str {
    let ext = path.rsplit_once('.').map(|(_, e)| e).unwrap_or_default();
    match ext {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "woff2" => "font/woff2",
        "woff" => "font/woff",
        "ttf" => "font/ttf",
        "eot" => "application/vnd.ms-fontobject",
        "json" => "application/json",
        // License texts (`LICENSE`), `THIRD-PARTY.txt`.
        _ => "text/plain; charset=utf-8",
    }
}

/// The web app's routes, merged into the API's router.
pub fn routes() -> Router<AppState> {
    let mut router = Router::new();
    for (path, _) in PAGES {
        router = router.route(path, get(page));
    }
    router
        .route("/assets/{*path}", get(file))
        .route("/licenses/{*path}", get(file))
        .route("/THIRD-PARTY.txt", get(file))
}

/// The headers every answer of the web app carries.
fn secure_headers(headers: &mut HeaderMap) {
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
}

/// A page: the shell with a live session (or on `/login`), else a redirect to the sign-in page
/// that comes back here.
async fn page(State(state): State<AppState>, req: Request) -> Result<Response, ApiError> {
    let path = req.uri().path();
    let public = PAGES.iter().any(|(p, needs_session)| *p == path && !needs_session);
    if !public && auth::session_caller(&state, req.headers()).await?.is_none() {
        let back = req.uri().path_and_query().map(|pq| pq.as_str()).unwrap_or("/");
        let location =
            format!("/login?next={}", form_urlencoded::byte_serialize(safe_next(back).as_bytes()).collect::<String>());
        let mut resp = (StatusCode::SEE_OTHER, [(header::LOCATION, location)]).into_response();
        resp.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        secure_headers(resp.headers_mut());
        return Ok(resp);
    }
    let shell = assets()
        .get("/index.html")
        .ok_or_else(|| ApiError::internal(&"the web app's index.html is not embedded: run web/build.sh"))?;
    let mut resp = (StatusCode::OK, shell.bytes).into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(shell.content_type));
    // The answer depends on the session (a redirect or the shell): never stored.
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    secure_headers(h);
    Ok(resp)
}

/// A path of this site to return to after signing in: `next` itself when it is a local path
/// (`/…`, not `//host` or `/\host`, which browsers read as another site), else `/`.
pub fn safe_next(next: &str) -> &str {
    let local = next.starts_with('/')
        && !next.starts_with("//")
        && !next.starts_with("/\\")
        && !next.chars().any(|c| c.is_control())
        && !next.starts_with("/login");
    if local { next } else { "/" }
}

/// An embedded file, with its content type, caching and ETag (304 when the client has it).
async fn file(req: Request) -> Response {
    let Some(asset) = assets().get(req.uri().path()) else {
        return ApiError::not_found("asset_not_found", format!("no file {}", req.uri().path())).into_response();
    };
    let fresh = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == asset.etag || t.trim() == "*"));
    let mut resp = if fresh { StatusCode::NOT_MODIFIED.into_response() } else { asset.bytes.into_response() };
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(asset.content_type));
    if let Ok(etag) = HeaderValue::from_str(&asset.etag) {
        h.insert(header::ETAG, etag);
    }
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(if asset.immutable { IMMUTABLE } else { "no-cache" }));
    secure_headers(h);
    resp
}

#[cfg(test)]
#[path = "web_tests.rs"]
mod tests;
