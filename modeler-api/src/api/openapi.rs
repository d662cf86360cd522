//! `GET /api/v1/openapi.json`: the OpenAPI 3.1 document, derived by utoipa from the handlers'
//! `#[utoipa::path]` attributes and the types they read and write (`views.rs`). What every route of
//! a kind shares (the 401 of the bearer auth, the 400/413/415 of the body extractors, the 408 of the
//! timeout) is added by [`Common`] from what the operation declares, so no handler can forget it.
//! Tests check the document against the router and against the server's real answers.

use std::sync::OnceLock;

use axum::http::header;
use axum::response::{IntoResponse, Response};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, Http, HttpAuthScheme, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{ContentBuilder, Ref, RefOr, ResponseBuilder};
use utoipa::{Modify, OpenApi};

use super::handlers;
use super::metrics;
use super::tasks;
use super::views::ErrorBody;

/// The security scheme every `/api/v1` route but the open ones requires.
pub const BEARER: &str = "bearer";
/// The web app's session cookie, accepted wherever the bearer token is.
pub const SESSION: &str = "session";

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Sluice API",
        description = "Deploy BPMN processes, start and follow Requests, complete user tasks, publish messages, broadcast signals. \
            Every error answers `{\"error\": {\"code\", \"message\"}}`. \
            Every route but the open ones needs a bearer token or a session cookie (`sluice_session`, from `POST /api/v1/session`; \
            writes with it must echo the CSRF token in `X-CSRF-Token`) and a role: `admin`, `designer`, `operator`, `participant`, `worker`.",
    ),
    paths(
        handlers::deploy,
        handlers::list_processes,
        handlers::get_process,
        super::counts::element_counts,
        handlers::start_request,
        handlers::list_requests,
        handlers::get_request,
        handlers::request_events,
        handlers::cancel_request,
        handlers::retry_request,
        handlers::modify_request,
        super::lifecycle::patch_request_data,
        super::lifecycle::migrate_request,
        super::lifecycle::suspend_request,
        super::lifecycle::resume_request,
        super::lifecycle::suspend_process,
        super::lifecycle::resume_process,
        super::lifecycle::delete_version,
        super::incidents::list,
        super::incidents::retry,
        super::operations::create,
        super::operations::get,
        tasks::list_tasks,
        tasks::get_task,
        tasks::complete_task,
        tasks::claim_task,
        tasks::unclaim_task,
        tasks::assign_task,
        tasks::delegate_task,
        tasks::resolve_task,
        handlers::publish_message,
        handlers::broadcast_signal,
        handlers::list_connectors,
        handlers::connector_templates,
        super::decisions::list,
        super::decisions::get,
        super::decisions::evaluate,
        super::jobs::activate,
        super::jobs::complete,
        super::jobs::fail,
        super::jobs::error,
        super::jobs::extend,
        super::secrets::put,
        super::secrets::list,
        super::secrets::delete,
        super::slack_admin::put_app,
        super::slack_admin::register,
        super::slack_admin::list,
        super::slack_admin::install,
        super::slack_admin::manifest,
        super::slack_admin::oauth_callback,
        super::slack_admin::channels,
        super::slack_admin::delete,
        super::notifications::put,
        super::notifications::get,
        super::notifications::interactions,
        super::people::create_user,
        super::people::list_users,
        super::people::get_user,
        super::people::update_user,
        super::people::delete_user,
        super::people::create_token,
        super::people::list_tokens,
        super::people::revoke_token,
        super::people::me,
        super::people::change_password,
        super::people::sign_in,
        super::people::sign_out,
        super::people::audit,
        super::oidc::put_config,
        super::oidc::get_config,
        super::oidc::delete_config,
        super::oidc::methods,
        super::oidc::start,
        super::oidc::callback,
        serve,
        handlers::healthz,
        metrics::serve,
    ),
    components(schemas(ErrorBody)),
    modifiers(&Common),
    tags(
        (name = "processes", description = "BPMN models and their versions"),
        (name = "requests", description = "Runs of processes"),
        (name = "tasks", description = "User tasks"),
        (name = "connectors", description = "What service tasks can call, and the secrets their inputs may use"),
        (name = "jobs", description = "Job workers: service tasks whose type a worker takes (activate, complete, fail, error, extend)"),
        (name = "decisions", description = "DMN decisions (deployed with the processes) and trying them out"),
        (name = "slack", description = "Slack workspaces, notification settings and interactivity"),
        (name = "people", description = "Users, their roles, groups and API tokens, web app sessions, the audit log"),
        (name = "operations", description = "Health, metrics and this document (no token)"),
    ),
)]
pub struct ApiDoc;

/// Adds the answers that come from the layers and extractors rather than the handler.
struct Common;

impl Modify for Common {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(BEARER, SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)));
        components
            .add_security_scheme(SESSION, SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::new("sluice_session"))));
        for item in openapi.paths.paths.values_mut() {
            let ops = [&mut item.get, &mut item.post, &mut item.put, &mut item.patch, &mut item.delete];
            for op in ops.into_iter().flatten() {
                let secured = op.security.as_ref().is_some_and(|s| !s.is_empty());
                if let Some(security) = op.security.as_mut().filter(|_| secured) {
                    security.push(SecurityRequirement::new(SESSION, Vec::<String>::new()));
                }
                let (has_body, json_body) = match &op.request_body {
                    Some(RefOr::T(b)) => (true, b.content.keys().any(|c| c == "application/json")),
                    _ => (false, false),
                };
                let has_params = op.parameters.as_ref().is_some_and(|p| !p.is_empty());
                let responses = &mut op.responses.responses;
                let mut add = |status: &str, description: &str| {
                    responses.entry(status.to_string()).or_insert_with(|| error_response(description));
                };
                if secured {
                    add(
                        "401",
                        "`unauthorized`: no valid bearer token or session cookie (also an expired or revoked token, an ended session)",
                    );
                    add(
                        "403",
                        "`forbidden`: the caller lacks the role the route needs (the message names it); `csrf`: a write with a session cookie without its `X-CSRF-Token`",
                    );
                }
                // Every route refuses a query parameter it does not document (`strict.rs`).
                if json_body || has_params {
                    add(
                        "400",
                        "`invalid_json` or `invalid_query` (naming the `field`), `bad_request` for an unknown query parameter or body field (naming it in `field`), or a malformed path",
                    );
                } else {
                    add("400", "`bad_request`: a query parameter this route does not take (named in `field`)");
                }
                if has_body {
                    add("413", "`payload_too_large`: the body is over 10 MiB");
                    add("415", "`unsupported_media_type`: another `Content-Type`");
                }
                add(
                    "408",
                    "`request_timeout`: the request took longer than 30 s and was stopped before it wrote anything: nothing was done (a request that began writing is finished and answered)",
                );
            }
        }
    }
}

fn error_response(description: &str) -> RefOr<utoipa::openapi::Response> {
    let content = ContentBuilder::new().schema(Some(Ref::from_schema_name("ErrorBody"))).build();
    RefOr::T(ResponseBuilder::new().description(description).content("application/json", content).build())
}

/// The document as JSON, built once.
pub fn document_text() -> &'static str {
    static DOC: OnceLock<String> = OnceLock::new();
    DOC.get_or_init(|| {
        ApiDoc::openapi().to_json().unwrap_or_else(|e| {
            tracing::error!(error = %e, "cannot serialize the OpenAPI document");
            "{}".to_string()
        })
    })
}

/// The document as a JSON value (for tests).
#[cfg(test)]
pub fn document() -> serde_json::Value {
    serde_json::from_str(document_text()).unwrap_or_default()
}

/// This document: OpenAPI 3.1, generated from the code.
#[utoipa::path(
    get, path = "/api/v1/openapi.json", tag = "operations",
    responses((status = 200, description = "The OpenAPI 3.1 document", body = Object)),
)]
pub async fn serve() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], document_text()).into_response()
}
