//! The Slack integration routes: the Slack app's settings, integrations by alias (OAuth installs
//! and bot tokens) and their channels.
//!
//! Every route needs the API token except the OAuth callback: Slack sends the admin's browser there,
//! which cannot carry the token; the signed, single-use, expiring `state` protects it instead.
//! `/install` needs the token and answers 302 to Slack's authorize page, with the same URL in a
//! JSON body (`{"url"}`) for a client that opens it in a browser itself.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use sluice_slack::Secret;
use sluice_slack::client;

use super::{ApiError, ApiJson, ApiQuery, AppState, Caller, Client};
use sluice_slack_app::integrations::{Error, IntegrationInfo, PRIVATE_CHANNELS_NOTE, SlackIntegrations};

type Result<T> = std::result::Result<T, ApiError>;

/// An integration error in the uniform shape, with `Retry-After` when Slack asked to wait.
impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        let message = e.to_string();
        let api = |status: StatusCode, code: &'static str| ApiError::new(status, code, message.clone());
        match &e {
            Error::InvalidAlias(_) => api(StatusCode::BAD_REQUEST, "invalid_alias"),
            Error::Invalid(_) => api(StatusCode::BAD_REQUEST, "bad_request"),
            Error::NotFound(_) => api(StatusCode::NOT_FOUND, "integration_not_found"),
            Error::AppNotConfigured => api(StatusCode::CONFLICT, "slack_app_not_configured"),
            Error::InUse { .. } => api(StatusCode::CONFLICT, "integration_in_use"),
            Error::NamelessTasks { .. } => api(StatusCode::CONFLICT, "integration_name_needed"),
            Error::AuthFailed(_) => api(StatusCode::UNPROCESSABLE_ENTITY, "slack_auth_failed"),
            Error::OAuthFailed(_) => api(StatusCode::UNPROCESSABLE_ENTITY, "slack_oauth_failed"),
            Error::Denied(_) => api(StatusCode::BAD_REQUEST, "slack_install_denied"),
            Error::ForgedState => api(StatusCode::BAD_REQUEST, "invalid_oauth_state"),
            Error::UsedState => api(StatusCode::BAD_REQUEST, "oauth_state_used"),
            Error::ExpiredState => api(StatusCode::BAD_REQUEST, "oauth_state_expired"),
            Error::Slack { source, .. } => {
                let error = match source {
                    client::Error::RateLimited { retry_after } => {
                        return api(StatusCode::SERVICE_UNAVAILABLE, "slack_rate_limited")
                            .with_retry_after(retry_after.as_secs());
                    }
                    client::Error::Api { code, .. } if code == "missing_scope" => {
                        api(StatusCode::UNPROCESSABLE_ENTITY, "slack_missing_scope")
                    }
                    refused if refused.token_refused() => ApiError::new(
                        StatusCode::UNPROCESSABLE_ENTITY,
                        "slack_auth_failed",
                        format!("{message}: reconnect the workspace"),
                    ),
                    client::Error::Api { .. } => api(StatusCode::BAD_GATEWAY, "slack_error"),
                    _ => api(StatusCode::BAD_GATEWAY, "slack_unreachable"),
                };
                tracing::warn!(error = %e, "a Slack call of the integrations API failed");
                error
            }
            Error::Key(_) | Error::Store(_) => ApiError::internal(&e),
        }
    }
}

fn slack(state: &AppState) -> Result<SlackIntegrations> {
    state.slack().cloned().ok_or_else(|| {
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "slack_unavailable", "Slack integrations are not set up")
    })
}

fn info(i: &IntegrationInfo) -> Value {
    serde_json::to_value(i).unwrap_or(Value::Null)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppBody {
    client_id: String,
    client_secret: Secret,
    #[serde(default)]
    signing_secret: Option<Secret>,
}

/// `PUT /api/v1/admin/slack-app`: the secrets are sealed and never answered again.
#[utoipa::path(
    put, path = "/api/v1/admin/slack-app", tag = "slack",
    request_body(content = serde_json::Value, description = "`client_id`, `client_secret`, optional `signing_secret`"),
    responses((status = 200, description = "Stored (secrets are never returned)", body = serde_json::Value),
              (status = 422, description = "Invalid settings", body = super::views::ErrorBody)),
    security(("bearer" = [])),
)]
pub async fn put_app(
    State(state): State<AppState>,
    caller: Caller,
    client: Client,
    ApiJson(body): ApiJson<AppBody>,
) -> Result<Json<Value>> {
    let slack = slack(&state)?;
    slack.set_app(&body.client_id, &body.client_secret, body.signing_secret.as_ref()).await?;
    let details = json!({"client_id": body.client_id, "signing_secret_set": body.signing_secret.is_some()});
    state.audit(Some(&caller), &client, "slack_app_updated", None, details).await;
    let app = slack.app().await?;
    Ok(Json(json!({
        "client_id": app.as_ref().map(|a| a.client_id.as_str()),
        "client_secret_set": app.is_some(),
        "signing_secret_set": app.as_ref().is_some_and(|a| a.signing_secret.is_some()),
    })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegisterBody {
    alias: String,
    bot_token: Secret,
}

/// `POST /api/v1/integrations/slack`: registers (or replaces) an alias with a bot token.
#[utoipa::path(
    post, path = "/api/v1/integrations/slack", tag = "slack",
    request_body(content = serde_json::Value, description = "`alias` and `bot_token`"),
    responses((status = 201, description = "The integration, checked with auth.test", body = serde_json::Value),
              (status = 409, description = "`integration_name_needed`: deployed Slack tasks that name no integration use the only one; name it in those models, or connect this one as `default`", body = super::views::ErrorBody),
              (status = 422, description = "`slack_auth_failed`, `invalid_alias`", body = super::views::ErrorBody),
              (status = 502, description = "`slack_unreachable`", body = super::views::ErrorBody),
              (status = 503, description = "Slack is not set up, or rate limited", body = super::views::ErrorBody)),
    security(("bearer" = [])),
)]
pub async fn register(
    State(state): State<AppState>,
    caller: Caller,
    client: Client,
    ApiJson(body): ApiJson<RegisterBody>,
) -> Result<(StatusCode, Json<Value>)> {
    let (integration, created) = slack(&state)?.register_token(body.alias.trim(), &body.bot_token).await?;
    let details = json!({"team": integration.team, "replaced": !created});
    let alias = Some(integration.alias.clone());
    state.audit(Some(&caller), &client, "integration_added", alias, details).await;
    Ok((StatusCode::CREATED, Json(info(&integration))))
}

/// `GET /api/v1/integrations/slack`: never a token.
#[utoipa::path(
    get, path = "/api/v1/integrations/slack", tag = "slack",
    responses((status = 200, description = "The integrations (never a token)", body = serde_json::Value),
              (status = 503, description = "Slack is not set up", body = super::views::ErrorBody)),
    security(("bearer" = [])),
)]
pub async fn list(State(state): State<AppState>) -> Result<Json<Value>> {
    let list = slack(&state)?.list().await?;
    Ok(Json(json!({ "integrations": list.iter().map(info).collect::<Vec<_>>() })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InstallQuery {
    alias: Option<String>,
}

/// `GET /api/v1/integrations/slack/install?alias=…`: 302 to Slack's authorize page.
#[utoipa::path(
    get, path = "/api/v1/integrations/slack/install", tag = "slack",
    params(("alias" = String, Query, description = "The integration's alias")),
    responses((status = 302, description = "To Slack's authorize page (the URL also in the body)", body = serde_json::Value),
              (status = 409, description = "`slack_app_not_configured`, or `integration_name_needed` (see `POST /api/v1/integrations/slack`)", body = super::views::ErrorBody),
              (status = 503, description = "Slack is not set up", body = super::views::ErrorBody)),
    security(("bearer" = [])),
)]
pub async fn install(State(state): State<AppState>, ApiQuery(q): ApiQuery<InstallQuery>) -> Result<Response> {
    let alias = q.alias.as_deref().map(str::trim).filter(|a| !a.is_empty());
    let alias = alias.ok_or_else(|| ApiError::bad_request("`alias` is missing: ?alias=<name of the integration>"))?;
    let url = slack(&state)?.install_url(alias).await?;
    let location = HeaderValue::from_str(&url).map_err(|e| ApiError::internal(&e))?;
    let mut resp = (StatusCode::FOUND, Json(json!({ "url": url }))).into_response();
    resp.headers_mut().insert(header::LOCATION, location);
    resp.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(resp)
}

#[derive(Deserialize)]
pub struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
}

/// `GET /api/v1/integrations/slack/oauth/callback?code=…&state=…` (no API token: see the module).
#[utoipa::path(
    get, path = "/api/v1/integrations/slack/oauth/callback", tag = "slack",
    params(("code" = Option<String>, Query, description = "From Slack"), ("state" = Option<String>, Query, description = "The signed single-use state"),
           ("error" = Option<String>, Query, description = "Set when the install was denied")),
    responses((status = 200, description = "The integration", body = serde_json::Value),
              (status = 400, description = "A forged, used or expired state, or a denied install", body = super::views::ErrorBody),
              (status = 409, description = "`slack_app_not_configured`, or `integration_name_needed` (see `POST /api/v1/integrations/slack`)", body = super::views::ErrorBody),
              (status = 422, description = "`slack_oauth_failed`", body = super::views::ErrorBody),
              (status = 502, description = "`slack_unreachable`", body = super::views::ErrorBody),
              (status = 503, description = "Slack is not set up, or rate limited", body = super::views::ErrorBody)),
)]
pub async fn oauth_callback(
    State(state): State<AppState>,
    client: Client,
    Query(q): Query<CallbackQuery>,
) -> Result<Json<Value>> {
    let oauth_state = q.state.as_deref().filter(|s| !s.is_empty());
    let oauth_state = oauth_state.ok_or_else(|| {
        ApiError::new(StatusCode::BAD_REQUEST, "invalid_oauth_state", "`state` is missing: start the install again")
    })?;
    let (integration, created) =
        slack(&state)?.complete_install(q.code.as_deref(), q.error.as_deref(), oauth_state).await?;
    // Slack sends the admin's browser back without credentials: the signed state vouched for it.
    let details = json!({"team": integration.team, "replaced": !created});
    let alias = Some(integration.alias.clone());
    state.audit(None, &client, "integration_installed", alias, details).await;
    let mut body = info(&integration);
    body["installed"] = json!(true);
    body["replaced"] = json!(!created);
    Ok(Json(body))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChannelsQuery {
    #[serde(default)]
    refresh: bool,
}

/// `GET /api/v1/integrations/slack/{alias}/channels`: public channels and the private ones the
/// bot was invited to (`?refresh=true` skips the short cache).
#[utoipa::path(
    get, path = "/api/v1/integrations/slack/{alias}/channels", tag = "slack",
    params(("alias" = String, Path, description = "The integration's alias"),
           ("refresh" = Option<bool>, Query, description = "Skip the cache")),
    responses((status = 200, description = "Public channels and the private ones the bot is in", body = serde_json::Value),
              (status = 404, description = "`integration_not_found`", body = super::views::ErrorBody),
              (status = 422, description = "The token was refused", body = super::views::ErrorBody),
              (status = 502, description = "`slack_unreachable`", body = super::views::ErrorBody),
              (status = 503, description = "Slack is not set up, or rate limited", body = super::views::ErrorBody)),
    security(("bearer" = [])),
)]
pub async fn channels(
    State(state): State<AppState>,
    Path(alias): Path<String>,
    ApiQuery(q): ApiQuery<ChannelsQuery>,
) -> Result<Json<Value>> {
    let list = slack(&state)?.channels(&alias, q.refresh).await?;
    let channels: Vec<Value> = list
        .iter()
        .map(|c| json!({"id": c.id, "name": c.name, "is_private": c.is_private, "is_member": c.is_member}))
        .collect();
    Ok(Json(json!({ "channels": channels, "note": PRIVATE_CHANNELS_NOTE })))
}

// Like `ChannelsQuery` above, one flag of a query string, for another endpoint (`force`, not
// `refresh`); the `#[utoipa::path]` attributes below are per endpoint, as utoipa wants them.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeleteQuery {
    #[serde(default)]
    force: bool,
}

/// `DELETE /api/v1/integrations/slack/{alias}`: 204; 409 while notification settings or deployed
/// Slack tasks use it, unless `?force=true`.
#[utoipa::path(
    delete, path = "/api/v1/integrations/slack/{alias}", tag = "slack",
    params(("alias" = String, Path, description = "The integration's alias"),
           ("force" = Option<bool>, Query, description = "Delete even while notification settings or deployed Slack tasks use it (they fail until changed)")),
    responses((status = 204, description = "Removed"),
              (status = 400, description = "`invalid_query`", body = super::views::ErrorBody),
              (status = 404, description = "`integration_not_found`", body = super::views::ErrorBody),
              (status = 409, description = "`integration_in_use`: the message names the processes whose notification settings or Slack tasks (latest deployed version) use it", body = super::views::ErrorBody),
              (status = 503, description = "Slack is not set up", body = super::views::ErrorBody)),
    security(("bearer" = [])),
)]
pub async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    client: Client,
    Path(alias): Path<String>,
    ApiQuery(q): ApiQuery<DeleteQuery>,
) -> Result<StatusCode> {
    slack(&state)?.delete(&alias, q.force).await?;
    state.audit(Some(&caller), &client, "integration_deleted", Some(alias), json!({"force": q.force})).await;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /api/v1/integrations/slack/manifest`: the Slack app manifest for this server.
#[utoipa::path(
    get, path = "/api/v1/integrations/slack/manifest", tag = "slack",
    responses((status = 200, description = "The Slack app manifest (JSON): bot scopes, the interactivity URL and the OAuth redirect URL of this server (`SLUICE_PUBLIC_URL`)", body = serde_json::Value)),
    security(("bearer" = [])),
)]
pub async fn manifest(State(state): State<AppState>) -> Json<Value> {
    Json(sluice_slack_app::manifest::manifest(state.public_url(), "Sluice"))
}
