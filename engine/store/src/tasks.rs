//! Tasks for people: listings by assignee, candidate, group and process, and the changes of
//! who works a task (claim, unclaim, assign, delegate, resolve). Completing a task is a step of
//! its Request and goes through `batch.rs`; these change only the task's row.

use crate::Error;
use crate::db::{Arg, args};
use crate::store::{Store, TASK_COLUMNS, task_row};
use crate::types::{RequestId, TaskId, TaskRow, TaskStatus, millis};

/// A person as a listing sees them: their username and groups.
#[derive(Clone, Copy, Debug)]
pub struct Viewer<'a> {
    pub username: &'a str,
    pub groups: &'a [String],
}

impl Viewer<'_> {
    /// Their keys in `task_candidates`.
    fn candidate_keys(&self) -> Vec<String> {
        let mut keys = vec![format!("u:{}", self.username)];
        keys.extend(self.groups.iter().map(|g| format!("g:{g}")));
        keys
    }
}

/// How a task listing is ordered.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TaskOrder {
    /// Oldest first.
    #[default]
    Created,
    /// Earliest due date first; tasks without one last.
    Due,
}

/// What a task listing asks for; every filter given must hold, except that `assignee` and
/// `candidate` together mean either (the caller's tasks and those they may claim).
#[derive(Clone, Debug, Default)]
pub struct TaskQuery<'a> {
    pub request: Option<RequestId>,
    pub status: Option<TaskStatus>,
    /// Tasks assigned to this username.
    pub assignee: Option<&'a str>,
    /// Open, unassigned tasks this person may claim (a candidate user, or in a candidate group).
    pub candidate: Option<Viewer<'a>>,
    /// Open tasks with this candidate group.
    pub group: Option<&'a str>,
    pub process: Option<&'a str>,
    pub order: TaskOrder,
    pub limit: Option<u32>,
    /// The `next_cursor` of the page before.
    pub cursor: Option<&'a str>,
    /// Only the tasks a participant may see: assigned to, delegated by, completed by them, of
    /// the Requests they started, or open with them among the candidates.
    pub visible_to: Option<Viewer<'a>>,
    /// Conditions on the data of the task's Request (`data.PATH…` of a search), all of which
    /// must hold.
    pub data: &'a [crate::search::DataCondition],
}

/// Who works a task, changed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TaskChange {
    /// The user takes an unassigned task (or one already theirs).
    Claim(String),
    /// The task is unassigned again.
    Unclaim,
    /// The task is assigned to this user (or to nobody).
    Assign(Option<String>),
    /// The assignee (`by`) hands the task to `to`, who resolves it back (Camunda's delegation):
    /// the owner becomes the assignee before the delegation, else `by`.
    Delegate { by: String, to: String },
    /// A delegated task goes back to its owner.
    Resolve,
}

/// Why a [`TaskChange`] was not made.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TaskRefusal {
    NotFound,
    /// The task is completed or canceled.
    NotActive,
    /// Someone else claimed it first.
    ClaimedBy(String),
    /// `Resolve` of a task that is not delegated.
    NotDelegated,
}

/// `$a, $b, …` for `n` placeholders after the first `from` (1-based).
fn placeholders(from: usize, n: usize) -> String {
    (from..from + n).map(|i| format!("${i}")).collect::<Vec<_>>().join(", ")
}

impl Store {
    /// A page of tasks and the cursor of the next (`<key>.<task id>`: the key is the created or
    /// due time in ms, `-` for a task without a due date).
    pub async fn list_tasks(&self, q: &TaskQuery<'_>) -> Result<(Vec<TaskRow>, Option<String>), Error> {
        if let Some(v) = &q.candidate
            && q.data.is_empty()
            && q.assignee.is_none()
            && q.group.is_none()
            && q.process.is_none()
            && q.request.is_none()
            && q.order == TaskOrder::Created
            && matches!(q.status, None | Some(TaskStatus::Active))
        {
            return self.claimable(v, q.limit, q.cursor).await;
        }
        let mut sql = format!("SELECT {TASK_COLUMNS} FROM tasks WHERE 1 = 1");
        let mut a: Vec<Arg> = args![];
        let push = |a: &mut Vec<Arg>, v: Arg| {
            a.push(v);
            a.len()
        };
        let candidates_in = |a: &mut Vec<Arg>, viewer: &Viewer<'_>| {
            let keys = viewer.candidate_keys();
            let from = a.len() + 1;
            let n = keys.len();
            a.extend(keys.into_iter().map(Arg::from));
            format!("id IN (SELECT task_id FROM task_candidates WHERE candidate IN ({}))", placeholders(from, n))
        };
        if let Some(v) = &q.visible_to {
            let u = push(&mut a, v.username.into());
            let cand = candidates_in(&mut a, v);
            sql.push_str(&format!(
                " AND (assignee = ${u} OR completed_by = ${u} OR owner = ${u}
                       OR request_id IN (SELECT id FROM requests WHERE started_by = ${u}) OR {cand})"
            ));
        }
        match (q.assignee, &q.candidate) {
            (Some(user), Some(v)) => {
                let u = push(&mut a, user.into());
                let cand = candidates_in(&mut a, v);
                sql.push_str(&format!(" AND (assignee = ${u} OR (status = 'active' AND assignee IS NULL AND {cand}))"));
            }
            (Some(user), None) => {
                let u = push(&mut a, user.into());
                sql.push_str(&format!(" AND assignee = ${u}"));
            }
            (None, Some(v)) => {
                let cand = candidates_in(&mut a, v);
                sql.push_str(&format!(" AND status = 'active' AND assignee IS NULL AND {cand}"));
            }
            (None, None) => {}
        }
        if let Some(g) = q.group {
            let i = push(&mut a, format!("g:{g}").into());
            sql.push_str(&format!(" AND id IN (SELECT task_id FROM task_candidates WHERE candidate = ${i})"));
        }
        if let Some(r) = q.request {
            let i = push(&mut a, r.to_string().into());
            sql.push_str(&format!(" AND request_id = ${i}"));
        }
        if let Some(s) = q.status {
            let i = push(&mut a, s.as_str().into());
            sql.push_str(&format!(" AND status = ${i}"));
        }
        if let Some(p) = q.process {
            let i = push(&mut a, p.into());
            sql.push_str(&format!(" AND process_key = ${i}"));
        }
        if !q.data.is_empty() {
            let mut conditions = String::new();
            let postgres = self.backend() == crate::Backend::Postgres;
            crate::search::push_conditions(q.data, postgres, &mut conditions, &mut a)?;
            sql.push_str(&format!(" AND request_id IN (SELECT id FROM requests WHERE 1 = 1{conditions})"));
        }
        if let Some(cursor) = q.cursor {
            let bad = || Error::BadCursor(cursor.to_string());
            let (key, id) = cursor.split_once('.').ok_or_else(bad)?;
            let id = id.parse::<TaskId>().map_err(|_| bad())?;
            let key = if key == "-" { None } else { Some(key.parse::<i64>().map_err(|_| bad())?) };
            let col = match q.order {
                TaskOrder::Created => "created_at",
                TaskOrder::Due => "due_at",
            };
            match key {
                Some(k) => {
                    let ki = push(&mut a, k.into());
                    let ii = push(&mut a, id.to_string().into());
                    let nulls = if q.order == TaskOrder::Due { format!(" OR {col} IS NULL") } else { String::new() };
                    sql.push_str(&format!(" AND ({col} > ${ki} OR ({col} = ${ki} AND id > ${ii}){nulls})"));
                }
                None if q.order == TaskOrder::Due => {
                    let ii = push(&mut a, id.to_string().into());
                    sql.push_str(&format!(" AND {col} IS NULL AND id > ${ii}"));
                }
                None => return Err(bad()),
            }
        }
        sql.push_str(match q.order {
            TaskOrder::Created => " ORDER BY created_at, id",
            TaskOrder::Due => " ORDER BY due_at IS NULL, due_at, id",
        });
        if let Some(limit) = q.limit {
            let i = push(&mut a, (i64::from(limit.max(1)) + 1).into());
            sql.push_str(&format!(" LIMIT ${i}"));
        }
        self.page(&sql, a, q.limit, q.order).await
    }

    /// What `candidate=me` lists, oldest first: the first `limit` of each of the person's keys in
    /// `task_candidates` (each an ordered range of its primary key), merged and cut to `limit`.
    /// Its cost grows with the page and the person's groups, not with the number of tasks.
    async fn claimable(
        &self,
        v: &Viewer<'_>,
        limit: Option<u32>,
        cursor: Option<&str>,
    ) -> Result<(Vec<TaskRow>, Option<String>), Error> {
        let mut a: Vec<Arg> = args![];
        let after = match cursor {
            Some(cursor) => {
                let bad = || Error::BadCursor(cursor.to_string());
                let (key, id) = cursor.split_once('.').ok_or_else(bad)?;
                let id = id.parse::<TaskId>().map_err(|_| bad())?;
                let key = key.parse::<i64>().map_err(|_| bad())?;
                a.push(key.into());
                a.push(id.to_string().into());
                " AND created_at >= $1 AND (created_at > $1 OR task_id > $2)"
            }
            None => "",
        };
        let take = limit.map_or(i64::MAX, |l| i64::from(l.max(1)) + 1);
        a.push(take.into());
        let lim = a.len();
        let arms: Vec<String> = v
            .candidate_keys()
            .into_iter()
            .enumerate()
            .map(|(i, key)| {
                a.push(key.into());
                format!(
                    "SELECT task_id FROM (SELECT task_id FROM task_candidates WHERE candidate = ${}{after}
                     ORDER BY created_at, task_id LIMIT ${lim}) AS k{i}",
                    a.len()
                )
            })
            .collect();
        // From the few candidate rows to the tasks by primary key, in that order whatever the
        // planner's statistics say (without them, both databases would rather scan every active
        // task): SQLite keeps the order of a `CROSS JOIN`; PostgreSQL cannot turn a `LATERAL`
        // subquery behind `OFFSET 0` around.
        let columns = TASK_COLUMNS.split(", ").map(|c| format!("t.{c}")).collect::<Vec<_>>().join(", ");
        let tasks = match self.backend() {
            crate::Backend::Sqlite => "CROSS JOIN tasks AS t WHERE t.id = c.task_id AND".to_string(),
            crate::Backend::Postgres => {
                format!(
                    "CROSS JOIN LATERAL (SELECT {TASK_COLUMNS} FROM tasks WHERE id = c.task_id OFFSET 0) AS t WHERE"
                )
            }
        };
        let sql = format!(
            "SELECT {columns} FROM ({}) AS c {tasks} t.status = 'active' AND t.assignee IS NULL
             ORDER BY t.created_at, t.id LIMIT ${lim}",
            arms.join(" UNION ")
        );
        self.page(&sql, a, limit, TaskOrder::Created).await
    }

    /// Runs a listing and cuts it to `limit`, with the cursor of the next page.
    async fn page(
        &self,
        sql: &str,
        a: Vec<Arg>,
        limit: Option<u32>,
        order: TaskOrder,
    ) -> Result<(Vec<TaskRow>, Option<String>), Error> {
        let mut tx = self.begin_read().await?;
        let rows = tx.conn().fetch_all(sql, a).await?;
        let mut tasks = rows.iter().map(task_row).collect::<Result<Vec<_>, _>>()?;
        let next = match limit {
            Some(limit) if tasks.len() > limit.max(1) as usize => {
                tasks.truncate(limit.max(1) as usize);
                tasks.last().map(|t| {
                    let key = match order {
                        TaskOrder::Created => millis(t.created_at).to_string(),
                        TaskOrder::Due => t.due.map_or_else(|| "-".to_string(), |d| millis(d).to_string()),
                    };
                    format!("{key}.{}", t.id)
                })
            }
            _ => None,
        };
        Ok((tasks, next))
    }

    /// Changes who works an active task; the task as it is now, or why not.
    pub async fn change_task(&self, id: TaskId, change: &TaskChange) -> Result<Result<TaskRow, TaskRefusal>, Error> {
        let (set, guard, mut a): (&str, &str, Vec<Arg>) = match change {
            TaskChange::Claim(user) => {
                ("assignee = $2", " AND (assignee IS NULL OR assignee = $2)", args![id.to_string(), user.as_str()])
            }
            TaskChange::Unclaim => ("assignee = NULL, delegation = NULL, owner = NULL", "", args![id.to_string()]),
            TaskChange::Assign(user) => {
                ("assignee = $2, delegation = NULL, owner = NULL", "", args![id.to_string(), user.as_deref()])
            }
            TaskChange::Delegate { by, to } => (
                "owner = COALESCE(assignee, $2), assignee = $3, delegation = 'pending'",
                "",
                args![id.to_string(), by.as_str(), to.as_str()],
            ),
            TaskChange::Resolve => {
                ("assignee = owner, delegation = 'resolved'", " AND delegation = 'pending'", args![id.to_string()])
            }
        };
        let sql = format!("UPDATE tasks SET {set} WHERE id = $1 AND status = 'active'{guard} RETURNING {TASK_COLUMNS}");
        let mut tx = self.begin_write().await?;
        let row = tx.conn().fetch_optional(&sql, std::mem::take(&mut a)).await?;
        let out = match row {
            Some(r) => {
                let t = task_row(&r)?;
                // `task_candidates` holds the claimable: none while someone has the task.
                let mut c = tx.conn();
                c.execute("DELETE FROM task_candidates WHERE task_id = $1", args![t.id.to_string()]).await?;
                if t.assignee.is_none() {
                    let users = t.candidate_users.iter().map(|u| format!("u:{u}"));
                    for key in users.chain(t.candidate_groups.iter().map(|g| format!("g:{g}"))) {
                        c.execute(
                            "INSERT INTO task_candidates (candidate, created_at, task_id, request_id, token)
                             VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
                            args![
                                key,
                                millis(t.created_at),
                                t.id.to_string(),
                                t.request_id.to_string(),
                                i64::from(t.token.0)
                            ],
                        )
                        .await?;
                    }
                }
                Ok(t)
            }
            None => {
                let sql = format!("SELECT {TASK_COLUMNS} FROM tasks WHERE id = $1");
                match tx.conn().fetch_optional(&sql, args![id.to_string()]).await? {
                    None => Err(TaskRefusal::NotFound),
                    Some(r) => {
                        let t = task_row(&r)?;
                        if t.status != TaskStatus::Active {
                            Err(TaskRefusal::NotActive)
                        } else if matches!(change, TaskChange::Resolve) {
                            Err(TaskRefusal::NotDelegated)
                        } else {
                            Err(TaskRefusal::ClaimedBy(t.assignee.unwrap_or_default()))
                        }
                    }
                }
            }
        };
        tx.commit().await?;
        Ok(out)
    }
}
