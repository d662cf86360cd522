//! The decision routes: `GET /api/v1/decisions`, `GET /api/v1/decisions/{id}` and
//! `POST /api/v1/decisions/{id}/evaluate` (decisions are deployed with `POST /api/v1/processes`).
//! Their JSON shapes live here with the handlers.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use chrono::Utc;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sluice_engine::runtime::{Data, DecisionMatch};
use sluice_store::DecisionVersion;
use utoipa::{IntoParams, ToSchema};

use super::views::{ErrorBody, time};
use super::{ApiError, ApiJson, ApiQuery, AppState, Details};

type ApiResult<T> = Result<T, ApiError>;

/// One deployed version of a decision.
#[derive(Serialize, ToSchema)]
pub struct DecisionSummary {
    /// The decision's id (its DMN `decision` element's `id`).
    pub id: String,
    #[schema(required = true)]
    pub name: Option<String>,
    #[schema(minimum = 1)]
    pub version: i64,
    /// Its `versionTag` (Camunda's `camunda:versionTag`), which a business rule task may pin.
    #[schema(required = true)]
    pub version_tag: Option<String>,
    #[schema(format = DateTime)]
    pub deployed_at: String,
    /// The `id` of the `definitions` element of the file it came from.
    pub definitions_id: String,
    /// The name of the file it came from.
    pub file: String,
}

impl From<&DecisionVersion> for DecisionSummary {
    fn from(d: &DecisionVersion) -> Self {
        DecisionSummary {
            id: d.decision_id.clone(),
            name: d.name.clone(),
            version: d.version,
            version_tag: d.version_tag.clone(),
            deployed_at: time(d.deployed_at),
            definitions_id: d.definitions_id.clone(),
            file: d.file_name.clone(),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct DecisionList {
    /// The latest version of each, by id.
    pub decisions: Vec<DecisionSummary>,
}

/// One version of a decision with every version and the XML of its file. Its first fields repeat
/// [`DecisionSummary`]'s: the OpenAPI document lists each answer's fields flat.
#[derive(Serialize, ToSchema)]
pub struct DecisionDetail {
    pub id: String,
    #[schema(required = true)]
    pub name: Option<String>,
    #[schema(minimum = 1)]
    pub version: i64,
    #[schema(required = true)]
    pub version_tag: Option<String>,
    #[schema(format = DateTime)]
    pub deployed_at: String,
    pub definitions_id: String,
    pub file: String,
    /// Every version, oldest first.
    pub versions: Vec<DecisionSummary>,
    /// The DMN XML of this version's file, as deployed.
    pub xml: String,
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct DecisionQuery {
    /// A deployed version; the latest when left out.
    #[serde(default)]
    #[param(minimum = 1)]
    pub version: Option<i64>,
}

/// Evaluates a decision with `data` as its input variables.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EvaluateBody {
    #[serde(default)]
    #[schema(value_type = Object)]
    pub data: Data,
    /// A deployed version; the latest when left out.
    #[serde(default)]
    #[schema(minimum = 1)]
    pub version: Option<i64>,
}

/// The rules one decision table matched.
#[derive(Serialize, ToSchema)]
pub struct MatchedView {
    pub decision_id: String,
    /// The matched rules' ids, in hit order.
    pub rule_ids: Vec<String>,
    /// Their 1-based positions in the table.
    pub rule_indexes: Vec<usize>,
    /// The table's result after its hit policy.
    #[schema(value_type = Object)]
    pub output: Value,
}

impl From<DecisionMatch> for MatchedView {
    fn from(m: DecisionMatch) -> Self {
        MatchedView { decision_id: m.decision_id, rule_ids: m.rule_ids, rule_indexes: m.rule_indexes, output: m.output }
    }
}

/// A decision's result.
#[derive(Serialize, ToSchema)]
pub struct EvaluationView {
    pub decision_id: String,
    #[schema(minimum = 1)]
    pub version: i64,
    /// The decision's value: a single output, a context of several, a list for a multiple-hit
    /// policy, an aggregate.
    #[schema(value_type = Object)]
    pub value: Value,
    /// Every decision table evaluated (required decisions first) with the rules it matched.
    pub matched: Vec<MatchedView>,
}

/// The latest version of every deployed decision.
#[utoipa::path(
    get, path = "/api/v1/decisions", tag = "decisions",
    responses((status = 200, description = "Latest versions, by id", body = DecisionList)),
    security(("bearer" = [])),
)]
pub async fn list(State(state): State<AppState>) -> ApiResult<Json<DecisionList>> {
    let latest = state.store().latest_decisions().await?;
    Ok(Json(DecisionList { decisions: latest.iter().map(DecisionSummary::from).collect() }))
}

/// One version of a decision (the latest unless `version` is given), with every version and
/// the XML of its file.
#[utoipa::path(
    get, path = "/api/v1/decisions/{id}", tag = "decisions",
    params(("id" = String, Path, description = "The decision's id"), DecisionQuery),
    responses(
        (status = 200, description = "The decision", body = DecisionDetail),
        (status = 404, description = "`decision_not_found` (id or version)", body = ErrorBody),
    ),
    security(("bearer" = [])),
)]
pub async fn get(
    State(state): State<AppState>,
    Path(id): Path<String>,
    ApiQuery(query): ApiQuery<DecisionQuery>,
) -> ApiResult<Json<DecisionDetail>> {
    let versions = state.store().decision_versions(&id).await?;
    let Some(latest) = versions.last() else { return Err(not_deployed(&id)) };
    let (d, xml) = state.store().decision_xml(&id, query.version.unwrap_or(latest.version)).await?;
    Ok(Json(DecisionDetail {
        id: d.decision_id,
        name: d.name,
        version: d.version,
        version_tag: d.version_tag,
        deployed_at: time(d.deployed_at),
        definitions_id: d.definitions_id,
        file: d.file_name,
        versions: versions.iter().map(DecisionSummary::from).collect(),
        xml,
    }))
}

/// Evaluates a decision (the latest version unless `version` is given) with `data` as its
/// variables and `now()` the current time, as a business rule task would; nothing is stored.
#[utoipa::path(
    post, path = "/api/v1/decisions/{id}/evaluate", tag = "decisions",
    params(("id" = String, Path, description = "The decision's id")),
    request_body(content = EvaluateBody, description = "The input data; may be left out (same as `{}`)"),
    responses(
        (status = 200, description = "The decision's value and the rules it matched", body = EvaluationView),
        (status = 404, description = "`decision_not_found` (id or version)", body = ErrorBody),
        (status = 422, description = "`decision_failed`: the evaluation failed; `decision` and `rule` say where", body = ErrorBody),
    ),
    security(("bearer" = [])),
)]
pub async fn evaluate(
    State(state): State<AppState>,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<EvaluateBody>,
) -> ApiResult<Json<EvaluationView>> {
    let version = match body.version {
        Some(v) => v,
        None => state.store().decision_version_for(&id, None).await?.ok_or_else(|| not_deployed(&id))?,
    };
    let Some(definitions) = state.engine().decision(&id, version).await? else {
        return Err(ApiError::not_found(
            "decision_not_found",
            format!("no decision `{id}` version {version} is deployed"),
        ));
    };
    let data = Value::Object(body.data);
    let vars = sluice_feel::WithNow { vars: &data, now: Utc::now() };
    match definitions.evaluate(&id, &vars) {
        Ok(ev) => Ok(Json(EvaluationView {
            decision_id: ev.decision_id,
            version,
            value: ev.value,
            matched: ev.matched.into_iter().map(|m| MatchedView::from(DecisionMatch::from(m))).collect(),
        })),
        Err(e) => Err(ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "decision_failed", e.to_string())
            .with(Details::Decision { decision: e.decision_id, rule: e.rule_id })),
    }
}

fn not_deployed(id: &str) -> ApiError {
    ApiError::not_found("decision_not_found", format!("no decision `{id}` is deployed"))
}
