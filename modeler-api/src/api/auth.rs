//! Who is calling, and what they may do.
//!
//! One middleware ([`auth`]) checks a bearer token or a session cookie the same way and puts one
//! [`Caller`] (user id, username, roles, groups) into the request's extensions for the handlers.
//! Every authenticated route has a [`Rule`] in [`RULES`], looked up by the route's template: a
//! caller without one of its roles gets 403 `forbidden` naming the roles; a route without a rule is
//! refused (and the permission matrix test fails). What a participant may *see* (their own
//! Requests and tasks) is decided in the handlers, which answer 404 for the rest.
//!
//! Credentials are looked up in the store by their SHA-256 and cached for [`CREDENTIAL_CACHE`]:
//! a token revoked, a session ended or a user changed on this node takes effect at once (the
//! cache entries go); through another node, within that time.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use std::time::{Duration, Instant};

use axum::extract::{FromRequestParts, MatchedPath, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header, request::Parts};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use sluice_store::{BUILTIN_ADMIN_ID, Principal, Store};
use subtle::ConstantTimeEq;

use super::{ApiError, AppState, token_hash};

/// How long a looked-up token or session is trusted without asking the database again: the
/// bound on how late another node sees a revocation, a sign-out or a change of roles.
pub const CREDENTIAL_CACHE: Duration = Duration::from_secs(5);
/// How long a web app session lasts from sign-in.
pub const SESSION_LIFETIME: Duration = Duration::from_secs(12 * 3600);
/// The session cookie (HttpOnly).
pub const SESSION_COOKIE: &str = "sluice_session";
/// The cookie with the CSRF token, readable by the web app's script.
pub const CSRF_COOKIE: &str = "sluice_csrf";
/// The header a write with a session cookie must echo the CSRF token in.
pub const CSRF_HEADER: &str = "x-csrf-token";
/// Failed sign-ins allowed per username within [`SIGN_IN_WINDOW`].
pub const MAX_FAILURES_PER_USER: usize = 5;
/// Failed sign-ins allowed per client address within [`SIGN_IN_WINDOW`] (several people may
/// share an address behind a proxy or NAT).
pub const MAX_FAILURES_PER_ADDRESS: usize = 20;
pub const SIGN_IN_WINDOW: Duration = Duration::from_secs(15 * 60);
/// The shortest password accepted, in characters.
pub const MIN_PASSWORD_CHARS: usize = 12;
/// The longest password accepted, in bytes (hashing is costly; a megabyte password is not a
/// password).
pub const MAX_PASSWORD_BYTES: usize = 1024;
/// The most credentials kept in the cache (beyond, it starts again empty).
const CACHE_ENTRIES: usize = 10_000;

// ---- roles ----

/// What a user may do. `admin` may do everything.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    /// Users, integrations, the Slack app's settings, the audit log: everything.
    Admin,
    /// Deploys and changes processes (and decisions), notification settings.
    Designer,
    /// Cancels, retries and repairs any Request; sees all Requests and tasks; publishes messages
    /// and signals.
    Operator,
    /// Starts Requests; sees and works their tasks and the Requests they started or took part in.
    Participant,
    /// Job workers: may only activate and finish jobs (`/api/v1/jobs…`), of the types their
    /// groups name (`jobs:T`, `jobs:*`; see `api/jobs.rs`).
    Worker,
}

impl Role {
    pub const ALL: [Role; 5] = [Role::Admin, Role::Designer, Role::Operator, Role::Participant, Role::Worker];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Designer => "designer",
            Role::Operator => "operator",
            Role::Participant => "participant",
            Role::Worker => "worker",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == s)
    }

    fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

/// A set of roles.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct Roles(u8);

impl Roles {
    /// The known roles among `names` (an unknown name, from a newer version, grants nothing).
    pub fn from_names<S: AsRef<str>>(names: &[S]) -> Roles {
        Roles(names.iter().filter_map(|n| Role::parse(n.as_ref())).fold(0, |bits, r| bits | r.bit()))
    }

    pub fn contains(self, role: Role) -> bool {
        self.0 & role.bit() != 0
    }

    pub fn names(self) -> Vec<&'static str> {
        Role::ALL.into_iter().filter(|r| self.contains(*r)).map(Role::as_str).collect()
    }
}

// ---- the caller ----

/// How the caller proved who they are.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Credential {
    /// The token of `SLUICE_API_TOKEN` (the built-in `admin`).
    Configured,
    /// A stored API token.
    Token { id: String },
    /// A web app session (writes need the CSRF token).
    Session { id: String },
}

/// The authenticated user a request acts for, in the request's extensions (see [`auth`]).
/// Cheap to clone.
#[derive(Clone, Debug)]
pub struct Caller(Arc<Who>);

#[derive(Debug)]
pub struct Who {
    pub user_id: String,
    pub username: String,
    pub roles: Roles,
    /// The groups they are in (candidate groups of tasks).
    pub groups: Vec<String>,
    pub credential: Credential,
}

impl std::ops::Deref for Caller {
    type Target = Who;
    fn deref(&self) -> &Who {
        &self.0
    }
}

impl Caller {
    fn of(p: Principal, credential: Credential) -> Caller {
        Caller(Arc::new(Who {
            roles: Roles::from_names(&p.roles),
            user_id: p.user_id,
            username: p.username,
            groups: p.groups,
            credential,
        }))
    }

    /// Whether the caller has `role` (an admin has every role).
    pub fn has(&self, role: Role) -> bool {
        self.roles.contains(Role::Admin) || self.roles.contains(role)
    }

    pub fn is_admin(&self) -> bool {
        self.roles.contains(Role::Admin)
    }

    /// Operators and admins see every Request and task; participants only their own.
    pub fn sees_everything(&self) -> bool {
        self.has(Role::Operator)
    }

    /// The username whose Requests and tasks a listing is limited to (`None`: everything).
    pub fn visible_to(&self) -> Option<String> {
        (!self.sees_everything()).then(|| self.username.clone())
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        parts.extensions.get::<Caller>().cloned().ok_or_else(unauthorized)
    }
}

/// The address of the client's connection (set by `serve` for each connection; absent in tests
/// that drive the router without a socket).
#[derive(Copy, Clone, Debug)]
pub struct ClientAddr(pub SocketAddr);

/// The client's address as recorded in the audit log (`None` when unknown).
#[derive(Clone, Debug, Default)]
pub struct Client(pub Option<String>);

impl<S: Send + Sync> FromRequestParts<S> for Client {
    type Rejection = std::convert::Infallible;
    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(Client(parts.extensions.get::<ClientAddr>().map(|a| a.0.ip().to_string())))
    }
}

// ---- rules ----

/// Who may call a route.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Rule {
    /// Any signed-in caller; the handler limits them to their own things.
    SignedIn,
    /// A caller with one of these roles (an admin always).
    AnyOf(&'static [Role]),
}

use Role::{Admin, Designer, Operator, Participant, Worker};

/// The rule of every authenticated route, by method and route template. A route missing here is
/// refused to everyone (and fails the permission matrix test).
pub const RULES: &[(&str, &str, Rule)] = &[
    ("POST", "/api/v1/processes", Rule::AnyOf(&[Designer])),
    ("GET", "/api/v1/processes", Rule::AnyOf(&[Designer, Operator, Participant])),
    ("GET", "/api/v1/processes/{key}", Rule::AnyOf(&[Designer, Operator, Participant])),
    // Over every Request of the process: not for a participant, who sees only their own.
    ("GET", "/api/v1/processes/{key}/counts", Rule::AnyOf(&[Designer, Operator])),
    ("POST", "/api/v1/processes/{key}/requests", Rule::AnyOf(&[Participant, Operator])),
    ("POST", "/api/v1/processes/{key}/suspend", Rule::AnyOf(&[Designer, Operator])),
    ("POST", "/api/v1/processes/{key}/resume", Rule::AnyOf(&[Designer, Operator])),
    ("DELETE", "/api/v1/processes/{key}/versions/{version}", Rule::AnyOf(&[Designer])),
    ("GET", "/api/v1/requests", Rule::AnyOf(&[Participant, Operator])),
    ("GET", "/api/v1/requests/{id}", Rule::AnyOf(&[Participant, Operator])),
    ("GET", "/api/v1/requests/{id}/events", Rule::AnyOf(&[Participant, Operator])),
    ("POST", "/api/v1/requests/{id}/cancel", Rule::AnyOf(&[Operator])),
    ("POST", "/api/v1/requests/{id}/retry", Rule::AnyOf(&[Operator])),
    ("POST", "/api/v1/requests/{id}/modify", Rule::AnyOf(&[Operator])),
    ("PATCH", "/api/v1/requests/{id}/data", Rule::AnyOf(&[Operator])),
    ("POST", "/api/v1/requests/{id}/migrate", Rule::AnyOf(&[Operator])),
    ("POST", "/api/v1/requests/{id}/suspend", Rule::AnyOf(&[Operator])),
    ("POST", "/api/v1/requests/{id}/resume", Rule::AnyOf(&[Operator])),
    ("GET", "/api/v1/incidents", Rule::AnyOf(&[Operator])),
    ("POST", "/api/v1/operations", Rule::AnyOf(&[Operator])),
    ("GET", "/api/v1/operations/{id}", Rule::AnyOf(&[Operator])),
    ("POST", "/api/v1/incidents/retry", Rule::AnyOf(&[Operator])),
    ("GET", "/api/v1/tasks", Rule::AnyOf(&[Participant, Operator])),
    ("GET", "/api/v1/tasks/{id}", Rule::AnyOf(&[Participant, Operator])),
    ("POST", "/api/v1/tasks/{id}/complete", Rule::AnyOf(&[Participant, Operator])),
    ("POST", "/api/v1/tasks/{id}/claim", Rule::AnyOf(&[Participant, Operator])),
    ("POST", "/api/v1/tasks/{id}/unclaim", Rule::AnyOf(&[Participant, Operator])),
    ("POST", "/api/v1/tasks/{id}/assign", Rule::AnyOf(&[Operator])),
    ("POST", "/api/v1/tasks/{id}/delegate", Rule::AnyOf(&[Participant, Operator])),
    ("POST", "/api/v1/tasks/{id}/resolve", Rule::AnyOf(&[Participant, Operator])),
    ("POST", "/api/v1/messages", Rule::AnyOf(&[Operator])),
    ("POST", "/api/v1/signals", Rule::AnyOf(&[Operator])),
    ("GET", "/api/v1/connectors", Rule::AnyOf(&[Designer, Operator])),
    ("GET", "/api/v1/connectors/templates", Rule::AnyOf(&[Designer, Operator])),
    ("GET", "/api/v1/decisions", Rule::AnyOf(&[Designer, Operator, Participant])),
    ("GET", "/api/v1/decisions/{id}", Rule::AnyOf(&[Designer, Operator, Participant])),
    ("POST", "/api/v1/decisions/{id}/evaluate", Rule::AnyOf(&[Designer])),
    ("PUT", "/api/v1/admin/slack-app", Rule::AnyOf(&[Admin])),
    // Workers, and operators (any type); which types a worker may take is the handler's.
    ("POST", "/api/v1/jobs/activate", Rule::AnyOf(&[Worker, Operator])),
    ("POST", "/api/v1/jobs/{id}/complete", Rule::AnyOf(&[Worker, Operator])),
    ("POST", "/api/v1/jobs/{id}/fail", Rule::AnyOf(&[Worker, Operator])),
    ("POST", "/api/v1/jobs/{id}/error", Rule::AnyOf(&[Worker, Operator])),
    ("POST", "/api/v1/jobs/{id}/extend", Rule::AnyOf(&[Worker, Operator])),
    ("GET", "/api/v1/secrets", Rule::AnyOf(&[Admin])),
    ("PUT", "/api/v1/secrets/{name}", Rule::AnyOf(&[Admin])),
    ("DELETE", "/api/v1/secrets/{name}", Rule::AnyOf(&[Admin])),
    ("GET", "/api/v1/integrations/slack", Rule::AnyOf(&[Designer])),
    ("POST", "/api/v1/integrations/slack", Rule::AnyOf(&[Admin])),
    ("GET", "/api/v1/integrations/slack/install", Rule::AnyOf(&[Admin])),
    ("GET", "/api/v1/integrations/slack/manifest", Rule::AnyOf(&[Admin])),
    ("DELETE", "/api/v1/integrations/slack/{alias}", Rule::AnyOf(&[Admin])),
    ("GET", "/api/v1/integrations/slack/{alias}/channels", Rule::AnyOf(&[Designer])),
    ("GET", "/api/v1/processes/{key}/notifications", Rule::AnyOf(&[Designer])),
    ("PUT", "/api/v1/processes/{key}/notifications", Rule::AnyOf(&[Designer])),
    ("GET", "/api/v1/users", Rule::AnyOf(&[Admin])),
    ("POST", "/api/v1/users", Rule::AnyOf(&[Admin])),
    ("GET", "/api/v1/users/{id}", Rule::AnyOf(&[Admin])),
    ("PATCH", "/api/v1/users/{id}", Rule::AnyOf(&[Admin])),
    ("DELETE", "/api/v1/users/{id}", Rule::AnyOf(&[Admin])),
    ("GET", "/api/v1/users/{id}/tokens", Rule::SignedIn),
    ("POST", "/api/v1/users/{id}/tokens", Rule::SignedIn),
    ("DELETE", "/api/v1/tokens/{id}", Rule::SignedIn),
    ("GET", "/api/v1/me", Rule::SignedIn),
    ("PUT", "/api/v1/me/password", Rule::SignedIn),
    ("DELETE", "/api/v1/session", Rule::SignedIn),
    ("GET", "/api/v1/audit", Rule::AnyOf(&[Admin])),
    ("GET", "/api/v1/auth/oidc", Rule::AnyOf(&[Admin])),
    ("PUT", "/api/v1/auth/oidc", Rule::AnyOf(&[Admin])),
    ("DELETE", "/api/v1/auth/oidc", Rule::AnyOf(&[Admin])),
];

/// The rule of a route (`None`: it has none, and is refused).
pub fn rule_for(method: &Method, route: &str) -> Option<Rule> {
    static TABLE: OnceLock<HashMap<(&'static str, &'static str), Rule>> = OnceLock::new();
    let table = TABLE.get_or_init(|| RULES.iter().map(|(m, p, r)| ((*m, *p), *r)).collect());
    // A HEAD is answered by the route's GET.
    let method = if method == Method::HEAD { "GET" } else { method.as_str() };
    table.get(&(method, route)).copied()
}

/// Why `caller` may not call a route of `rule` (`None`: they may).
fn refusal(caller: &Caller, rule: Rule, method: &Method, route: &str) -> Option<ApiError> {
    let Rule::AnyOf(roles) = rule else { return None };
    if roles.iter().any(|r| caller.has(*r)) {
        return None;
    }
    let needed = roles.iter().map(|r| format!("`{}`", r.as_str())).collect::<Vec<_>>().join(" or ");
    let has = match caller.roles.names() {
        names if names.is_empty() => "no role".to_string(),
        names => format!("the roles {}", names.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", ")),
    };
    Some(ApiError::new(
        StatusCode::FORBIDDEN,
        "forbidden",
        format!("{method} {route} needs the role {needed}; `{}` has {has}", caller.username),
    ))
}

// ---- the middleware ----

pub fn unauthorized() -> ApiError {
    ApiError::new(
        StatusCode::UNAUTHORIZED,
        "unauthorized",
        "a valid `Authorization: Bearer <token>` or a signed-in session is required",
    )
}

fn unauthorized_response(message: Option<&str>) -> Response {
    let mut e = unauthorized();
    if let Some(m) = message {
        e.message = m.to_string();
    }
    let mut resp = e.into_response();
    resp.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    resp
}

/// Authenticates the request (a bearer token, else the session cookie), checks the CSRF token of a
/// session's writes and the route's [`Rule`], and hands the [`Caller`] to the handler.
pub async fn auth(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let caller = match authenticate(&state, req.headers()).await {
        Ok(c) => c,
        Err(Refused::Unauthorized(message)) => return unauthorized_response(message),
        Err(Refused::Error(e)) => return e.into_response(),
    };
    let method = req.method().clone();
    if matches!(caller.credential, Credential::Session { .. }) && is_write(&method) && !csrf_ok(req.headers()) {
        return ApiError::new(
            StatusCode::FORBIDDEN,
            "csrf",
            format!(
                "a write with a session cookie must echo the CSRF token in `X-CSRF-Token` (the `{CSRF_COOKIE}` cookie)"
            ),
        )
        .into_response();
    }
    let refused = {
        let route = req.extensions().get::<MatchedPath>().map(MatchedPath::as_str).unwrap_or_default();
        match rule_for(&method, route) {
            None => {
                tracing::error!(%method, route, "a route without a permission rule was refused: add it to auth::RULES");
                let message = format!("{method} {route} has no permission rule");
                Some(ApiError::new(StatusCode::FORBIDDEN, "forbidden", message))
            }
            Some(rule) => refusal(&caller, rule, &method, route),
        }
    };
    if let Some(e) = refused {
        return e.into_response();
    }
    req.extensions_mut().insert(caller);
    next.run(req).await
}

enum Refused {
    /// 401, with a message of its own or the usual one.
    Unauthorized(Option<&'static str>),
    Error(ApiError),
}

async fn authenticate(state: &AppState, headers: &HeaderMap) -> Result<Caller, Refused> {
    let people = state.people();
    if let Some(value) = headers.get(header::AUTHORIZATION) {
        let token = value.to_str().ok().and_then(super::bearer_token).ok_or(Refused::Unauthorized(None))?;
        return people.by_token(state.store(), &token_hash(token)).await;
    }
    match cookie(headers, SESSION_COOKIE) {
        Some(secret) => people.by_session(state.store(), &token_hash(secret)).await,
        None => Err(Refused::Unauthorized(None)),
    }
}

/// The user of a request's session cookie, for the web app's pages (`None`: no cookie, or its
/// session ended). Pages take no bearer token: a browser has none.
pub(super) async fn session_caller(state: &AppState, headers: &HeaderMap) -> Result<Option<Caller>, ApiError> {
    let Some(secret) = cookie(headers, SESSION_COOKIE) else { return Ok(None) };
    match state.people().by_session(state.store(), &token_hash(secret)).await {
        Ok(caller) => Ok(Some(caller)),
        Err(Refused::Unauthorized(_)) => Ok(None),
        Err(Refused::Error(e)) => Err(e),
    }
}

fn is_write(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// Whether the `X-CSRF-Token` header is the CSRF token of the request's session cookie.
fn csrf_ok(headers: &HeaderMap) -> bool {
    let (Some(secret), Some(sent)) =
        (cookie(headers, SESSION_COOKIE), headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok()))
    else {
        return false;
    };
    bool::from(csrf_token(secret).as_bytes().ct_eq(sent.trim().as_bytes()))
}

/// The CSRF token of a session: derived from its secret (SHA-256 with a prefix of its own), so
/// nothing more is stored, and only who holds the session cookie or read the answer to the
/// sign-in can know it.
pub fn csrf_token(session_secret: &str) -> String {
    token_hash(&format!("sluice-csrf:{session_secret}"))
}

/// The value of a cookie of the request.
pub fn cookie<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim())
        .filter(|v| !v.is_empty())
}

// ---- credentials ----

struct Cached {
    caller: Caller,
    expires_at: Option<DateTime<Utc>>,
    fetched: Instant,
}

/// Authentication state of one node: the configured token, the credential cache and the
/// sign-in limiter.
pub struct People {
    /// SHA-256 of the `SLUICE_API_TOKEN` tokens (the built-in `admin`'s).
    configured: Vec<String>,
    /// Whether the startup token stored at first start is accepted (not with `SLUICE_API_TOKEN`).
    accept_startup: bool,
    cache: RwLock<HashMap<String, Cached>>,
    pub limiter: SignInLimiter,
    /// At most this many password hashes are computed at once (each takes ~19 MiB for a moment).
    hashing: tokio::sync::Semaphore,
}

impl People {
    pub fn new(configured: Vec<String>, accept_startup: bool) -> People {
        People {
            configured,
            accept_startup,
            cache: RwLock::new(HashMap::new()),
            limiter: SignInLimiter::default(),
            hashing: tokio::sync::Semaphore::new(2),
        }
    }

    fn cached(&self, hash: &str) -> Option<Result<Caller, Refused>> {
        let cache = self.cache.read().unwrap_or_else(std::sync::PoisonError::into_inner);
        let c = cache.get(hash).filter(|c| c.fetched.elapsed() < CREDENTIAL_CACHE)?;
        Some(check_expiry(c.caller.clone(), c.expires_at))
    }

    fn remember(&self, hash: &str, caller: &Caller, expires_at: Option<DateTime<Utc>>) {
        let mut cache = self.cache.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        if cache.len() >= CACHE_ENTRIES {
            cache.retain(|_, c| c.fetched.elapsed() < CREDENTIAL_CACHE);
            if cache.len() >= CACHE_ENTRIES {
                cache.clear();
            }
        }
        cache.insert(hash.to_string(), Cached { caller: caller.clone(), expires_at, fetched: Instant::now() });
    }

    /// Forgets the cached credential `id` (a revoked token, an ended session).
    pub fn forget_credential(&self, id: &str) {
        let mut cache = self.cache.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        cache.retain(|_, c| match &c.caller.credential {
            Credential::Token { id: t } | Credential::Session { id: t } => t != id,
            Credential::Configured => true,
        });
    }

    /// Forgets every cached credential of a user (changed or deleted).
    pub fn forget_user(&self, user_id: &str) {
        let mut cache = self.cache.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        cache.retain(|_, c| c.caller.user_id != user_id);
    }

    async fn by_token(&self, store: &Store, hash: &str) -> Result<Caller, Refused> {
        if let Some(hit) = self.cached(hash) {
            return hit;
        }
        let mut configured = subtle::Choice::from(0);
        for known in &self.configured {
            configured |= hash.as_bytes().ct_eq(known.as_bytes());
        }
        if bool::from(configured) {
            let admin = store.user(BUILTIN_ADMIN_ID).await.map_err(|e| Refused::Error(e.into()))?;
            let Some(u) = admin else { return Err(Refused::Unauthorized(None)) };
            let p = Principal {
                user_id: u.id,
                username: u.username,
                roles: u.roles,
                groups: u.groups,
                credential_id: String::new(),
                expires_at: None,
                startup: false,
            };
            let caller = Caller::of(p, Credential::Configured);
            self.remember(hash, &caller, None);
            return Ok(caller);
        }
        let found = store.principal_by_token(hash).await.map_err(|e| Refused::Error(e.into()))?;
        let Some(p) = found.filter(|p| self.accept_startup || !p.startup) else {
            return Err(Refused::Unauthorized(None));
        };
        let expires_at = p.expires_at;
        let id = p.credential_id.clone();
        let caller = Caller::of(p, Credential::Token { id });
        self.remember(hash, &caller, expires_at);
        check_expiry(caller, expires_at)
    }

    async fn by_session(&self, store: &Store, hash: &str) -> Result<Caller, Refused> {
        if let Some(hit) = self.cached(hash) {
            return hit;
        }
        let found = store.principal_by_session(hash).await.map_err(|e| Refused::Error(e.into()))?;
        let Some(p) = found else {
            return Err(Refused::Unauthorized(Some("the session has ended: sign in again")));
        };
        let expires_at = p.expires_at;
        let id = p.credential_id.clone();
        let caller = Caller::of(p, Credential::Session { id });
        self.remember(hash, &caller, expires_at);
        check_expiry(caller, expires_at)
    }

    /// Hashes a password with argon2id (on a blocking thread, at most two at once).
    pub async fn hash_password(&self, password: String) -> Result<String, ApiError> {
        let _permit = self.hashing.acquire().await.map_err(|e| ApiError::internal(&e))?;
        tokio::task::spawn_blocking(move || passwords::hash(&password))
            .await
            .map_err(|e| ApiError::internal(&e))?
            .map_err(|e| ApiError::internal(&e))
    }

    /// Whether `password` matches `hash` (argon2id; on a blocking thread, at most two at once).
    /// Without a hash (an unknown user, or one without a password) a dummy hash is checked, so
    /// that the answer takes as long and says as little.
    pub async fn verify_password(&self, password: String, hash: Option<String>) -> Result<bool, ApiError> {
        let _permit = self.hashing.acquire().await.map_err(|e| ApiError::internal(&e))?;
        tokio::task::spawn_blocking(move || match hash {
            Some(h) => passwords::verify(&password, &h),
            None => {
                let _ = passwords::verify(&password, passwords::dummy());
                false
            }
        })
        .await
        .map_err(|e| ApiError::internal(&e))
    }
}

fn check_expiry(caller: Caller, expires_at: Option<DateTime<Utc>>) -> Result<Caller, Refused> {
    match expires_at {
        Some(t) if t <= Utc::now() => Err(Refused::Unauthorized(Some(match caller.credential {
            Credential::Session { .. } => "the session has ended: sign in again",
            _ => "the token has expired",
        }))),
        _ => Ok(caller),
    }
}

// ---- passwords ----

/// Password hashing: argon2id with the argon2 crate's defaults (19 MiB, 2 passes, 1 lane: OWASP's
/// recommendation), stored in the PHC string format, so the parameters can change later without
/// invalidating stored hashes.
pub mod passwords {
    use std::sync::OnceLock;

    use argon2::Argon2;
    use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};

    pub fn hash(password: &str) -> Result<String, String> {
        let salt = sluice_secrets::random_bytes::<16>().map_err(|e| e.to_string())?;
        let salt = SaltString::encode_b64(&salt).map_err(|e| e.to_string())?;
        Argon2::default().hash_password(password.as_bytes(), &salt).map(|h| h.to_string()).map_err(|e| e.to_string())
    }

    pub fn verify(password: &str, hash: &str) -> bool {
        match PasswordHash::new(hash) {
            Ok(parsed) => Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok(),
            Err(e) => {
                tracing::error!(error = %e, "a stored password hash cannot be read");
                false
            }
        }
    }

    /// A hash of a random password, checked when there is no user (same cost, no answer).
    pub fn dummy() -> &'static str {
        static DUMMY: OnceLock<String> = OnceLock::new();
        DUMMY.get_or_init(|| {
            let random = sluice_secrets::random_hex().unwrap_or_else(|_| "sluice-dummy-password".to_string());
            hash(&random).unwrap_or_default()
        })
    }
}

// ---- sign-in limits ----

impl People {
    /// `Err(wait)` while `username` or `client` had too many failed sign-ins lately, on this node
    /// or on any node that shares the database.
    pub async fn check_sign_in(
        &self,
        store: &sluice_store::Store,
        username: &str,
        client: Option<&str>,
    ) -> Result<(), Duration> {
        self.limiter.check(username, client)?;
        let now = chrono::Utc::now();
        let window = chrono::Duration::from_std(SIGN_IN_WINDOW).unwrap_or_else(|_| chrono::Duration::minutes(15));
        let mut wait: Option<Duration> = None;
        for (key, max) in SignInLimiter::keys(username, client) {
            let times = match store.sign_in_failures(&key, now - window).await {
                Ok(times) => times,
                Err(e) => {
                    // This node's own count still holds.
                    tracing::warn!(error = %e, "cannot read the shared sign-in failures");
                    continue;
                }
            };
            if times.len() >= max
                && let Some(oldest) = times.get(times.len() - max)
            {
                let left = (*oldest + window - now).to_std().unwrap_or_default().max(Duration::from_secs(1));
                wait = Some(wait.map_or(left, |w| w.max(left)));
            }
        }
        wait.map_or(Ok(()), Err)
    }

    /// Counts a failed sign-in of `username` from `client`, here and for every node.
    pub async fn sign_in_failed(&self, store: &sluice_store::Store, username: &str, client: Option<&str>) {
        self.limiter.failed(username, client);
        let now = chrono::Utc::now();
        let window = chrono::Duration::from_std(SIGN_IN_WINDOW).unwrap_or_else(|_| chrono::Duration::minutes(15));
        let keys = SignInLimiter::keys(username, client);
        let keys: Vec<&str> = keys.iter().map(|(k, _)| k.as_str()).collect();
        if let Err(e) = store.record_sign_in_failure(&keys, now, now - window).await {
            tracing::warn!(error = %e, "cannot record a failed sign-in for the other nodes");
        }
    }

    /// A successful sign-in forgets the username's failures (not the address's), everywhere.
    pub async fn sign_in_succeeded(&self, store: &sluice_store::Store, username: &str) {
        self.limiter.succeeded(username);
        if let Err(e) = store.forget_sign_in_failures(&format!("user:{username}")).await {
            tracing::warn!(error = %e, "cannot forget the shared failed sign-ins of a user");
        }
    }
}

/// Counts failed sign-ins per username and per client address in a sliding window on this node;
/// [`People::check_sign_in`] adds the counts every node shares through the database.
#[derive(Default)]
pub struct SignInLimiter {
    failures: Mutex<HashMap<String, VecDeque<Instant>>>,
}

/// More keys than this and the limiter drops the ones whose failures are all old.
const LIMITER_KEYS: usize = 50_000;

impl SignInLimiter {
    fn keys(username: &str, client: Option<&str>) -> [(String, usize); 2] {
        [
            (format!("user:{username}"), MAX_FAILURES_PER_USER),
            (format!("addr:{}", client.unwrap_or("unknown")), MAX_FAILURES_PER_ADDRESS),
        ]
    }

    /// `Err(wait)` while `username` or `client` had too many failures lately.
    pub fn check(&self, username: &str, client: Option<&str>) -> Result<(), Duration> {
        let mut failures = self.failures.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut wait = None;
        for (key, max) in Self::keys(username, client) {
            if let Some(times) = failures.get_mut(&key) {
                while times.front().is_some_and(|t| t.elapsed() >= SIGN_IN_WINDOW) {
                    times.pop_front();
                }
                if times.len() >= max
                    && let Some(oldest) = times.get(times.len() - max)
                {
                    let left = SIGN_IN_WINDOW.saturating_sub(oldest.elapsed());
                    wait = Some(wait.map_or(left, |w: Duration| w.max(left)));
                }
            }
        }
        wait.map_or(Ok(()), Err)
    }

    pub fn failed(&self, username: &str, client: Option<&str>) {
        let mut failures = self.failures.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if failures.len() >= LIMITER_KEYS {
            failures.retain(|_, times| times.back().is_some_and(|t| t.elapsed() < SIGN_IN_WINDOW));
        }
        for (key, max) in Self::keys(username, client) {
            let times = failures.entry(key).or_default();
            times.push_back(Instant::now());
            while times.len() > max {
                times.pop_front();
            }
        }
    }

    /// A successful sign-in forgets the username's failures (not the address's).
    pub fn succeeded(&self, username: &str) {
        let mut failures = self.failures.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        failures.remove(&format!("user:{username}"));
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn roles_parse_and_admin_has_every_role() {
        let roles = Roles::from_names(&["participant", "nonsense"]);
        assert!(roles.contains(Role::Participant) && !roles.contains(Role::Designer));
        assert_eq!(roles.names(), ["participant"]);
        for r in Role::ALL {
            assert_eq!(Role::parse(r.as_str()), Some(r));
        }
    }

    #[test]
    fn passwords_hash_with_argon2id_and_verify() {
        let h = passwords::hash("correct horse battery").unwrap();
        assert!(h.starts_with("$argon2id$"), "{h}");
        assert!(passwords::verify("correct horse battery", &h));
        assert!(!passwords::verify("correct horse batterY", &h));
        assert!(!passwords::verify("x", "not a hash"));
    }

    #[test]
    fn failed_sign_ins_on_one_node_count_on_the_others() {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let store =
                sluice_store::Store::open("sqlite::memory:", sluice_store::StoreOptions::default()).await.unwrap();
            // Two nodes: each its own People (its own in-memory limiter), one database.
            let (one, two) = (People::new(Vec::new(), false), People::new(Vec::new(), false));
            for i in 0..MAX_FAILURES_PER_USER {
                let node = if i % 2 == 0 { &one } else { &two };
                assert!(node.check_sign_in(&store, "ann", Some("10.0.0.1")).await.is_ok());
                node.sign_in_failed(&store, "ann", Some(&format!("10.0.0.{i}"))).await;
            }
            for node in [&one, &two] {
                let wait = node.check_sign_in(&store, "ann", Some("10.0.0.99")).await.unwrap_err();
                assert!(wait > Duration::from_secs(14 * 60) && wait <= SIGN_IN_WINDOW, "{wait:?}");
            }
            assert!(two.check_sign_in(&store, "bob", Some("10.0.0.99")).await.is_ok());
            // A success on one node forgets the username's failures on both.
            one.sign_in_succeeded(&store, "ann").await;
            assert!(two.check_sign_in(&store, "ann", Some("10.0.0.99")).await.is_ok());
        });
    }

    #[test]
    fn the_limiter_refuses_after_five_failures_of_a_user_and_says_how_long() {
        let l = SignInLimiter::default();
        for _ in 0..MAX_FAILURES_PER_USER {
            assert!(l.check("ann", Some("10.0.0.1")).is_ok());
            l.failed("ann", Some("10.0.0.1"));
        }
        let wait = l.check("ann", Some("10.0.0.2")).unwrap_err();
        assert!(wait > Duration::from_secs(14 * 60) && wait <= SIGN_IN_WINDOW, "{wait:?}");
        // Another user from the same address is not refused yet; the address's own limit is higher.
        assert!(l.check("bob", Some("10.0.0.1")).is_ok());
        for _ in 0..MAX_FAILURES_PER_ADDRESS {
            l.failed("someone", Some("10.0.0.9"));
        }
        assert!(l.check("carl", Some("10.0.0.9")).is_err());
        l.succeeded("ann");
        assert!(l.check("ann", Some("10.0.0.2")).is_ok());
    }

    #[test]
    fn cookies_are_read_from_every_cookie_header() {
        let mut h = HeaderMap::new();
        h.append(header::COOKIE, HeaderValue::from_static("a=1; sluice_session=abc"));
        h.append(header::COOKIE, HeaderValue::from_static("sluice_csrf=def"));
        assert_eq!(cookie(&h, SESSION_COOKIE), Some("abc"));
        assert_eq!(cookie(&h, CSRF_COOKIE), Some("def"));
        assert_eq!(cookie(&h, "b"), None);
    }
}
