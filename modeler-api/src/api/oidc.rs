//! OpenID Connect sign-in: an admin configures the company's provider (`PUT /api/v1/auth/oidc`,
//! the client secret sealed in the settings); the sign-in page offers it when configured
//! (`GET /api/v1/auth/methods`); `start` sends the browser to the provider with a single-use
//! `state`, a `nonce` and a PKCE challenge; `callback` takes the state once, exchanges the code,
//! verifies the ID token (`crate::oidc`), finds or creates the user, sets their groups from the
//! configured claim, and starts the same session a password sign-in does.
//!
//! `start` and `callback` need no credentials (a browser on its way to sign in has none): the
//! state, stored server-side and bound to the browser by a cookie, protects the callback. Every
//! refusal of the callback is audited (`sign_in_failed`, method `oidc`) and answered with an
//! error code: as JSON, or for a browser as a redirect to the sign-in page that shows it.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sluice_store::{BUILTIN_ADMIN_ID, NewUser, OidcLogin, OidcLoginUse, UserChange, UserRow};
use subtle::ConstantTimeEq;
use utoipa::{IntoParams, ToSchema};

use super::auth::{Caller, Client, Role, cookie};
use super::people::{display_name, email, field_error, groups, open_session, username};
use super::{ApiError, ApiJson, ApiQuery, AppState, token_hash};
use crate::oidc::{self, Exchange, jwt};

type ApiResult<T> = Result<T, ApiError>;

/// The setting holding the configuration (JSON, the client secret sealed).
const SETTING: &str = "oidc";
/// The associated data the client secret is sealed with.
const SECRET_PURPOSE: &str = "oidc:client_secret";
/// The cookie binding a sign-in's `state` to the browser that started it. `SameSite=Lax`: the
/// provider sends the browser back with a top-level GET from its own site, which a `Strict`
/// cookie would not come along with.
const STATE_COOKIE: &str = "sluice_oidc_state";
/// How long the browser has at the provider.
const LOGIN_LIFETIME_SECS: i64 = 600;
/// The callback's path (the redirect URI is the public URL and this).
pub const CALLBACK_PATH: &str = "/api/v1/auth/oidc/callback";
const WELL_KNOWN: &str = "/.well-known/openid-configuration";

// ---- the configuration ----

/// `PUT /api/v1/auth/oidc`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OidcConfigBody {
    /// The provider's discovery document (`…/.well-known/openid-configuration`), or its issuer
    /// URL. https (http only to localhost).
    discovery_url: String,
    client_id: String,
    /// Sealed at rest; never answered.
    client_secret: String,
    /// A claim of the ID token listing the user's groups (an array of strings); they replace
    /// the user's groups at each sign-in. Without it, groups are left as they are.
    #[serde(default)]
    groups_claim: Option<String>,
    /// The role of users created at their first sign-in (default `participant`).
    #[serde(default)]
    role_for_new_users: Option<String>,
    /// The claim that is the username (default `preferred_username`).
    #[serde(default)]
    username_claim: Option<String>,
    /// The provider's name on the sign-in page: "Sign in with NAME" (default `OpenID Connect`).
    #[serde(default)]
    name: Option<String>,
}

/// The configuration as stored (the client secret sealed).
#[derive(Serialize, Deserialize)]
struct Stored {
    discovery_url: String,
    client_id: String,
    client_secret_sealed: String,
    groups_claim: Option<String>,
    role_for_new_users: String,
    username_claim: String,
    name: String,
}

/// The configuration as answered (never the secret).
#[derive(Serialize, ToSchema)]
pub struct OidcConfigView {
    discovery_url: String,
    client_id: String,
    /// Always true: a secret is stored (it is never answered).
    client_secret_set: bool,
    groups_claim: Option<String>,
    role_for_new_users: String,
    username_claim: String,
    name: String,
    /// What to register at the provider as the redirect URI.
    redirect_uri: String,
}

/// How people may sign in, for the sign-in page.
#[derive(Serialize, ToSchema)]
pub struct SignInMethods {
    /// Username and password (`POST /api/v1/session`): always.
    password: bool,
    /// OpenID Connect, when configured.
    oidc: Option<OidcMethod>,
}

#[derive(Serialize, ToSchema)]
pub struct OidcMethod {
    /// "Sign in with NAME".
    name: String,
    /// Where the browser goes to sign in (add `?next=/path`).
    start_url: String,
}

fn view(state: &AppState, s: Stored) -> OidcConfigView {
    OidcConfigView {
        discovery_url: s.discovery_url,
        client_id: s.client_id,
        client_secret_set: true,
        groups_claim: s.groups_claim,
        role_for_new_users: s.role_for_new_users,
        username_claim: s.username_claim,
        name: s.name,
        redirect_uri: redirect_uri(state),
    }
}

fn redirect_uri(state: &AppState) -> String {
    format!("{}{CALLBACK_PATH}", state.public_url())
}

fn not_configured() -> ApiError {
    ApiError::not_found("oidc_not_configured", "OpenID Connect sign-in is not configured")
}

async fn stored(state: &AppState) -> ApiResult<Option<Stored>> {
    let Some(text) = state.store().setting(SETTING).await? else { return Ok(None) };
    serde_json::from_str(&text).map(Some).map_err(|e| ApiError::internal(&format!("the stored OIDC settings: {e}")))
}

fn claim_name(field: &str, raw: Option<String>, default: &str) -> ApiResult<String> {
    let name = raw.as_deref().map(str::trim).unwrap_or(default).to_string();
    if name.is_empty() || name.len() > 100 || name.chars().any(char::is_control) {
        return Err(field_error(field, "a claim name is 1 to 100 characters, without control characters"));
    }
    Ok(name)
}

/// Configures OpenID Connect sign-in. The discovery document is read (and checked) at once; the
/// client secret is sealed and never answered again.
#[utoipa::path(
    put, path = "/api/v1/auth/oidc", tag = "people",
    request_body = OidcConfigBody,
    responses(
        (status = 200, description = "Stored (never the secret)", body = OidcConfigView),
        (status = 400, description = "`bad_request` naming the `field`", body = super::views::ErrorBody),
        (status = 422, description = "`oidc_discovery_failed`: the discovery document cannot be read or is not usable", body = super::views::ErrorBody),
        (status = 503, description = "`secrets_unavailable`: no secret key to seal the client secret with", body = super::views::ErrorBody),
    ),
    security(("bearer" = [])),
)]
pub async fn put_config(
    State(state): State<AppState>,
    caller: Caller,
    client: Client,
    ApiJson(body): ApiJson<OidcConfigBody>,
) -> ApiResult<Json<OidcConfigView>> {
    let mut discovery_url = body.discovery_url.trim().trim_end_matches('/').to_string();
    if !discovery_url.ends_with(WELL_KNOWN) {
        discovery_url.push_str(WELL_KNOWN);
    }
    oidc::check_url("discovery_url", &discovery_url).map_err(|m| field_error("discovery_url", m))?;
    let client_id = body.client_id.trim().to_string();
    if client_id.is_empty() || client_id.len() > 500 || client_id.chars().any(char::is_control) {
        return Err(field_error("client_id", "a client id is 1 to 500 characters, without control characters"));
    }
    let secret = body.client_secret.trim();
    if secret.is_empty() || secret.len() > 2000 {
        return Err(field_error("client_secret", "a client secret is 1 to 2000 bytes"));
    }
    let groups_claim = body.groups_claim.map(|g| claim_name("groups_claim", Some(g), "")).transpose()?;
    let username_claim = claim_name("username_claim", body.username_claim, "preferred_username")?;
    let role = body.role_for_new_users.as_deref().map(str::trim).unwrap_or("participant");
    let Some(role) = Role::parse(role) else {
        return Err(field_error("role_for_new_users", format!("unknown role `{role}`")));
    };
    let name = match body.name {
        Some(n) => display_name(&n).map_err(|_| field_error("name", "a name is 1 to 200 characters"))?,
        None => "OpenID Connect".to_string(),
    };
    let provider = state.oidc();
    provider.forget();
    let discovery = provider.discovery(&discovery_url).await.map_err(|e| {
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "oidc_discovery_failed", e.to_string())
            .with(super::Details::Field(Some("discovery_url".into())))
    })?;
    let sealed = seal(&state, secret)?;
    let s = Stored {
        discovery_url,
        client_id,
        client_secret_sealed: sealed,
        groups_claim,
        role_for_new_users: role.as_str().to_string(),
        username_claim,
        name,
    };
    let text = serde_json::to_string(&s).map_err(|e| ApiError::internal(&e))?;
    state.store().replace_secret_setting(SETTING, &text).await?;
    let details = json!({"issuer": discovery.issuer, "client_id": s.client_id, "groups_claim": s.groups_claim,
        "role_for_new_users": s.role_for_new_users, "username_claim": s.username_claim});
    state.audit(Some(&caller), &client, "oidc_configured", None, details).await;
    Ok(Json(view(&state, s)))
}

fn secrets_unavailable() -> ApiError {
    ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "secrets_unavailable", "no secret key is set up on this node")
}

fn seal(state: &AppState, secret: &str) -> ApiResult<String> {
    let slack = state.slack().ok_or_else(secrets_unavailable)?;
    slack.seal_setting(SECRET_PURPOSE, secret.as_bytes()).map_err(|e| ApiError::internal(&e))
}

fn open(state: &AppState, sealed: &str) -> ApiResult<String> {
    let slack = state.slack().ok_or_else(secrets_unavailable)?;
    match slack.open_setting(SECRET_PURPOSE, sealed) {
        Ok(Some(bytes)) => String::from_utf8(bytes).map_err(|e| ApiError::internal(&e)),
        Ok(None) => Err(ApiError::internal(&"the stored OIDC client secret is not sealed")),
        Err(e) => Err(ApiError::internal(&e)),
    }
}

/// The OpenID Connect configuration (never the client secret).
#[utoipa::path(
    get, path = "/api/v1/auth/oidc", tag = "people",
    responses(
        (status = 200, description = "The configuration", body = OidcConfigView),
        (status = 404, description = "`oidc_not_configured`", body = super::views::ErrorBody),
    ),
    security(("bearer" = [])),
)]
pub async fn get_config(State(state): State<AppState>) -> ApiResult<Json<OidcConfigView>> {
    let s = stored(&state).await?.ok_or_else(not_configured)?;
    Ok(Json(view(&state, s)))
}

/// Turns OpenID Connect sign-in off (the sessions it started go on until they end).
#[utoipa::path(
    delete, path = "/api/v1/auth/oidc", tag = "people",
    responses(
        (status = 204, description = "Off"),
        (status = 404, description = "`oidc_not_configured`", body = super::views::ErrorBody),
    ),
    security(("bearer" = [])),
)]
pub async fn delete_config(State(state): State<AppState>, caller: Caller, client: Client) -> ApiResult<StatusCode> {
    if !state.store().delete_setting(SETTING).await? {
        return Err(not_configured());
    }
    state.oidc().forget();
    state.audit(Some(&caller), &client, "oidc_disabled", None, json!({})).await;
    Ok(StatusCode::NO_CONTENT)
}

/// How people may sign in: for the sign-in page, which offers "Sign in with NAME" when OpenID
/// Connect is configured.
#[utoipa::path(
    get, path = "/api/v1/auth/methods", tag = "people",
    responses((status = 200, description = "The sign-in methods", body = SignInMethods)),
)]
pub async fn methods(State(state): State<AppState>) -> ApiResult<Json<SignInMethods>> {
    let oidc =
        stored(&state).await?.map(|s| OidcMethod { name: s.name, start_url: "/api/v1/auth/oidc/start".to_string() });
    Ok(Json(SignInMethods { password: true, oidc }))
}

// ---- the flow ----

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct StartQuery {
    /// A path of this site to go to once signed in (default `/`).
    next: Option<String>,
}

fn b64url(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// Sends the browser to the provider to sign in.
#[utoipa::path(
    get, path = "/api/v1/auth/oidc/start", tag = "people",
    params(StartQuery),
    responses(
        (status = 303, description = "To the provider's authorization endpoint, with `state`, `nonce` and a PKCE S256 challenge"),
        (status = 404, description = "`oidc_not_configured`", body = super::views::ErrorBody),
        (status = 502, description = "`oidc_provider_failed`: the discovery document cannot be read", body = super::views::ErrorBody),
    ),
)]
pub async fn start(State(state): State<AppState>, ApiQuery(q): ApiQuery<StartQuery>) -> ApiResult<Response> {
    let s = stored(&state).await?.ok_or_else(not_configured)?;
    let discovery = state.oidc().discovery(&s.discovery_url).await.map_err(provider_failed)?;
    let random = || sluice_secrets::random_hex().map_err(|e| ApiError::internal(&e));
    let (state_value, nonce, verifier) = (random()?, random()?, random()?);
    let challenge = b64url(&<sha2::Sha256 as sha2::Digest>::digest(verifier.as_bytes()));
    let next = super::web::safe_next(q.next.as_deref().unwrap_or("/")).to_string();
    let login = OidcLogin { nonce: nonce.clone(), verifier, next_path: next };
    let expires_at = Utc::now() + chrono::Duration::seconds(LOGIN_LIFETIME_SECS);
    state.store().add_oidc_login(&token_hash(&state_value), &login, expires_at).await?;
    let mut scope = "openid email profile".to_string();
    if let Some(claim) = &s.groups_claim
        && claim == "groups"
    {
        scope.push_str(" groups");
    }
    let query = form_urlencoded::Serializer::new(String::new())
        .append_pair("response_type", "code")
        .append_pair("client_id", &s.client_id)
        .append_pair("redirect_uri", &redirect_uri(&state))
        .append_pair("scope", &scope)
        .append_pair("state", &state_value)
        .append_pair("nonce", &nonce)
        .append_pair("code_challenge", &challenge)
        .append_pair("code_challenge_method", "S256")
        .finish();
    let sep = if discovery.authorization_endpoint.contains('?') { '&' } else { '?' };
    let location = format!("{}{sep}{query}", discovery.authorization_endpoint);
    let mut resp = StatusCode::SEE_OTHER.into_response();
    let h = resp.headers_mut();
    h.insert(header::LOCATION, HeaderValue::from_str(&location).map_err(|e| ApiError::internal(&e))?);
    h.insert(header::SET_COOKIE, state_cookie(&state, &state_value, LOGIN_LIFETIME_SECS)?);
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(resp)
}

fn state_cookie(state: &AppState, value: &str, max_age: i64) -> ApiResult<HeaderValue> {
    let mut c =
        format!("{STATE_COOKIE}={value}; Path=/api/v1/auth/oidc; HttpOnly; SameSite=Lax; Max-Age={}", max_age.max(0));
    if state.secure_cookies() {
        c.push_str("; Secure");
    }
    HeaderValue::from_str(&c).map_err(|e| ApiError::internal(&e))
}

fn provider_failed(e: oidc::Error) -> ApiError {
    tracing::warn!(error = %e, "OpenID Connect: the provider failed");
    ApiError::new(StatusCode::BAD_GATEWAY, "oidc_provider_failed", e.to_string())
}

/// What the provider sends the browser back with (unknown parameters, such as `session_state`
/// or `iss`, are let through: providers add their own).
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CallbackQuery {
    /// The authorization code.
    code: Option<String>,
    /// The state `start` sent.
    state: Option<String>,
    /// Set when the provider refused (`access_denied`, …).
    error: Option<String>,
}

/// Why the callback refused: audited and answered.
struct Refusal {
    status: StatusCode,
    code: &'static str,
    message: String,
}

fn refuse(status: StatusCode, code: &'static str, message: impl Into<String>) -> Refusal {
    Refusal { status, code, message: message.into() }
}

impl From<ApiError> for Refusal {
    fn from(e: ApiError) -> Self {
        Refusal { status: e.status, code: e.code, message: e.message }
    }
}

impl From<sluice_store::Error> for Refusal {
    fn from(e: sluice_store::Error) -> Self {
        ApiError::from(e).into()
    }
}

fn from_provider(e: oidc::Error) -> Refusal {
    match e {
        oidc::Error::Token(t) => refuse(StatusCode::UNAUTHORIZED, "invalid_id_token", t.to_string()),
        oidc::Error::TokenRefused(m) => {
            refuse(StatusCode::BAD_GATEWAY, "oidc_code_refused", format!("the provider refused the code: {m}"))
        }
        other => refuse(StatusCode::BAD_GATEWAY, "oidc_provider_failed", other.to_string()),
    }
}

/// The provider sends the browser back here: signs the user in and goes on to `next`.
#[utoipa::path(
    get, path = "/api/v1/auth/oidc/callback", tag = "people",
    params(CallbackQuery),
    responses(
        (status = 303, description = "Signed in: `Set-Cookie` sluice_session (HttpOnly) and sluice_csrf, as `POST /api/v1/session` sets them; to `next`. A browser (`Accept: text/html`) is sent to `/login?oidc_error=CODE` instead of any error below"),
        (status = 400, description = "`oidc_denied` (the provider refused), `bad_request` (no code or state), `invalid_oidc_state`, `oidc_state_used`, `oidc_state_expired`", body = super::views::ErrorBody),
        (status = 401, description = "`invalid_id_token`: signature, issuer, audience, expiry or nonce", body = super::views::ErrorBody),
        (status = 403, description = "`oidc_user_conflict`: the username belongs to a user who may not sign in this way; `oidc_user_unavailable`: deleted", body = super::views::ErrorBody),
        (status = 404, description = "`oidc_not_configured`", body = super::views::ErrorBody),
        (status = 422, description = "`oidc_bad_claim`: the username claim is missing or not a username", body = super::views::ErrorBody),
        (status = 502, description = "`oidc_provider_failed`, `oidc_code_refused`", body = super::views::ErrorBody),
    ),
)]
pub async fn callback(
    State(state): State<AppState>,
    client: Client,
    headers: HeaderMap,
    ApiQuery(q): ApiQuery<CallbackQuery>,
) -> Response {
    let browser = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).is_some_and(|a| a.contains("text/html"));
    let clear = state_cookie(&state, "", 0);
    let mut resp = match sign_in(&state, &client, &headers, q).await {
        Ok(resp) => resp,
        Err((r, actor)) => {
            tracing::warn!(code = r.code, reason = %r.message, "OpenID Connect sign-in refused");
            let details = json!({"method": "oidc", "reason": r.code, "message": r.message});
            state.audit_as(actor, &client, "sign_in_failed", None, details).await;
            if browser {
                let location = format!("/login?oidc_error={}", r.code);
                (StatusCode::SEE_OTHER, [(header::LOCATION, location)]).into_response()
            } else {
                ApiError::new(r.status, r.code, r.message).into_response()
            }
        }
    };
    if let Ok(c) = clear {
        resp.headers_mut().append(header::SET_COOKIE, c);
    }
    resp.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

/// The callback's work; a refusal with the username it concerns, when known.
async fn sign_in(
    state: &AppState,
    client: &Client,
    headers: &HeaderMap,
    q: CallbackQuery,
) -> Result<Response, (Refusal, Option<String>)> {
    let anon = |r: Refusal| (r, None);
    if let Some(error) = q.error {
        let error: String = error.chars().filter(|c| c.is_ascii_graphic()).take(100).collect();
        return Err(anon(refuse(StatusCode::BAD_REQUEST, "oidc_denied", format!("the provider refused: {error}"))));
    }
    let (Some(code), Some(state_value)) = (q.code, q.state) else {
        return Err(anon(refuse(StatusCode::BAD_REQUEST, "bad_request", "the callback needs `code` and `state`")));
    };
    let bound = cookie(headers, STATE_COOKIE).is_some_and(|c| bool::from(c.as_bytes().ct_eq(state_value.as_bytes())));
    if !bound {
        return Err(anon(refuse(
            StatusCode::BAD_REQUEST,
            "invalid_oidc_state",
            "the state is not the one this browser started signing in with",
        )));
    }
    let login = match state
        .store()
        .take_oidc_login(&token_hash(&state_value), Utc::now())
        .await
        .map_err(|e| anon(e.into()))?
    {
        OidcLoginUse::Taken(l) => l,
        OidcLoginUse::Unknown => {
            return Err(anon(refuse(
                StatusCode::BAD_REQUEST,
                "invalid_oidc_state",
                "no sign-in was started with this state",
            )));
        }
        OidcLoginUse::Used => {
            return Err(anon(refuse(StatusCode::BAD_REQUEST, "oidc_state_used", "this sign-in was completed already")));
        }
        OidcLoginUse::Expired => {
            return Err(anon(refuse(
                StatusCode::BAD_REQUEST,
                "oidc_state_expired",
                "this sign-in took too long: start again",
            )));
        }
    };
    let s = stored(state).await.map_err(|e| anon(e.into()))?.ok_or_else(|| anon(not_configured().into()))?;
    let secret = open(state, &s.client_secret_sealed).map_err(|e| anon(e.into()))?;
    let provider = state.oidc();
    let discovery = provider.discovery(&s.discovery_url).await.map_err(|e| anon(from_provider(e)))?;
    let redirect = redirect_uri(state);
    let exchange = Exchange {
        code: &code,
        redirect_uri: &redirect,
        verifier: &login.verifier,
        client_id: &s.client_id,
        client_secret: &secret,
    };
    let id_token = provider.exchange(&discovery, &exchange).await.map_err(|e| anon(from_provider(e)))?;
    let want = jwt::Expected {
        issuer: &discovery.issuer,
        client_id: &s.client_id,
        nonce: &login.nonce,
        now: Utc::now().timestamp(),
    };
    let claims = provider.verify(&discovery, &id_token, &want).await.map_err(|e| anon(from_provider(e)))?;
    let raw_name = claims.get(&s.username_claim).and_then(Value::as_str).ok_or_else(|| {
        let m = format!("the ID token has no string claim `{}` to use as the username", s.username_claim);
        anon(refuse(StatusCode::UNPROCESSABLE_ENTITY, "oidc_bad_claim", m))
    })?;
    let name = username(raw_name).map_err(|_| {
        let m = format!("the claim `{}` is not a username (1 to 64 of a-z, 0-9, `.`, `_`, `-`, `@`)", s.username_claim);
        anon(refuse(StatusCode::UNPROCESSABLE_ENTITY, "oidc_bad_claim", m))
    })?;
    let user =
        user_for(state, client, &s, &discovery.issuer, &claims, &name).await.map_err(|r| (r, Some(name.clone())))?;
    state.people().sign_in_succeeded(state.store(), &name).await;
    let (_, cookies) = open_session(state, user, client, "oidc").await.map_err(|e| (e.into(), Some(name.clone())))?;
    let mut resp = (StatusCode::SEE_OTHER, [(header::LOCATION, login.next_path)]).into_response();
    for c in cookies {
        resp.headers_mut().append(header::SET_COOKIE, c);
    }
    Ok(resp)
}

/// The groups of the configured claim (an array of strings, or one string); entries that are no
/// group name are left out (and logged).
fn claimed_groups(claims: &serde_json::Map<String, Value>, claim: &str) -> Vec<String> {
    let raw: Vec<String> = match claims.get(claim) {
        Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).map(str::to_string).collect(),
        Some(Value::String(g)) => vec![g.clone()],
        _ => Vec::new(),
    };
    let mut out = Vec::new();
    for g in raw {
        match groups(std::slice::from_ref(&g)) {
            Ok(mut ok) => out.append(&mut ok),
            Err(_) => tracing::warn!(claim, "OpenID Connect: a group of the claim is not a group name; left out"),
        }
    }
    out.sort();
    out.dedup();
    out
}

/// Finds the user the token signs in (by the provider's subject once linked, else by username),
/// or creates them; brings their groups, email and name up to date from the claims.
async fn user_for(
    state: &AppState,
    client: &Client,
    s: &Stored,
    issuer: &str,
    claims: &serde_json::Map<String, Value>,
    name: &str,
) -> Result<UserRow, Refusal> {
    let store = state.store();
    let subject = claims.get("sub").and_then(Value::as_str).unwrap_or_default();
    // An address the provider says it did not verify is not taken: Slack users are linked by email.
    let verified = claims.get("email_verified").and_then(Value::as_bool) != Some(false);
    let claimed_email = claims.get("email").and_then(Value::as_str).filter(|_| verified).and_then(|e| email(e).ok());
    let claimed_name = claims.get("name").and_then(Value::as_str).and_then(|n| display_name(n).ok());
    let claimed_groups = s.groups_claim.as_deref().map(|c| claimed_groups(claims, c));
    let conflict = |why: &str| {
        refuse(
            StatusCode::FORBIDDEN,
            "oidc_user_conflict",
            format!("`{name}` cannot sign in with OpenID Connect: {why}"),
        )
    };
    let unavailable =
        || refuse(StatusCode::FORBIDDEN, "oidc_user_unavailable", format!("the user `{name}` was deleted"));
    let user = match store.oidc_user(issuer, subject).await? {
        Some(id) => store.user(&id).await?.ok_or_else(unavailable)?,
        None => {
            let user = match store.user_for_sign_in(name).await? {
                Some((u, _)) if u.id == BUILTIN_ADMIN_ID => return Err(conflict("it is the built-in administrator")),
                Some((u, _)) if store.oidc_linked(issuer, &u.id).await? => {
                    return Err(conflict("the user signs in as another subject of the provider"));
                }
                Some((u, _)) => u,
                None => {
                    let new = NewUser {
                        username: name.to_string(),
                        name: claimed_name.clone().unwrap_or_else(|| name.to_string()),
                        email: claimed_email.clone().unwrap_or_default(),
                        password_hash: None,
                        roles: vec![s.role_for_new_users.clone()],
                        groups: claimed_groups.clone().unwrap_or_default(),
                        slack_user_ids: Default::default(),
                    };
                    let created = store.create_user(&new).await?.ok_or_else(unavailable)?;
                    let details = json!({"username": created.username, "roles": created.roles,
                        "groups": created.groups, "method": "oidc"});
                    state
                        .audit_as(Some(name.to_string()), client, "user_created", Some(created.id.clone()), details)
                        .await;
                    created
                }
            };
            if !store.link_oidc(issuer, subject, &user.id).await? {
                return Err(conflict("the provider's subject was linked to another user meanwhile"));
            }
            user
        }
    };
    let change = UserChange {
        groups: claimed_groups.filter(|g| *g != user.groups),
        email: claimed_email.filter(|e| *e != user.email),
        name: claimed_name.filter(|n| *n != user.name),
        ..UserChange::default()
    };
    if change.groups.is_none() && change.email.is_none() && change.name.is_none() {
        return Ok(user);
    }
    let groups_changed = change.groups.clone();
    let updated = store.update_user(&user.id, &change).await?.ok_or_else(unavailable)?;
    state.people().forget_user(&user.id);
    if let Some(groups) = groups_changed {
        let details = json!({"username": updated.username, "changed": ["groups"], "groups": groups, "method": "oidc"});
        state.audit_as(Some(name.to_string()), client, "user_updated", Some(user.id.clone()), details).await;
    }
    Ok(updated)
}
