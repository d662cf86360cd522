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
use sluice_store::{
    DirectMessage, MAX_CHANNELS_PER_EVENT, MAX_TEMPLATE_CHARS, NotificationEvent, NotificationOptions,
    NotificationSettings,
};

use super::{ApiError, ApiJson, AppState, RawBody};
use sluice_slack_app::interactions::{self, Click, is_channel_id};
use sluice_slack_app::notifier::{ChannelCheck, Clicker, Decision, SlackNotifier, Unchecked, verify_signature};

use super::tasks::Access;

/// How long the interaction endpoint waits for the task's completion before answering anyway:
/// Slack wants an answer within 3 seconds.
const DECISION_BUDGET: Duration = Duration::from_millis(2_500);

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SettingsBody {
    integration: String,
    #[serde(default)]
    events: BTreeMap<String, Vec<String>>,
    /// `off` (default), `also` or `only`: a task meant for one person goes to them as a direct
    /// message besides or instead of the `task_waiting` channels.
    #[serde(default)]
    direct_message: Option<String>,
    /// Event → a text shown in its messages, a template over the Request's data.
    #[serde(default)]
    templates: BTreeMap<String, String>,
}

fn settings_json(s: &NotificationSettings) -> Value {
    let events: Map<String, Value> =
        NotificationEvent::ALL.iter().map(|e| (e.as_str().to_string(), json!(s.channels(*e)))).collect();
    json!({
        "process_key": s.process_key,
        "integration": s.integration,
        "events": events,
        "direct_message": s.options.direct_message.as_str(),
        "templates": s.options.templates.iter().map(|(e, t)| (e.as_str().to_string(), json!(t))).collect::<Map<_, _>>(),
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
    request_body(content = serde_json::Value, description = "`integration`, `events` (event → up to 20 channel ids), optional `direct_message` (`off`, `also`, `only`: a task meant for one person goes to them directly) and `templates` (event → text over the Request's data, `{{ path }}`)"),
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
    let mut options = NotificationOptions::default();
    match body.direct_message.as_deref().map(str::trim) {
        None | Some("") => {}
        Some(d) => match DirectMessage::parse(d) {
            Some(d) => options.direct_message = d,
            None => problem("direct_message".into(), format!("`{d}` is not one of off, also, only")),
        },
    }
    for (name, template) in body.templates {
        let Some(event) = NotificationEvent::parse(&name) else {
            let known: Vec<&str> = NotificationEvent::ALL.iter().map(|e| e.as_str()).collect();
            problem(format!("templates.{name}"), format!("unknown event `{name}`: use one of {}", known.join(", ")));
            continue;
        };
        let chars = template.chars().count();
        if chars > MAX_TEMPLATE_CHARS {
            problem(format!("templates.{name}"), format!("{chars} characters; at most {MAX_TEMPLATE_CHARS}"));
        } else if !template.trim().is_empty() {
            options.templates.insert(event, template);
        }
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
    let settings =
        NotificationSettings { process_key: key, integration: alias, events, options, updated_at: Utc::now() };
    slack.save_settings(&settings).await?;
    let saved = settings_json(&settings);
    let details = json!({"integration": saved["integration"], "events": saved["events"],
                         "direct_message": saved["direct_message"]});
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
    // Who clicked is checked, the task completed and the message updated on a task of their own:
    // Slack gets its answer within the budget even if Slack or the database is slow, and the work
    // still finishes.
    let (tx, rx) = tokio::sync::oneshot::channel();
    let task_state = state.clone();
    let client = client.clone();
    let answer = decided_text(&decision);
    state.engine_runtime().spawn(async move {
        let outcome = decide(&task_state, &client, &decision, &click).await;
        let refusal = match &outcome {
            Ok(Outcome::Refused(text)) => Some(text.clone()),
            _ => None,
        };
        let _ = tx.send(outcome);
        if let (Some(text), Some(url), Some(slack)) =
            (refusal, click.response_url.as_deref(), task_state.inner.notifier.get())
            && let Err(e) = slack.reply_ephemeral(url, &text).await
        {
            tracing::warn!(error = %e, "cannot send the ephemeral reply to a refused Slack click");
        }
    });
    Ok(match tokio::time::timeout(DECISION_BUDGET, rx).await {
        Ok(Ok(Ok(Outcome::Decided))) => ephemeral(&answer),
        Ok(Ok(Ok(Outcome::Refused(text)))) => ephemeral(&text),
        Ok(Ok(Ok(Outcome::AlreadyDecided)))
        | Ok(Ok(Err(sluice_worker::Error::TaskNotActive(_) | sluice_worker::Error::TaskNotFound(_)))) => {
            ephemeral("This task was already decided (or the Request ended): nothing changed.")
        }
        Ok(Ok(Err(e))) => return Err(e.into()),
        Ok(Err(_)) => return Err(ApiError::internal(&"the decision task ended without an answer")),
        Err(_) => ephemeral("Your decision is being recorded."),
    })
}

/// What became of a click.
enum Outcome {
    /// The task was completed with the decision.
    Decided,
    /// The clicker may not decide it: the reply that says why (the task stays open).
    Refused(String),
    /// The task is no longer waiting.
    AlreadyDecided,
}

/// Decides a click: completes the task when the Slack user is linked to a Sluice user who may
/// complete it (the rule of `POST /api/v1/tasks/{id}/complete`: its assignee, a candidate of an
/// unassigned task who then claims it, its requester when it is for nobody, or an operator);
/// otherwise records the refused attempt in the Request's history and the audit log.
async fn decide(
    state: &AppState,
    client: &super::Client,
    decision: &Decision,
    click: &Click,
) -> Result<Outcome, sluice_worker::Error> {
    let store = state.store();
    let Some(task) = store.task(decision.task).await? else { return Ok(Outcome::AlreadyDecided) };
    if task.status != sluice_store::TaskStatus::Active {
        return Ok(Outcome::AlreadyDecided);
    }
    let Some(slack) = state.inner.notifier.get() else {
        return Ok(Outcome::Refused("Slack is not set up on this Sluice server: nothing changed.".into()));
    };
    let clicker = match slack.clicker(&decision.integration, &click.user).await {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!(error = %e, slack_user = click.user, "cannot tell who clicked in Slack");
            // Not a refusal of the person: nothing is recorded; they can click again.
            return Ok(Outcome::Refused(format!(
                "Sluice could not check who you are ({e}); nothing changed, try again."
            )));
        }
    };
    let request = store.request(task.request_id).await?;
    let who_for = match (&task.assignee, task.candidate_users.is_empty() && task.candidate_groups.is_empty()) {
        (Some(a), _) => format!("`{a}`"),
        (None, false) => {
            let mut names: Vec<String> = task.candidate_users.iter().map(|u| format!("`{u}`")).collect();
            names.extend(task.candidate_groups.iter().map(|g| format!("group `{g}`")));
            names.join(", ")
        }
        (None, true) => "its requester and operators".to_string(),
    };
    let (user, reason) = match clicker {
        Clicker::Unknown(reason) => (None, format!("{reason}. Nothing changed: this task is for {who_for}.")),
        Clicker::User(user) => {
            let roles = super::auth::Roles::from_names(&user.roles);
            let operator = roles.contains(super::auth::Role::Admin) || roles.contains(super::auth::Role::Operator);
            let delegated = task.delegation.as_deref() == Some("pending");
            let access = Access::of(
                task.clone(),
                request.started_by.as_deref(),
                request.process_version,
                &user.username,
                &user.groups,
                operator,
            );
            match access {
                Some(a) if a.may_complete() && !delegated => {
                    return complete(state, client, decision, click, &user.username, &a).await;
                }
                _ => {
                    let why = if delegated { " and it is delegated" } else { "" };
                    let reason = format!(
                        "You (`{}`) may not decide this task: it is for {who_for}{why}. Nothing changed.",
                        user.username
                    );
                    (Some(user.username), reason)
                }
            }
        }
    };
    let event = sluice_engine::HistoryEvent::SlackClickRefused {
        task_id: decision.task.to_string(),
        slack_user: click.user.clone(),
        integration: decision.integration.clone(),
        user: user.clone(),
        approved: decision.approved,
        reason: reason.clone(),
    };
    let event = sluice_store::NewEvent::new(Some(task.element_id.clone()), event, Utc::now());
    store.record_notification(decision.request, None, &[event]).await?;
    let details = json!({
        "request": decision.request.to_string(), "approved": decision.approved, "via": "slack",
        "slack_user": click.user, "user": user,
    });
    let actor = Some(user.unwrap_or_else(|| format!("slack:{}", click.user)));
    state.audit_as(actor, client, "slack_click_refused", Some(decision.task.to_string()), details).await;
    Ok(Outcome::Refused(reason))
}

/// Completes the task for `username` (claiming it first when it is unassigned and they are not
/// an operator, as the API does), then updates the message to say who decided.
async fn complete(
    state: &AppState,
    client: &super::Client,
    decision: &Decision,
    click: &Click,
    username: &str,
    access: &Access,
) -> Result<Outcome, sluice_worker::Error> {
    let id = decision.task;
    if access.task.assignee.is_none() && !access.operator {
        let claimed = state.store().change_task(id, &sluice_store::TaskChange::Claim(username.to_string())).await?;
        if let Err(refusal) = claimed {
            tracing::info!(?refusal, task = %id, "a Slack click lost the claim");
            return Ok(match refusal {
                sluice_store::TaskRefusal::ClaimedBy(other) => {
                    Outcome::Refused(format!("`{other}` took this task first: nothing changed."))
                }
                _ => Outcome::AlreadyDecided,
            });
        }
    }
    let data = json!({
        "approved": decision.approved,
        "approved_by": click.user,
        "approved_by_name": click.user_name,
        "approved_by_user": username,
    });
    let data: sluice_engine::runtime::Data = serde_json::from_value(data).unwrap_or_default();
    state.engine().complete_task_by(id, data, Some(username.to_string()), Utc::now()).await?;
    let details = json!({"request": decision.request.to_string(), "approved": decision.approved, "via": "slack",
                         "slack_user": click.user});
    state.audit_as(Some(username.to_string()), client, "task_completed", Some(id.to_string()), details).await;
    // The message is changed to say who decided by the job the completion planned, as for a task
    // completed in the web app or through the API.
    Ok(Outcome::Decided)
}

fn decided_text(d: &Decision) -> String {
    if d.approved { "Approved. Thank you!".into() } else { "Rejected. Thank you!".into() }
}
