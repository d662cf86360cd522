//! `sluice export`: finished Requests with their whole history as JSON lines, oldest finish
//! first, one Request a line: `{"request": {…}, "events": [{"at", "type", "element_id", …}]}`,
//! the same shapes as the API's. With `--prune`, each batch is deleted once it is written and
//! flushed to disk, so a Request is never pruned before its line is safely out.

use std::fs::OpenOptions;
use std::io::Write;
use std::process::ExitCode;

use anyhow::Context;
use chrono::Utc;
use serde_json::{Map, Value, json};
use sluice_store::{EventRow, RequestRow, Store, StoreOptions};

use crate::api::time;
use crate::config::ExportArgs;

pub fn run(args: &ExportArgs) -> anyhow::Result<ExitCode> {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().context("cannot start a runtime")?;
    rt.block_on(export(args))
}

async fn export(args: &ExportArgs) -> anyhow::Result<ExitCode> {
    let before = match (args.finished_before, args.older_than_days) {
        (Some(t), _) => t,
        (None, Some(days)) => Utc::now() - chrono::Duration::days(i64::from(days)),
        (None, None) => anyhow::bail!("give --finished-before or --older-than-days"),
    };
    let store = Store::open(args.database_url.expose(), StoreOptions::default()).await?;
    let mut file = match &args.out {
        Some(path) => Some(
            OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .with_context(|| format!("cannot open {}", path.display()))?,
        ),
        None => None,
    };
    let stdout = std::io::stdout();
    let (mut requests, mut events, mut pruned) = (0u64, 0u64, 0u64);
    let mut last: Option<RequestRow> = None;
    loop {
        let page = store.finished_requests(before, args.batch, last.as_ref()).await?;
        if page.is_empty() {
            break;
        }
        let mut lines = Vec::new();
        for r in &page {
            let history = store.request_events(r.id).await?;
            events += history.len() as u64;
            let line =
                json!({"request": request_json(r), "events": history.into_iter().map(event_json).collect::<Vec<_>>()});
            serde_json::to_writer(&mut lines, &line)?;
            lines.push(b'\n');
        }
        match file.as_mut() {
            Some(f) => {
                f.write_all(&lines).context("cannot write the export")?;
                // On disk before anything is deleted.
                f.sync_data().context("cannot flush the export to disk")?;
            }
            None => {
                let mut out = stdout.lock();
                out.write_all(&lines).context("cannot write the export")?;
                out.flush()?;
            }
        }
        requests += page.len() as u64;
        if args.prune {
            let ids: Vec<_> = page.iter().map(|r| r.id).collect();
            pruned += store.prune_requests(&ids).await?.requests;
        }
        last = page.into_iter().last();
    }
    if args.prune {
        eprintln!("exported {requests} Requests ({events} history events); pruned {pruned}");
    } else {
        eprintln!("exported {requests} Requests ({events} history events)");
    }
    Ok(ExitCode::SUCCESS)
}

fn request_json(r: &RequestRow) -> Value {
    json!({
        "id": r.id.to_string(),
        "process_key": r.process_key,
        "process_version": r.process_version,
        "status": r.status.as_str(),
        "data": r.data,
        "created_at": time(r.created_at),
        "completed_at": r.completed_at.map(time),
        "started_by": r.started_by,
        "parent_request_id": r.parent.map(|(id, _)| id.to_string()),
    })
}

/// An event as `GET /api/v1/requests/{id}/events` shows it.
fn event_json(e: EventRow) -> Value {
    let mut out = Map::new();
    out.insert("at".into(), Value::String(time(e.at)));
    out.insert("type".into(), Value::String(e.kind));
    out.insert("element_id".into(), e.element_id.map_or(Value::Null, Value::String));
    if let Value::Object(payload) = e.payload {
        for (k, v) in payload {
            out.entry(k).or_insert(v);
        }
    }
    Value::Object(out)
}
