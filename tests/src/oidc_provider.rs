//! A small OpenID Connect provider for end-to-end tests, on 127.0.0.1: discovery, JWKS, an
//! authorization endpoint that approves the configured user at once (redirecting back with a
//! code), and a token endpoint that checks the client's credentials, the code's redirect URI
//! and its PKCE verifier, and answers an ID token signed RS256 with the committed test-only key
//! (`tests/data/oidc_test_rsa_key.pk8`). A test can make the next ID token wrong in one way
//! ([`Fault`]) to see it refused.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};

use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use ring::rand::SystemRandom;
use ring::signature::{RSA_PKCS1_SHA256, RsaKeyPair};
use serde_json::{Value, json};

/// The test-only signing key (PKCS#8 DER).
const KEY: &[u8] = include_bytes!("../data/oidc_test_rsa_key.pk8");
/// The `kid` of the key in the JWKS and the ID tokens' headers.
pub const KID: &str = "sluice-test-key";

/// How the next ID token is made wrong.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    None,
    /// A `nonce` other than the one the authorization request carried.
    WrongNonce,
    /// A signature that does not verify.
    BadSignature,
    /// Expired an hour ago.
    Expired,
    /// For another client.
    WrongAudience,
    /// Signed with a `kid` the JWKS does not have.
    UnknownKid,
}

/// What the provider knows and remembers; shared with the test.
pub struct Shared {
    pub client_id: String,
    pub client_secret: String,
    /// The claims of the user the authorization endpoint approves (`sub`, `preferred_username`,
    /// `email`, `groups`, …).
    pub user: Value,
    pub fault: Fault,
    /// Every authorization request's query, in order.
    pub authorize_requests: Vec<HashMap<String, String>>,
    /// How often the JWKS was read.
    pub jwks_reads: usize,
    /// Codes given out and not yet exchanged: (redirect_uri, nonce, code_challenge).
    codes: HashMap<String, (String, String, String)>,
    issued: u64,
}

/// A provider serving on a port of its own (on a thread of its own, for the test's lifetime).
pub struct Provider {
    pub addr: SocketAddr,
    shared: Arc<Mutex<Shared>>,
}

impl Provider {
    /// Starts a provider for this client that approves `user`.
    pub fn start(client_id: &str, client_secret: &str, user: Value) -> Provider {
        let shared = Arc::new(Mutex::new(Shared {
            client_id: client_id.into(),
            client_secret: client_secret.into(),
            user,
            fault: Fault::None,
            authorize_requests: Vec::new(),
            jwks_reads: 0,
            codes: HashMap::new(),
            issued: 0,
        }));
        let listener = match std::net::TcpListener::bind("127.0.0.1:0") {
            Ok(l) => l,
            Err(e) => panic!("the OIDC provider cannot listen: {e}"),
        };
        let addr = listener.local_addr().unwrap_or_else(|e| panic!("no address: {e}"));
        if let Err(e) = listener.set_nonblocking(true) {
            panic!("the OIDC provider's listener: {e}");
        }
        let app = Router::new()
            .route("/.well-known/openid-configuration", get(discovery))
            .route("/jwks", get(jwks))
            .route("/authorize", get(authorize))
            .route("/token", post(token))
            .with_state(Ctx { shared: shared.clone(), base: format!("http://{addr}") });
        std::thread::spawn(move || {
            let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
                Ok(r) => r,
                Err(e) => panic!("the OIDC provider's runtime: {e}"),
            };
            runtime.block_on(async move {
                let listener = match tokio::net::TcpListener::from_std(listener) {
                    Ok(l) => l,
                    Err(e) => panic!("the OIDC provider's listener: {e}"),
                };
                if let Err(e) = axum::serve(listener, app).await {
                    panic!("the OIDC provider stopped: {e}");
                }
            });
        });
        Provider { addr, shared }
    }

    /// The issuer (and base URL).
    pub fn issuer(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn discovery_url(&self) -> String {
        format!("{}/.well-known/openid-configuration", self.issuer())
    }

    /// The provider's state, to change the user or the fault, or read what it saw.
    pub fn shared(&self) -> MutexGuard<'_, Shared> {
        self.shared.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[derive(Clone)]
struct Ctx {
    shared: Arc<Mutex<Shared>>,
    base: String,
}

impl Ctx {
    fn lock(&self) -> MutexGuard<'_, Shared> {
        self.shared.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

fn b64url(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn key() -> RsaKeyPair {
    match RsaKeyPair::from_pkcs8(KEY) {
        Ok(k) => k,
        Err(e) => panic!("the test key does not load: {e}"),
    }
}

fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    (status, axum::Json(json!({"error": error, "error_description": description}))).into_response()
}

async fn discovery(State(ctx): State<Ctx>) -> axum::Json<Value> {
    let base = &ctx.base;
    axum::Json(json!({
        "issuer": base,
        "authorization_endpoint": format!("{base}/authorize"),
        "token_endpoint": format!("{base}/token"),
        "jwks_uri": format!("{base}/jwks"),
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic"],
        "code_challenge_methods_supported": ["S256"],
    }))
}

async fn jwks(State(ctx): State<Ctx>) -> axum::Json<Value> {
    ctx.lock().jwks_reads += 1;
    let public = ring::rsa::PublicKeyComponents::<Vec<u8>>::from(key().public());
    let unpadded = |v: &[u8]| b64url(&v[v.iter().take_while(|b| **b == 0).count()..]);
    axum::Json(json!({"keys": [{
        "kty": "RSA", "use": "sig", "alg": "RS256", "kid": KID, "n": unpadded(&public.n), "e": unpadded(&public.e),
    }]}))
}

/// Approves the configured user at once: back to the redirect URI with a code and the state.
async fn authorize(State(ctx): State<Ctx>, Query(q): Query<HashMap<String, String>>) -> Response {
    let mut s = ctx.lock();
    s.authorize_requests.push(q.clone());
    let param = |k: &str| q.get(k).cloned().unwrap_or_default();
    if param("client_id") != s.client_id {
        return oauth_error(StatusCode::BAD_REQUEST, "unauthorized_client", "unknown client_id");
    }
    if param("response_type") != "code"
        || param("code_challenge_method") != "S256"
        || param("code_challenge").is_empty()
    {
        return oauth_error(StatusCode::BAD_REQUEST, "invalid_request", "code flow with PKCE S256 only");
    }
    if !param("scope").split(' ').any(|x| x == "openid") {
        return oauth_error(StatusCode::BAD_REQUEST, "invalid_scope", "openid is required");
    }
    s.issued += 1;
    let code = format!(
        "code-{}-{}",
        s.issued,
        b64url(&ring::digest::digest(&ring::digest::SHA256, param("state").as_bytes()).as_ref()[..8])
    );
    let redirect = param("redirect_uri");
    s.codes.insert(code.clone(), (redirect.clone(), param("nonce"), param("code_challenge")));
    let query =
        serde_urlencoded::to_string([("code", code.as_str()), ("state", param("state").as_str())]).unwrap_or_default();
    let sep = if redirect.contains('?') { '&' } else { '?' };
    (StatusCode::FOUND, [(header::LOCATION, format!("{redirect}{sep}{query}"))]).into_response()
}

/// Exchanges a code for an ID token (client_secret_basic, PKCE checked).
async fn token(State(ctx): State<Ctx>, headers: HeaderMap, body: String) -> Response {
    let form: HashMap<String, String> = serde_urlencoded::from_str(&body).unwrap_or_default();
    let field = |k: &str| form.get(k).cloned().unwrap_or_default();
    let mut s = ctx.lock();
    let basic = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Basic "));
    let expected = STANDARD.encode(format!("{}:{}", s.client_id, s.client_secret));
    if basic != Some(expected.as_str()) {
        return oauth_error(StatusCode::UNAUTHORIZED, "invalid_client", "wrong client credentials");
    }
    if field("grant_type") != "authorization_code" {
        return oauth_error(StatusCode::BAD_REQUEST, "unsupported_grant_type", "authorization_code only");
    }
    let Some((redirect, nonce, challenge)) = s.codes.remove(&field("code")) else {
        return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant", "unknown or used code");
    };
    if field("redirect_uri") != redirect {
        return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant", "redirect_uri differs");
    }
    let verifier_hash = b64url(ring::digest::digest(&ring::digest::SHA256, field("code_verifier").as_bytes()).as_ref());
    if verifier_hash != challenge {
        return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant", "PKCE verifier does not match");
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default();
    let fault = s.fault;
    let mut claims = json!({
        "iss": ctx.base,
        "aud": if fault == Fault::WrongAudience { "another-client".to_string() } else { s.client_id.clone() },
        "exp": if fault == Fault::Expired { now - 3600 } else { now + 300 },
        "iat": if fault == Fault::Expired { now - 3900 } else { now },
        "nonce": if fault == Fault::WrongNonce { "not-the-nonce".to_string() } else { nonce },
    });
    if let (Some(c), Some(user)) = (claims.as_object_mut(), s.user.as_object()) {
        for (k, v) in user {
            c.insert(k.clone(), v.clone());
        }
    }
    let kid = if fault == Fault::UnknownKid { "rotated-away" } else { KID };
    let header = json!({"alg": "RS256", "typ": "JWT", "kid": kid});
    let signed = format!("{}.{}", b64url(header.to_string().as_bytes()), b64url(claims.to_string().as_bytes()));
    let key = key();
    let mut sig = vec![0; key.public().modulus_len()];
    if let Err(e) = key.sign(&RSA_PKCS1_SHA256, &SystemRandom::new(), signed.as_bytes(), &mut sig) {
        return oauth_error(StatusCode::INTERNAL_SERVER_ERROR, "server_error", &e.to_string());
    }
    if fault == Fault::BadSignature {
        sig[10] ^= 0x55;
    }
    let id_token = format!("{signed}.{}", b64url(&sig));
    axum::Json(json!({"access_token": "opaque-access-token", "token_type": "Bearer", "expires_in": 300,
        "id_token": id_token}))
    .into_response()
}
