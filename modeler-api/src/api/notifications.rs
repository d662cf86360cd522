//! Notification settings per process (`PUT`/`GET /api/v1/processes/{key}/notifications`) and
//! Slack's interactivity requests (`POST /api/v1/slack/interactions`: the Approve and Reject
//! buttons of waiting user tasks).

use std::collections::BTreeMap;
use std::time::Duration;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{SecondsFormat, Utc};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use sluice_slack::Integration;
use sluice_store::{MAX_CHANNELS_PER_EVENT, NotificationEvent, NotificationSettings};

use super::{ApiError, ApiJson, AppState, RawBody};
use sluice_slack_app::interactions::{self, Click, is_channel_id};
use sluice_slack_app::notifier::{ChannelCheck, Decision, SlackNotifier, Unchecked, verify_signature};

/// How long the interaction endpoint waits for the task's completion before answering anyway:
/// Slack wants an answer within 3 seconds.
const DECISION_BUDGET: Duration = Duration::from_millis(2_500);

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SettingsBody {
    integration: String,
    #[serde(default)]
    events: BTreeMap<String, Vec<String>>,
}

fn settings_json(s: &NotificationSettings) -> Value {
    let events: Map<String, Value> =
        NotificationEvent::ALL.iter().map(|e| (e.as_str().to_string(), json!(s.channels(*e)))).collect();
    json!({
        "process_key": s.process_key,
        "integration": s.integration,
        "events": events,
        "updated_at": s.updated_at.to_rfc3339_opts(SecondsFormat::Millis, true),
    })
}

async fn known_process(state: &AppState, key: &str) -> Result<(), ApiError> {
    if state.store().process_versions(key).await?.is_empty() {
        return Err(ApiError::not_found("process_not_found", format!("no process `{key}` is deployed")));
    }
    Ok(())
}

// This attribute has the shape of `slack_admin.rs`'s (`channels`, …): utoipa documents each
// endpoint from its own literal list of answers, which cannot be shared between them.
#[utoipa::path(
    put, path = "/api/v1/processes/{key}/notifications", tag = "slack",
    params(("key" = String, Path, description = "The process key")),
    request_body(content = serde_json::Value, description = "`integration` and `events` (event → up to 20 channel ids)"),
    responses((status = 200, description = "The settings", body = serde_json::Value),
              (status = 404, description = "`process_not_found`", body = super::views::ErrorBody),
              (status = 422, description = "`invalid_notification_settings` with `problems`: also a channel the bot cannot post to (unknown, private without the bot, archived)", body = super::views::ErrorBody),
              (status = 503, description = "Slack is not set up (`slack_not_configured`), or could not check the channels (`slack_unavailable`, with `Retry-After`)", body = super::views::ErrorBody)),
    security(("bearer" = [])),
)]
pub async fn put(
    State(state): State<AppState>,
    caller: super::Caller,
    client: super::Client,
    Path(key): Path<String>,
    ApiJson(body): ApiJson<SettingsBody>,
) -> Result<Json<Value>, ApiError> {
    known_process(&state, &key).await?;
    let slack = state.notifier()?;
    let mut problems: Vec<Value> = Vec::new();
    let mut problem = |field: String, message: String| problems.push(json!({"field": field, "message": message}));
    let alias = body.integration.trim().to_string();
    let mut integration = None;
    if alias.is_empty() {
        problem("integration".into(), "name the Slack integration (its alias) that posts".into());
    } else {
        match slack.integration(&alias).await {
            Ok(i) => integration = Some(i),
            Err(e) => problem("integration".into(), e.to_string()),
        }
    }
    let mut events = BTreeMap::new();
    for (name, channels) in body.events {
        let Some(event) = NotificationEvent::parse(&name) else {
            let known: Vec<&str> = NotificationEvent::ALL.iter().map(|e| e.as_str()).collect();
            problem(format!("events.{name}"), format!("unknown event `{name}`: use one of {}", known.join(", ")));
            continue;
        };
        if channels.len() > MAX_CHANNELS_PER_EVENT {
            problem(
                format!("events.{name}"),
                format!("{} channels listed; at most {MAX_CHANNELS_PER_EVENT} per event", channels.len()),
            );
        }
        let mut seen: Vec<String> = Vec::new();
        for (i, channel) in channels.iter().enumerate() {
            let channel = channel.trim();
            if !is_channel_id(channel) {
                problem(
                    format!("events.{name}[{i}]"),
                    format!(
                        "`{channel}` is not a Slack channel id: use the id (such as C0123ABC) shown in the channel's \
                         details or by GET /api/v1/integrations/slack/{{alias}}/channels"
                    ),
                );
            } else if seen.iter().any(|c| c == channel) {
                problem(format!("events.{name}[{i}]"), format!("`{channel}` is listed twice"));
            } else {
                seen.push(channel.to_string());
            }
        }
        events.insert(event, seen);
    }
    // Only settings that are right in themselves are checked with Slack: one call per channel.
    if problems.is_empty()
        && let Some(integration) = &integration
    {
        problems = check_channels(slack, integration, &events).await?;
    }
    if !problems.is_empty() {
        let message = problems
            .iter()
            .map(|p| {
                format!("{}: {}", p["field"].as_str().unwrap_or_default(), p["message"].as_str().unwrap_or_default())
            })
            .collect::<Vec<_>>()
            .join("; ");
        return Err(ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_notification_settings", message)
            .with(super::error::Details::Problems(problems)));
    }
    let settings = NotificationSettings { process_key: key, integration: alias, events, updated_at: Utc::now() };
    slack.save_settings(&settings).await?;
    let saved = settings_json(&settings);
    let details = json!({"integration": saved["integration"], "events": saved["events"]});
    state.audit(Some(&caller), &client, "notifications_updated", Some(settings.process_key.clone()), details).await;
    Ok(Json(saved))
}

/// Asks Slack whether the bot can post to every channel of `events` (each distinct channel once,
/// through `conversations.info`), answering a problem for each place a refused channel is listed.
/// Settings are not saved unchecked: when Slack is rate limiting or unreachable the answer is 503
/// with `Retry-After`.
async fn check_channels(
    slack: &SlackNotifier,
    integration: &Integration,
    events: &BTreeMap<NotificationEvent, Vec<String>>,
) -> Result<Vec<Value>, ApiError> {
    let mut verdicts: BTreeMap<&str, ChannelCheck> = BTreeMap::new();
    for channel in events.values().flatten() {
        if verdicts.contains_key(channel.as_str()) {
            continue;
        }
        match slack.check_channel(integration, channel).await {
            Ok(verdict) => {
                verdicts.insert(channel, verdict);
            }
            Err(Unchecked::Integration(message)) => {
                return Ok(vec![json!({"field": "integration", "message": message})]);
            }
            Err(Unchecked::Unavailable { message, retry_after }) => {
                tracing::warn!(channel, message, "cannot check notification channels with Slack");
                return Err(ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "slack_unavailable", message)
                    .with_retry_after(retry_after.as_secs()));
            }
        }
    }
    let mut problems = Vec::new();
    for (event, channels) in events {
        for (i, channel) in channels.iter().enumerate() {
            if let Some(ChannelCheck::Refused(message)) = verdicts.get(channel.as_str()) {
                problems.push(json!({"field": format!("events.{}[{i}]", event.as_str()), "message": message}));
            }
        }
    }
    Ok(problems)
}

#[utoipa::path(
    get, path = "/api/v1/processes/{key}/notifications", tag = "slack",
    params(("key" = String, Path, description = "The process key")),
    responses((status = 200, description = "The settings", body = serde_json::Value),
              (status = 404, description = "No process or no settings", body = super::views::ErrorBody),
              (status = 503, description = "Slack is not set up", body = super::views::ErrorBody)),
    security(("bearer" = [])),
)]
pub async fn get(State(state): State<AppState>, Path(key): Path<String>) -> Result<Json<Value>, ApiError> {
    known_process(&state, &key).await?;
    match state.store().notification_settings(&key).await? {
        Some(s) => Ok(Json(settings_json(&s))),
        None => Err(ApiError::not_found(
            "notifications_not_configured",
            format!("process `{key}` has no notification settings"),
        )),
    }
}

fn unauthorized() -> ApiError {
    ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", "the request is not signed by Slack")
}

/// The polite answer Slack shows only to the person who clicked.
fn ephemeral(text: &str) -> Response {
    Json(json!({"response_type": "ephemeral", "replace_original": false, "text": text})).into_response()
}

#[utoipa::path(
    post, path = "/api/v1/slack/interactions", tag = "slack",
    request_body(content = String, content_type = "application/x-www-form-urlencoded", description = "Slack's signed `payload`"),
    responses((status = 200, description = "Acknowledged (an ephemeral text)", body = serde_json::Value),
              (status = 400, description = "A button value that is not ours", body = super::views::ErrorBody),
              (status = 401, description = "No valid Slack signature", body = super::views::ErrorBody)),
)]
pub async fn interactions(
    State(state): State<AppState>,
    client: super::Client,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> Response {
    match interact(&state, &client, &headers, &body).await {
        Ok(resp) => resp,
        Err(e) => e.into_response(),
    }
}

async fn interact(
    state: &AppState,
    client: &super::Client,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Response, ApiError> {
    let slack = state.notifier().map_err(|_| unauthorized())?;
    let Some(secret) = slack.signing_secret().await else {
        tracing::warn!("a Slack interaction arrived but no signing secret is configured (SLACK_SIGNING_SECRET)");
        return Err(unauthorized());
    };
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let signed = verify_signature(
        secret.expose(),
        header("x-slack-request-timestamp"),
        header("x-slack-signature"),
        body,
        Utc::now().timestamp(),
    );
    if let Err(why) = signed {
        tracing::info!(%why, "refused a request claiming to come from Slack");
        return Err(unauthorized());
    }

    let click = match interactions::parse(body) {
        Ok(Some(click)) => click,
        // Other interactions (shortcuts, modals) are not Sluice's: acknowledge them.
        Ok(None) => return Ok(StatusCode::OK.into_response()),
        Err(e) => return Err(ApiError::bad_request(e.to_string())),
    };
    let decision = match slack.verify_decision(&click.value).await {
        Ok(Some(d)) => d,
        Ok(None) => {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_action",
                "the button is not one Sluice signed, or it was altered: nothing was done",
            ));
        }
        Err(e) => return Err(ApiError::internal(&e)),
    };
    let Click { user, user_name, channel, ts, message, .. } = click;

    // The completion and the message's update run on a task of their own: Slack gets its answer
    // within the budget even if the database is slow, and the work still finishes.
    let (tx, rx) = tokio::sync::oneshot::channel();
    let task_state = state.clone();
    let answer = decided_text(&decision);
    let client = client.clone();
    state.engine_runtime().spawn(async move {
        let data = json!({"approved": decision.approved, "approved_by": user, "approved_by_name": user_name});
        let data: sluice_engine::runtime::Data = serde_json::from_value(data).unwrap_or_default();
        let result = task_state.engine().complete_task(decision.task, data, Utc::now()).await;
        let done = result.is_ok();
        let _ = tx.send(result);
        if done {
            // Who clicked is a Slack user (linking them to Sluice's users comes later).
            let details =
                json!({"request": decision.request.to_string(), "approved": decision.approved, "via": "slack"});
            let target = Some(decision.task.to_string());
            task_state.audit_as(Some(format!("slack:{user}")), &client, "task_completed", target, details).await;
        }
        if done && let (Some(channel), Some(ts), Some(slack)) = (channel, ts, task_state.inner.notifier.get()) {
            slack.mark_decided(&decision, &user, user_name.as_deref(), &channel, &ts, &message).await;
        }
    });
    Ok(match tokio::time::timeout(DECISION_BUDGET, rx).await {
        Ok(Ok(Ok(()))) => ephemeral(&answer),
        Ok(Ok(Err(sluice_worker::Error::TaskNotActive(_) | sluice_worker::Error::TaskNotFound(_)))) => {
            ephemeral("This task was already decided (or the Request ended): nothing changed.")
        }
        Ok(Ok(Err(e))) => return Err(e.into()),
        Ok(Err(_)) => return Err(ApiError::internal(&"the decision task ended without an answer")),
        Err(_) => ephemeral("Your decision is being recorded."),
    })
}

fn decided_text(d: &Decision) -> String {
    if d.approved { "Approved. Thank you!".into() } else { "Rejected. Thank you!".into() }
}
