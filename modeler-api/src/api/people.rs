//! People: users, their API tokens, the caller (`/me`), web app sessions and the audit log.
//! Who may call each route is in `auth::RULES`; the self-service routes (a user's own tokens)
//! check here that the caller is that user or an admin, and answer 404 otherwise.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde_json::json;
use sluice_store::{BUILTIN_ADMIN_ID, NewUser, UserChange};

use super::auth::{
    self, CSRF_COOKIE, Caller, Client, Credential, MAX_PASSWORD_BYTES, MIN_PASSWORD_CHARS, Role, SESSION_COOKIE,
    SESSION_LIFETIME,
};
use super::views::{
    AuditEntryView, AuditPage, AuditQuery, CreatedToken, ErrorBody, NewTokenBody, NewUserBody, PasswordBody,
    SessionView, SignInBody, TokenList, TokenView, UserList, UserPatchBody, UserView, time,
};
use super::{ApiError, ApiJson, ApiQuery, AppState, Details, token_hash};

type ApiResult<T> = Result<T, ApiError>;

pub(super) fn field_error(field: &str, message: impl Into<String>) -> ApiError {
    ApiError::bad_request(message).with(Details::Field(Some(field.to_string())))
}

fn user_not_found(id: &str) -> ApiError {
    ApiError::not_found("user_not_found", format!("no user {id}"))
}

// ---- validation ----

/// A username in its stored form (lower case), or 400 naming `username`.
pub(super) fn username(raw: &str) -> ApiResult<String> {
    let name = raw.trim().to_lowercase();
    let ok = (1..=64).contains(&name.chars().count())
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-' | '@'));
    if !ok {
        return Err(field_error("username", "a username is 1 to 64 characters of a-z, 0-9, `.`, `_`, `-` and `@`"));
    }
    Ok(name)
}

pub(super) fn display_name(raw: &str) -> ApiResult<String> {
    let name = raw.trim();
    if name.is_empty() || name.chars().count() > 200 || name.chars().any(char::is_control) {
        return Err(field_error("name", "a name is 1 to 200 characters, without control characters"));
    }
    Ok(name.to_string())
}

pub(super) fn email(raw: &str) -> ApiResult<String> {
    let email = raw.trim();
    let ok = email.len() <= 254
        && email.split_once('@').is_some_and(|(local, domain)| !local.is_empty() && !domain.is_empty())
        && !email.chars().any(|c| c.is_whitespace() || c.is_control());
    if !ok {
        return Err(field_error("email", "an email address looks like `name@example.com`"));
    }
    Ok(email.to_string())
}

/// The password policy: 12 characters at least (and at most 1 KiB).
fn password(raw: &str) -> ApiResult<()> {
    if raw.chars().count() < MIN_PASSWORD_CHARS {
        return Err(field_error("password", format!("a password has at least {MIN_PASSWORD_CHARS} characters")));
    }
    if raw.len() > MAX_PASSWORD_BYTES {
        return Err(field_error("password", format!("a password has at most {MAX_PASSWORD_BYTES} bytes")));
    }
    Ok(())
}

fn roles(raw: &[String]) -> ApiResult<Vec<String>> {
    let mut out: Vec<String> = Vec::new();
    for (i, r) in raw.iter().enumerate() {
        let Some(role) = Role::parse(r.trim()) else {
            let known: Vec<&str> = Role::ALL.iter().map(|r| r.as_str()).collect();
            return Err(field_error(&format!("roles[{i}]"), format!("unknown role `{r}`: use {}", known.join(", "))));
        };
        if !out.iter().any(|o| o == role.as_str()) {
            out.push(role.as_str().to_string());
        }
    }
    Ok(out)
}

pub(super) fn groups(raw: &[String]) -> ApiResult<Vec<String>> {
    let mut out: Vec<String> = Vec::new();
    for (i, g) in raw.iter().enumerate() {
        let g = g.trim();
        if g.is_empty() || g.chars().count() > 100 || g.chars().any(char::is_control) {
            return Err(field_error(
                &format!("groups[{i}]"),
                "a group is 1 to 100 characters, without control characters",
            ));
        }
        if !out.iter().any(|o| o == g) {
            out.push(g.to_string());
        }
    }
    out.sort();
    Ok(out)
}

fn slack_user_ids(raw: BTreeMap<String, String>) -> ApiResult<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    for (alias, id) in raw {
        let id = id.trim().to_string();
        let ok = id.len() >= 3
            && id.len() <= 32
            && (id.starts_with('U') || id.starts_with('W'))
            && id.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit());
        if !ok || alias.trim().is_empty() || alias.len() > 100 {
            return Err(field_error(
                &format!("slack_user_ids.{alias}"),
                "a Slack user id looks like `U0123ABC`, under the alias of its integration",
            ));
        }
        out.insert(alias.trim().to_string(), id);
    }
    Ok(out)
}

// ---- users ----

/// Creates a user.
#[utoipa::path(
    post, path = "/api/v1/users", tag = "people",
    request_body = NewUserBody,
    responses(
        (status = 201, description = "The user (never a password)", body = UserView),
        (status = 400, description = "`bad_request` naming the `field` (a password under 12 characters, an unknown role, …)", body = ErrorBody),
        (status = 409, description = "`user_exists`: the username is taken (also by a deleted user)", body = ErrorBody),
    ),
    security(("bearer" = [])),
)]
pub async fn create_user(
    State(state): State<AppState>,
    caller: Caller,
    client: Client,
    ApiJson(body): ApiJson<NewUserBody>,
) -> ApiResult<(StatusCode, Json<UserView>)> {
    let new_username = username(&body.username)?;
    let name = display_name(&body.name)?;
    let email = email(&body.email)?;
    let roles = roles(&body.roles)?;
    let groups = groups(&body.groups)?;
    let slack_user_ids = slack_user_ids(body.slack_user_ids)?;
    let password_hash = match body.password {
        Some(p) => {
            password(&p)?;
            Some(state.people().hash_password(p).await?)
        }
        None => None,
    };
    let new = NewUser { username: new_username.clone(), name, email, password_hash, roles, groups, slack_user_ids };
    let Some(user) = state.store().create_user(&new).await? else {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "user_exists",
            format!("the username `{new_username}` is taken (usernames of deleted users are not given again)"),
        ));
    };
    let details = json!({"username": user.username, "roles": user.roles, "groups": user.groups});
    state.audit(Some(&caller), &client, "user_created", Some(user.id.clone()), details).await;
    Ok((StatusCode::CREATED, Json(user.into())))
}

/// Every user, by username.
#[utoipa::path(
    get, path = "/api/v1/users", tag = "people",
    responses((status = 200, description = "The users", body = UserList)),
    security(("bearer" = [])),
)]
pub async fn list_users(State(state): State<AppState>) -> ApiResult<Json<UserList>> {
    let users = state.store().users().await?;
    Ok(Json(UserList { users: users.into_iter().map(UserView::from).collect() }))
}

/// One user.
#[utoipa::path(
    get, path = "/api/v1/users/{id}", tag = "people",
    params(("id" = String, Path, description = "The user's id")),
    responses(
        (status = 200, description = "The user", body = UserView),
        (status = 404, description = "`user_not_found`", body = ErrorBody),
    ),
    security(("bearer" = [])),
)]
pub async fn get_user(State(state): State<AppState>, Path(id): Path<String>) -> ApiResult<Json<UserView>> {
    let user = state.store().user(&id).await?.ok_or_else(|| user_not_found(&id))?;
    Ok(Json(user.into()))
}

/// Changes a user's name, email, password, roles, groups or Slack user ids (the username never
/// changes). Their tokens and sessions see new roles at once on this node.
#[utoipa::path(
    patch, path = "/api/v1/users/{id}", tag = "people",
    params(("id" = String, Path, description = "The user's id")),
    request_body = UserPatchBody,
    responses(
        (status = 200, description = "The user as changed", body = UserView),
        (status = 400, description = "`bad_request` naming the `field`, or a body that changes nothing", body = ErrorBody),
        (status = 404, description = "`user_not_found`", body = ErrorBody),
        (status = 409, description = "`builtin_user`: the built-in `admin` keeps the role `admin`", body = ErrorBody),
    ),
    security(("bearer" = [])),
)]
pub async fn update_user(
    State(state): State<AppState>,
    caller: Caller,
    client: Client,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<UserPatchBody>,
) -> ApiResult<Json<UserView>> {
    let mut change = UserChange {
        name: body.name.as_deref().map(display_name).transpose()?,
        email: body.email.as_deref().map(email).transpose()?,
        roles: body.roles.as_deref().map(roles).transpose()?,
        groups: body.groups.as_deref().map(groups).transpose()?,
        slack_user_ids: body.slack_user_ids.map(slack_user_ids).transpose()?,
        password_hash: None,
    };
    if id == BUILTIN_ADMIN_ID && change.roles.as_ref().is_some_and(|r| !r.iter().any(|r| r == "admin")) {
        return Err(builtin("keeps the role `admin`"));
    }
    let mut changed: Vec<&str> = Vec::new();
    for (field, set) in [
        ("name", change.name.is_some()),
        ("email", change.email.is_some()),
        ("roles", change.roles.is_some()),
        ("groups", change.groups.is_some()),
        ("slack_user_ids", change.slack_user_ids.is_some()),
        ("password", body.password.is_some()),
    ] {
        if set {
            changed.push(field);
        }
    }
    if changed.is_empty() {
        return Err(ApiError::bad_request(
            "the body changes nothing: give one of `name`, `email`, `password`, `roles`, `groups`, `slack_user_ids`",
        )
        .with(Details::Field(None)));
    }
    if state.store().user(&id).await?.is_none() {
        return Err(user_not_found(&id));
    }
    change.password_hash = match body.password {
        Some(Some(p)) => {
            password(&p)?;
            Some(Some(state.people().hash_password(p).await?))
        }
        Some(None) => Some(None),
        None => None,
    };
    let user = state.store().update_user(&id, &change).await?.ok_or_else(|| user_not_found(&id))?;
    state.people().forget_user(&id);
    let mut details = json!({"username": user.username, "changed": changed});
    if change.roles.is_some() {
        details["roles"] = json!(user.roles);
    }
    if change.groups.is_some() {
        details["groups"] = json!(user.groups);
    }
    state.audit(Some(&caller), &client, "user_updated", Some(id), details).await;
    Ok(Json(user.into()))
}

fn builtin(what: &str) -> ApiError {
    ApiError::new(StatusCode::CONFLICT, "builtin_user", format!("the built-in user `admin` {what}"))
}

/// Deletes a user: their tokens and sessions stop working at once; the username is not given
/// again.
#[utoipa::path(
    delete, path = "/api/v1/users/{id}", tag = "people",
    params(("id" = String, Path, description = "The user's id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "`user_not_found`", body = ErrorBody),
        (status = 409, description = "`builtin_user`: the built-in `admin` cannot be deleted", body = ErrorBody),
    ),
    security(("bearer" = [])),
)]
pub async fn delete_user(
    State(state): State<AppState>,
    caller: Caller,
    client: Client,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    if id == BUILTIN_ADMIN_ID {
        return Err(builtin("cannot be deleted"));
    }
    let user = state.store().user(&id).await?.ok_or_else(|| user_not_found(&id))?;
    if !state.store().delete_user(&id).await? {
        return Err(user_not_found(&id));
    }
    state.people().forget_user(&id);
    state.audit(Some(&caller), &client, "user_deleted", Some(id), json!({"username": user.username})).await;
    Ok(StatusCode::NO_CONTENT)
}

/// The caller.
#[utoipa::path(
    get, path = "/api/v1/me", tag = "people",
    responses((status = 200, description = "The signed-in user", body = UserView)),
    security(("bearer" = [])),
)]
pub async fn me(State(state): State<AppState>, caller: Caller) -> ApiResult<Json<UserView>> {
    let user = state.store().user(&caller.user_id).await?.ok_or_else(auth::unauthorized)?;
    Ok(Json(user.into()))
}

/// Changes the caller's own password: the current one is needed when they have one, the new one
/// follows the password policy. Their other sessions end; this one (or the token used) stays.
#[utoipa::path(
    put, path = "/api/v1/me/password", tag = "people",
    request_body = PasswordBody,
    responses(
        (status = 204, description = "Changed; the caller's other sessions ended"),
        (status = 400, description = "`invalid_field`: the new password breaks the policy", body = ErrorBody),
        (status = 403, description = "`wrong_password`: the current password is not theirs", body = ErrorBody),
        (status = 429, description = "`too_many_attempts`, with `Retry-After`, after repeated wrong passwords", body = ErrorBody),
    ),
    security(("bearer" = [])),
)]
pub async fn change_password(
    State(state): State<AppState>,
    caller: Caller,
    client: Client,
    ApiJson(body): ApiJson<PasswordBody>,
) -> ApiResult<StatusCode> {
    let people = state.people();
    if let Err(wait) = people.check_sign_in(state.store(), &caller.username, client.0.as_deref()).await {
        return Err(ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "too_many_attempts",
            "too many wrong passwords for this user or from this address: wait and try again",
        )
        .with_retry_after(wait.as_secs().max(1)));
    }
    let (user, hash) = state.store().user_for_sign_in(&caller.username).await?.ok_or_else(auth::unauthorized)?;
    if hash.is_some() {
        let current = body.current_password.unwrap_or_default();
        if !people.verify_password(current, hash).await? {
            people.sign_in_failed(state.store(), &caller.username, client.0.as_deref()).await;
            let details = json!({"reason": "wrong current password"});
            state.audit(Some(&caller), &client, "password_change_failed", Some(user.id.clone()), details).await;
            return Err(ApiError::new(StatusCode::FORBIDDEN, "wrong_password", "the current password is wrong"));
        }
    }
    password(&body.new_password).map_err(|_| {
        field_error(
            "new_password",
            format!("a password has {MIN_PASSWORD_CHARS} characters at least and {MAX_PASSWORD_BYTES} bytes at most"),
        )
    })?;
    let new_hash = people.hash_password(body.new_password).await?;
    let change = UserChange { password_hash: Some(Some(new_hash)), ..Default::default() };
    state.store().update_user(&user.id, &change).await?;
    let keep = match &caller.credential {
        Credential::Session { id } => Some(id.as_str()),
        _ => None,
    };
    let ended = state.store().end_user_sessions(&user.id, keep).await?;
    state.audit(Some(&caller), &client, "password_changed", Some(user.id), json!({"sessions_ended": ended})).await;
    Ok(StatusCode::NO_CONTENT)
}

// ---- tokens ----

/// The user `id` when the caller may manage their tokens (themselves, or an admin); 404 otherwise.
async fn token_owner(state: &AppState, caller: &Caller, id: &str) -> ApiResult<sluice_store::UserRow> {
    if caller.user_id != id && !caller.is_admin() {
        return Err(user_not_found(id));
    }
    state.store().user(id).await?.ok_or_else(|| user_not_found(id))
}

/// Creates an API token for a user (a user for themselves, an admin for anyone). The token is in
/// the answer this once; only its SHA-256 is stored.
#[utoipa::path(
    post, path = "/api/v1/users/{id}/tokens", tag = "people",
    params(("id" = String, Path, description = "The user's id")),
    request_body = NewTokenBody,
    responses(
        (status = 201, description = "The token, shown this once", body = CreatedToken),
        (status = 400, description = "`bad_request` naming the `field`", body = ErrorBody),
        (status = 404, description = "`user_not_found`: no such user, or another user's (without `admin`)", body = ErrorBody),
    ),
    security(("bearer" = [])),
)]
pub async fn create_token(
    State(state): State<AppState>,
    caller: Caller,
    client: Client,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<NewTokenBody>,
) -> ApiResult<Response> {
    let user = token_owner(&state, &caller, &id).await?;
    let name = body.name.trim();
    if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
        return Err(field_error("name", "a token's name is 1 to 100 characters, without control characters"));
    }
    let expires_at = match body.expires_at.as_deref() {
        None => None,
        Some(t) => {
            let t = DateTime::parse_from_rfc3339(t)
                .map_err(|_| field_error("expires_at", "an RFC 3339 date-time, such as 2027-01-31T12:00:00Z"))?
                .with_timezone(&Utc);
            if t <= Utc::now() {
                return Err(field_error("expires_at", "the expiry must be in the future"));
            }
            Some(t)
        }
    };
    let token = sluice_secrets::random_hex().map_err(|e| ApiError::internal(&e))?;
    let row = state.store().add_user_token(&user.id, name, &token_hash(&token), expires_at).await?;
    let details = json!({"user": user.username, "name": row.name, "expires_at": row.expires_at.map(time)});
    state.audit(Some(&caller), &client, "token_created", Some(row.id.clone()), details).await;
    let created = CreatedToken {
        id: row.id,
        name: row.name,
        token,
        created_at: time(row.created_at),
        expires_at: row.expires_at.map(time),
    };
    let mut resp = (StatusCode::CREATED, Json(created)).into_response();
    resp.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(resp)
}

/// A user's API tokens (never the tokens themselves).
#[utoipa::path(
    get, path = "/api/v1/users/{id}/tokens", tag = "people",
    params(("id" = String, Path, description = "The user's id")),
    responses(
        (status = 200, description = "The tokens", body = TokenList),
        (status = 404, description = "`user_not_found`: no such user, or another user's (without `admin`)", body = ErrorBody),
    ),
    security(("bearer" = [])),
)]
pub async fn list_tokens(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<TokenList>> {
    let user = token_owner(&state, &caller, &id).await?;
    let tokens = state.store().user_tokens(&user.id).await?;
    Ok(Json(TokenList { tokens: tokens.into_iter().map(TokenView::from).collect() }))
}

/// Revokes an API token (one's own, or anyone's as an admin): it stops working at once on this
/// node, within 5 s on the others.
#[utoipa::path(
    delete, path = "/api/v1/tokens/{id}", tag = "people",
    params(("id" = String, Path, description = "The token's id")),
    responses(
        (status = 204, description = "Revoked"),
        (status = 404, description = "`token_not_found`: no such token, or another user's (without `admin`)", body = ErrorBody),
    ),
    security(("bearer" = [])),
)]
pub async fn revoke_token(
    State(state): State<AppState>,
    caller: Caller,
    client: Client,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let not_found = || ApiError::not_found("token_not_found", format!("no token {id}"));
    let token = state.store().token(&id).await?.ok_or_else(not_found)?;
    if token.user_id != caller.user_id && !caller.is_admin() {
        return Err(not_found());
    }
    state.store().revoke_token(&id).await?;
    state.people().forget_credential(&id);
    let owner = state.store().user(&token.user_id).await?.map(|u| u.username);
    let details = json!({"user": owner, "name": token.name});
    state.audit(Some(&caller), &client, "token_revoked", Some(id), details).await;
    Ok(StatusCode::NO_CONTENT)
}

// ---- sessions ----

fn cookie_header(name: &str, value: &str, http_only: bool, max_age: u64, secure: bool) -> ApiResult<HeaderValue> {
    let mut c = format!("{name}={value}; Path=/; SameSite=Strict; Max-Age={max_age}");
    if http_only {
        c.push_str("; HttpOnly");
    }
    if secure {
        c.push_str("; Secure");
    }
    HeaderValue::from_str(&c).map_err(|e| ApiError::internal(&e))
}

/// Signs in to the web app: sets the session cookie (`HttpOnly`, `SameSite=Strict`, `Secure`
/// behind an https public URL) and answers the CSRF token every write must echo. Too many failed
/// sign-ins of a username or from an address are answered 429 for a while.
#[utoipa::path(
    post, path = "/api/v1/session", tag = "people",
    request_body = SignInBody,
    responses(
        (status = 200, description = "Signed in: `Set-Cookie` sluice_session (HttpOnly) and sluice_csrf", body = SessionView),
        (status = 400, description = "`invalid_json` naming the missing `field`", body = ErrorBody),
        (status = 401, description = "`invalid_credentials`: the same for an unknown user and a wrong password", body = ErrorBody),
        (status = 429, description = "`too_many_attempts`, with `Retry-After`: 5 failures of a username (20 from an address) within 15 minutes", body = ErrorBody),
    ),
)]
pub async fn sign_in(
    State(state): State<AppState>,
    client: Client,
    ApiJson(body): ApiJson<SignInBody>,
) -> ApiResult<Response> {
    // A name that is no username is kept out of the limiter's keys and the audit log as it is
    // (it may be a password typed into the wrong field).
    let name = username(&body.username).unwrap_or_else(|_| "(invalid)".to_string());
    let people = state.people();
    if let Err(wait) = people.check_sign_in(state.store(), &name, client.0.as_deref()).await {
        tracing::warn!(client = ?client.0, "sign-in refused: too many failed attempts");
        return Err(ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "too_many_attempts",
            "too many failed sign-ins for this username or from this address: wait and try again",
        )
        .with_retry_after(wait.as_secs().max(1)));
    }
    let found = state.store().user_for_sign_in(&name).await?;
    let hash = found.as_ref().and_then(|(_, h)| h.clone());
    let ok = people.verify_password(body.password, hash).await?;
    let user = match (ok, found) {
        (true, Some((user, _))) => user,
        (_, found) => {
            people.sign_in_failed(state.store(), &name, client.0.as_deref()).await;
            // Only a real username is recorded: an unknown one may be a password typed there.
            let known = found.map(|(u, _)| u);
            let reason = if known.is_some() { "wrong password" } else { "unknown user" };
            let actor = known.as_ref().map(|u| u.username.clone());
            let target = known.map(|u| u.id);
            state.audit_as(actor, &client, "sign_in_failed", target, json!({"reason": reason})).await;
            return Err(ApiError::new(StatusCode::UNAUTHORIZED, "invalid_credentials", "wrong username or password"));
        }
    };
    people.sign_in_succeeded(state.store(), &name).await;
    let (view, cookies) = open_session(&state, user, &client, "password").await?;
    let mut resp = (StatusCode::OK, Json(view)).into_response();
    let headers = resp.headers_mut();
    for c in cookies {
        headers.append(header::SET_COOKIE, c);
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(resp)
}

/// Starts a web app session for `user` signed in by `method` (`password`, `oidc`): stores it,
/// audits `sign_in`, and gives the session's view and its two cookies (the session, HttpOnly, and
/// the CSRF token), the same whatever the method.
pub(super) async fn open_session(
    state: &AppState,
    user: sluice_store::UserRow,
    client: &Client,
    method: &str,
) -> ApiResult<(SessionView, [HeaderValue; 2])> {
    let secret = sluice_secrets::random_hex().map_err(|e| ApiError::internal(&e))?;
    let lifetime = chrono::Duration::from_std(SESSION_LIFETIME).map_err(|e| ApiError::internal(&e))?;
    let expires_at = Utc::now() + lifetime;
    let session = state.store().create_session(&user.id, &token_hash(&secret), client.0.as_deref(), expires_at).await?;
    let details = json!({"session": session, "method": method});
    state.audit_as(Some(user.username.clone()), client, "sign_in", Some(user.id.clone()), details).await;
    let csrf = auth::csrf_token(&secret);
    let secure = state.secure_cookies();
    let max_age = SESSION_LIFETIME.as_secs();
    let cookies = [
        cookie_header(SESSION_COOKIE, &secret, true, max_age, secure)?,
        cookie_header(CSRF_COOKIE, &csrf, false, max_age, secure)?,
    ];
    Ok((SessionView { user: user.into(), csrf_token: csrf, expires_at: time(expires_at) }, cookies))
}

/// Signs out: the session ends on the server and the cookies are cleared. With a bearer token
/// there is no session to end (204 all the same).
#[utoipa::path(
    delete, path = "/api/v1/session", tag = "people",
    responses((status = 204, description = "Signed out")),
    security(("bearer" = [])),
)]
pub async fn sign_out(State(state): State<AppState>, caller: Caller, client: Client) -> ApiResult<Response> {
    if let Credential::Session { id } = &caller.credential {
        state.store().end_session(id).await?;
        state.people().forget_credential(id);
        state.audit(Some(&caller), &client, "sign_out", Some(caller.user_id.clone()), json!({"session": id})).await;
    }
    let secure = state.secure_cookies();
    let mut resp = StatusCode::NO_CONTENT.into_response();
    resp.headers_mut().append(header::SET_COOKIE, cookie_header(SESSION_COOKIE, "", true, 0, secure)?);
    resp.headers_mut().append(header::SET_COOKIE, cookie_header(CSRF_COOKIE, "", false, 0, secure)?);
    Ok(resp)
}

// ---- the audit log ----

/// The audit log, newest first: sign-ins, tokens, users, integrations, deployments, cancels,
/// retries and task completions, with who, when and from where.
#[utoipa::path(
    get, path = "/api/v1/audit", tag = "people",
    params(AuditQuery),
    responses(
        (status = 200, description = "One page", body = AuditPage),
        (status = 400, description = "`invalid_query`, `bad_request` (limit) or `invalid_cursor`", body = ErrorBody),
    ),
    security(("bearer" = [])),
)]
pub async fn audit(State(state): State<AppState>, ApiQuery(q): ApiQuery<AuditQuery>) -> ApiResult<Json<AuditPage>> {
    let limit = q.limit.unwrap_or(100);
    if limit == 0 || limit > 1000 {
        return Err(field_error("limit", "`limit` must be between 1 and 1000"));
    }
    let cursor = q.cursor.as_deref().filter(|c| !c.is_empty());
    let (rows, next_cursor) = state.store().audit_page(q.actor.as_deref(), q.action.as_deref(), limit, cursor).await?;
    let entries = rows
        .into_iter()
        .map(|r| AuditEntryView {
            id: r.id,
            at: time(r.entry.at),
            actor: r.entry.actor,
            action: r.entry.action,
            target: r.entry.target,
            client: r.entry.client,
            details: r.entry.details,
        })
        .collect();
    Ok(Json(AuditPage { entries, next_cursor }))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn inputs_are_checked_naming_the_field() {
        assert_eq!(username(" Ann.Lee@corp ").unwrap(), "ann.lee@corp");
        let field = |e: ApiError| match e.details {
            Details::Field(f) => f,
            _ => None,
        };
        assert_eq!(field(username("ann lee").unwrap_err()).as_deref(), Some("username"));
        assert_eq!(field(password("short").unwrap_err()).as_deref(), Some("password"));
        assert!(password("twelve chars").is_ok());
        assert_eq!(field(roles(&["participant".into(), "boss".into()]).unwrap_err()).as_deref(), Some("roles[1]"));
        assert_eq!(groups(&["b".into(), "a".into(), "b".into()]).unwrap(), ["a", "b"]);
        assert_eq!(field(email("nope").unwrap_err()).as_deref(), Some("email"));
        let ids = BTreeMap::from([("sales".to_string(), "x1".to_string())]);
        assert_eq!(field(slack_user_ids(ids).unwrap_err()).as_deref(), Some("slack_user_ids.sales"));
    }
}
