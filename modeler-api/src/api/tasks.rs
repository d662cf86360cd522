//! The task routes: listings for people (`assignee=me`, `candidate=me`, by group and process,
//! by due date), and who works a task: claim, unclaim, assign, delegate and resolve, complete.
//!
//! Who may do what with a task (operators and admins: everything):
//! - a participant *sees* a task assigned to them, delegated by them, completed by them, one of
//!   a Request they started, or an open one they are a candidate of (a candidate user, or in a
//!   candidate group); any other is 404;
//! - they *complete* it when it is theirs, when it is unassigned and they are a candidate (the
//!   completion claims it), or when it has no assignee and no candidates and they started its
//!   Request; otherwise 403 `forbidden`. A delegated task is resolved, not completed (409
//!   `task_delegated`);
//! - they *claim* it on the same terms as completing an unassigned task; *unclaim* and
//!   *delegate* only their own; *resolve* one delegated to them. *Assign* is the operator's.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use chrono::Utc;
use sluice_store::{RequestId, TaskChange, TaskId, TaskOrder, TaskRefusal, TaskRow, TaskStatus, Viewer};

use super::auth::Role;
use super::views::{
    CompleteBody, ErrorBody, TaskDetail, TaskFormView, TaskList, TaskOrderParam, TaskQuery, TaskUserBody, TaskView,
};
use super::{ApiError, ApiJson, AppState, Caller, Client, Details, SearchQuery};

type ApiResult<T> = Result<T, ApiError>;

/// The most tasks one page holds.
const MAX_TASK_PAGE: u32 = 500;

fn task_id(s: &str) -> ApiResult<TaskId> {
    s.parse().map_err(|_| ApiError::not_found("task_not_found", format!("no task {s}")))
}

fn not_found(id: TaskId) -> ApiError {
    ApiError::not_found("task_not_found", format!("no task {id}"))
}

fn forbidden(message: String) -> ApiError {
    ApiError::new(StatusCode::FORBIDDEN, "forbidden", message)
}

fn viewer(caller: &Caller) -> Viewer<'_> {
    Viewer { username: &caller.username, groups: &caller.groups }
}

/// What someone may do with one task.
pub(crate) struct Access {
    pub(crate) task: TaskRow,
    pub(crate) operator: bool,
    pub(crate) assignee: bool,
    pub(crate) candidate: bool,
    /// They started the Request of a task with no assignee and no candidates.
    pub(crate) requester: bool,
    /// The version of the Request's process.
    pub(crate) version: i64,
}

impl Access {
    /// What the person `username` (in `groups`, an operator or not) may do with `task` of a
    /// Request started by `started_by`; `None` when they may not even see it. The API's callers
    /// and Slack's clickers are judged by this one rule.
    pub(crate) fn of(
        task: TaskRow,
        started_by: Option<&str>,
        version: i64,
        username: &str,
        groups: &[String],
        operator: bool,
    ) -> Option<Access> {
        let assignee = task.assignee.as_deref() == Some(username);
        let candidate = task.status == TaskStatus::Active
            && (task.candidate_users.iter().any(|u| u == username)
                || task.candidate_groups.iter().any(|g| groups.contains(g)));
        let unassigned = task.assignee.is_none() && task.candidate_users.is_empty() && task.candidate_groups.is_empty();
        let started = started_by == Some(username);
        let sees = operator
            || assignee
            || candidate
            || started
            || task.owner.as_deref() == Some(username)
            || task.completed_by.as_deref() == Some(username);
        sees.then_some(Access { task, operator, assignee, candidate, requester: started && unassigned, version })
    }

    /// Claim it, or complete it claiming it.
    pub(crate) fn may_claim(&self) -> bool {
        self.operator || (self.task.assignee.is_none() && (self.candidate || self.requester))
    }

    pub(crate) fn may_complete(&self) -> bool {
        self.operator || self.assignee || self.may_claim()
    }
}

/// The task and what the caller may do with it; 404 for a task a participant may not see.
async fn access(state: &AppState, caller: &Caller, id: TaskId) -> ApiResult<Access> {
    let task = state.store().task(id).await?.ok_or_else(|| not_found(id))?;
    let request = state.store().request(task.request_id).await?;
    let operator = caller.has(Role::Operator);
    Access::of(task, request.started_by.as_deref(), request.process_version, &caller.username, &caller.groups, operator)
        .ok_or_else(|| not_found(id))
}

fn refused(id: TaskId, r: TaskRefusal) -> ApiError {
    match r {
        TaskRefusal::NotFound => not_found(id),
        TaskRefusal::NotActive => {
            ApiError::new(StatusCode::CONFLICT, "task_not_active", format!("task {id} is not active"))
        }
        TaskRefusal::ClaimedBy(user) => {
            ApiError::new(StatusCode::CONFLICT, "task_claimed", format!("task {id} is already claimed by `{user}`"))
        }
        TaskRefusal::NotDelegated => {
            ApiError::new(StatusCode::CONFLICT, "task_not_delegated", format!("task {id} is not delegated"))
        }
    }
}

/// A change of who works a task, audited.
async fn change(
    state: &AppState,
    caller: &Caller,
    client: &Client,
    id: TaskId,
    change: TaskChange,
    action: &str,
) -> ApiResult<Json<TaskView>> {
    let task = state.store().change_task(id, &change).await?.map_err(|r| refused(id, r))?;
    let details = serde_json::json!({
        "request": task.request_id.to_string(),
        "element_id": task.element_id,
        "assignee": task.assignee,
    });
    state.audit(Some(caller), client, action, Some(id.to_string()), details).await;
    Ok(Json(TaskView::from(&task)))
}

/// Tasks, one page at a time: all of them for operators, those they may see for participants.
/// Data conditions on the task's Request (`data.customer.name=Acme`, `data.amount>=1000`) work
/// as for `GET /api/v1/requests`.
#[utoipa::path(
    get, path = "/api/v1/tasks", tag = "tasks",
    params(TaskQuery),
    responses(
        (status = 200, description = "The tasks", body = TaskList),
        (status = 400, description = "`invalid_query`, `bad_request` (not a Request id, limit, `assignee` or `candidate` other than `me`) or `invalid_cursor`", body = ErrorBody),
    ),
    security(("bearer" = [])),
)]
pub async fn list_tasks(
    State(state): State<AppState>,
    caller: Caller,
    SearchQuery { query: q, data }: SearchQuery<TaskQuery>,
) -> ApiResult<Json<TaskList>> {
    let field = |name: &str, message: String| ApiError::bad_request(message).with(Details::Field(Some(name.into())));
    let request = match q.request.as_deref() {
        Some(r) => Some(r.parse::<RequestId>().map_err(|_| field("request", format!("invalid Request id `{r}`")))?),
        None => None,
    };
    let limit = q.limit.unwrap_or(100);
    if limit == 0 || limit > MAX_TASK_PAGE {
        return Err(field("limit", format!("`limit` must be between 1 and {MAX_TASK_PAGE}")));
    }
    // Only `me`: another person's inbox is theirs (operators filter by group or process).
    let me = |name: &str, v: Option<&str>| match v {
        None => Ok(false),
        Some("me") => Ok(true),
        Some(other) => Err(field(name, format!("`{name}` takes only `me`, not `{other}`"))),
    };
    let assignee = me("assignee", q.assignee.as_deref())?;
    let candidate = me("candidate", q.candidate.as_deref())?;
    let query = sluice_store::TaskQuery {
        request,
        status: q.status.map(Into::into),
        assignee: assignee.then_some(caller.username.as_str()),
        candidate: candidate.then(|| viewer(&caller)),
        group: q.group.as_deref().filter(|g| !g.is_empty()),
        process: q.process.as_deref().filter(|p| !p.is_empty()),
        order: match q.order {
            Some(TaskOrderParam::Due) => TaskOrder::Due,
            Some(TaskOrderParam::Created) | None => TaskOrder::Created,
        },
        limit: Some(limit),
        cursor: q.cursor.as_deref().filter(|c| !c.is_empty()),
        visible_to: (!caller.sees_everything()).then(|| viewer(&caller)),
        data: &data,
    };
    let (tasks, next_cursor) = state.store().list_tasks(&query).await?;
    Ok(Json(TaskList { tasks: tasks.iter().map(TaskView::from).collect(), next_cursor }))
}

/// One task, with the completion form its model declares and what the caller may do with it.
#[utoipa::path(
    get, path = "/api/v1/tasks/{id}", tag = "tasks",
    params(("id" = String, Path, format = "uuid", description = "The task id")),
    responses(
        (status = 200, description = "The task", body = TaskDetail),
        (status = 404, description = "`task_not_found` (or one the caller may not see)", body = ErrorBody),
    ),
    security(("bearer" = [])),
)]
pub async fn get_task(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<TaskDetail>> {
    let id = task_id(&id)?;
    let a = access(&state, &caller, id).await?;
    let form = match a.task.process_key.clone() {
        Some(key) => {
            let version = a.version;
            let process = state.on_engine(move |engine| async move { engine.process(&key, version).await }).await?;
            process
                .element_by_id(&a.task.element_id)
                .and_then(|e| process.element(e).form.as_deref().map(TaskFormView::from))
        }
        None => None,
    };
    let active = a.task.status == TaskStatus::Active;
    let pending = a.task.delegation.as_deref() == Some("pending");
    Ok(Json(TaskDetail {
        may_claim: active && a.task.assignee.is_none() && a.may_claim(),
        may_unclaim: active && a.task.assignee.is_some() && (a.assignee || a.operator) && !pending,
        may_complete: active && a.may_complete() && !pending,
        form,
        task: TaskView::from(&a.task),
    }))
}

// Each route's attribute lists its own answers: utoipa documents an endpoint from a literal list.
/// Completes an active user task with data; the Request moves on. Needs the assignee, a
/// candidate of an unassigned task (who claims it so), or an operator.
#[utoipa::path(
    post, path = "/api/v1/tasks/{id}/complete", tag = "tasks",
    params(("id" = String, Path, format = "uuid", description = "The task id")),
    request_body(content = CompleteBody, description = "May be left out (same as `{}`)"),
    responses(
        (status = 200, description = "The task, now `completed`", body = TaskView),
        (status = 403, description = "`forbidden`: neither the assignee, nor a candidate of an unassigned task, nor an operator", body = ErrorBody),
        (status = 404, description = "`task_not_found`", body = ErrorBody),
        (status = 409, description = "`task_not_active`: already completed or canceled; `task_claimed`: someone claimed it first; `task_delegated`: resolve it first", body = ErrorBody),
        (status = 503, description = "`busy`: the Request kept changing concurrently; try again", body = ErrorBody),
    ),
    security(("bearer" = [])),
)]
pub async fn complete_task(
    State(state): State<AppState>,
    caller: Caller,
    client: Client,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<CompleteBody>,
) -> ApiResult<Json<TaskView>> {
    let id = task_id(&id)?;
    let a = access(&state, &caller, id).await?;
    if a.task.status != TaskStatus::Active {
        return Err(refused(id, TaskRefusal::NotActive));
    }
    if !a.may_complete() {
        let who = a.task.assignee.as_deref().map_or("its candidates".to_string(), |u| format!("`{u}`"));
        return Err(forbidden(format!("task {id} is for {who}; completing it needs that or the role operator")));
    }
    if a.task.delegation.as_deref() == Some("pending") {
        let message = format!("task {id} is delegated: its assignee resolves it back to its owner first");
        return Err(ApiError::new(StatusCode::CONFLICT, "task_delegated", message));
    }
    if a.task.assignee.is_none() && !a.operator {
        // A candidate completes by claiming: whoever claims first works it.
        state
            .store()
            .change_task(id, &TaskChange::Claim(caller.username.clone()))
            .await?
            .map_err(|r| refused(id, r))?;
    }
    let by = Some(caller.username.clone());
    state.on_engine(move |engine| async move { engine.complete_task_by(id, body.data, by, Utc::now()).await }).await?;
    let task = state.store().task(id).await?.ok_or_else(|| not_found(id))?;
    let details = serde_json::json!({"request": task.request_id.to_string(), "element_id": task.element_id});
    state.audit(Some(&caller), &client, "task_completed", Some(id.to_string()), details).await;
    Ok(Json(TaskView::from(&task)))
}

/// Takes an unassigned task: the caller becomes its assignee.
#[utoipa::path(
    post, path = "/api/v1/tasks/{id}/claim", tag = "tasks",
    params(("id" = String, Path, format = "uuid", description = "The task id")),
    responses(
        (status = 200, description = "The task, assigned to the caller", body = TaskView),
        (status = 403, description = "`forbidden`: not a candidate", body = ErrorBody),
        (status = 404, description = "`task_not_found`", body = ErrorBody),
        (status = 409, description = "`task_claimed`: someone else has it; `task_not_active`", body = ErrorBody),
    ),
    security(("bearer" = [])),
)]
pub async fn claim_task(
    State(state): State<AppState>,
    caller: Caller,
    client: Client,
    Path(id): Path<String>,
) -> ApiResult<Json<TaskView>> {
    let id = task_id(&id)?;
    let a = access(&state, &caller, id).await?;
    if !a.assignee && !a.may_claim() && a.task.assignee.is_none() {
        return Err(forbidden(format!("only a candidate of task {id} (or an operator) may claim it")));
    }
    change(&state, &caller, &client, id, TaskChange::Claim(caller.username.clone()), "task_claimed").await
}

/// Gives a task back: it is unassigned, and its candidates may claim it.
#[utoipa::path(
    post, path = "/api/v1/tasks/{id}/unclaim", tag = "tasks",
    params(("id" = String, Path, format = "uuid", description = "The task id")),
    responses(
        (status = 200, description = "The task, unassigned", body = TaskView),
        (status = 403, description = "`forbidden`: not the assignee", body = ErrorBody),
        (status = 404, description = "`task_not_found`", body = ErrorBody),
        (status = 409, description = "`task_not_active`", body = ErrorBody),
    ),
    security(("bearer" = [])),
)]
pub async fn unclaim_task(
    State(state): State<AppState>,
    caller: Caller,
    client: Client,
    Path(id): Path<String>,
) -> ApiResult<Json<TaskView>> {
    let id = task_id(&id)?;
    let a = access(&state, &caller, id).await?;
    if !a.assignee && !a.operator {
        return Err(forbidden(format!("only the assignee of task {id} (or an operator) may unclaim it")));
    }
    change(&state, &caller, &client, id, TaskChange::Unclaim, "task_unclaimed").await
}

/// Assigns a task to a user (`null`: nobody), whoever had it.
#[utoipa::path(
    post, path = "/api/v1/tasks/{id}/assign", tag = "tasks",
    params(("id" = String, Path, format = "uuid", description = "The task id")),
    request_body = TaskUserBody,
    responses(
        (status = 200, description = "The task, assigned", body = TaskView),
        (status = 404, description = "`task_not_found`", body = ErrorBody),
        (status = 409, description = "`task_not_active`", body = ErrorBody),
        (status = 422, description = "`validation_failed`: no such user", body = ErrorBody),
    ),
    security(("bearer" = [])),
)]
pub async fn assign_task(
    State(state): State<AppState>,
    caller: Caller,
    client: Client,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<TaskUserBody>,
) -> ApiResult<Json<TaskView>> {
    let id = task_id(&id)?;
    let user = match body.user.as_deref().map(str::trim).filter(|u| !u.is_empty()) {
        Some(u) => Some(known_user(&state, u).await?),
        None => None,
    };
    change(&state, &caller, &client, id, TaskChange::Assign(user), "task_assigned").await
}

/// The assignee hands the task to another user, who works it and resolves it back (Camunda's
/// delegation): the caller becomes its owner, `user` its assignee, `delegation` is `pending`.
#[utoipa::path(
    post, path = "/api/v1/tasks/{id}/delegate", tag = "tasks",
    params(("id" = String, Path, format = "uuid", description = "The task id")),
    request_body = TaskUserBody,
    responses(
        (status = 200, description = "The task, delegated", body = TaskView),
        (status = 403, description = "`forbidden`: not the assignee", body = ErrorBody),
        (status = 404, description = "`task_not_found`", body = ErrorBody),
        (status = 409, description = "`task_not_active`", body = ErrorBody),
        (status = 422, description = "`validation_failed`: no user, or no such user", body = ErrorBody),
    ),
    security(("bearer" = [])),
)]
pub async fn delegate_task(
    State(state): State<AppState>,
    caller: Caller,
    client: Client,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<TaskUserBody>,
) -> ApiResult<Json<TaskView>> {
    let id = task_id(&id)?;
    let a = access(&state, &caller, id).await?;
    if !a.assignee && !a.operator {
        return Err(forbidden(format!("only the assignee of task {id} (or an operator) may delegate it")));
    }
    let Some(to) = body.user.as_deref().map(str::trim).filter(|u| !u.is_empty()) else {
        return Err(ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed", "`user` is required")
            .with(Details::Field(Some("user".into()))));
    };
    let to = known_user(&state, to).await?;
    let by = caller.username.clone();
    change(&state, &caller, &client, id, TaskChange::Delegate { by, to }, "task_delegated").await
}

/// The delegate hands a delegated task back to its owner (`delegation` becomes `resolved`).
#[utoipa::path(
    post, path = "/api/v1/tasks/{id}/resolve", tag = "tasks",
    params(("id" = String, Path, format = "uuid", description = "The task id")),
    responses(
        (status = 200, description = "The task, back with its owner", body = TaskView),
        (status = 403, description = "`forbidden`: not the delegate", body = ErrorBody),
        (status = 404, description = "`task_not_found`", body = ErrorBody),
        (status = 409, description = "`task_not_delegated`, `task_not_active`", body = ErrorBody),
    ),
    security(("bearer" = [])),
)]
pub async fn resolve_task(
    State(state): State<AppState>,
    caller: Caller,
    client: Client,
    Path(id): Path<String>,
) -> ApiResult<Json<TaskView>> {
    let id = task_id(&id)?;
    let a = access(&state, &caller, id).await?;
    if !a.assignee && !a.operator {
        return Err(forbidden(format!("only the delegate of task {id} (or an operator) may resolve it")));
    }
    change(&state, &caller, &client, id, TaskChange::Resolve, "task_resolved").await
}

/// The username of an existing user, else 422.
async fn known_user(state: &AppState, username: &str) -> ApiResult<String> {
    let username = username.to_lowercase();
    if state.store().user_for_sign_in(&username).await?.is_none() {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
            format!("there is no user `{username}`"),
        )
        .with(Details::Field(Some("user".into()))));
    }
    Ok(username)
}
