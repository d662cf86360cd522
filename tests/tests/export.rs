//! `sluice export` on SQLite and PostgreSQL, beside a running server: finished Requests with
//! their whole history as JSON lines, oldest finish first; open Requests are never exported or
//! pruned; `--prune` deletes exactly what it wrote, so a second run exports nothing; without
//! `--prune` nothing is deleted; a bad argument is refused with a message and exit code 2.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::{Value, json};
use sluice_tests::db::Db;
use sluice_tests::server::{Api, Serve, ServeConfig};
use sluice_tests::{scratch_dir, sluice_bin};

/// `quick` ends at once; `held` waits at a user task.
const MODEL: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<definitions xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL" id="defs" targetNamespace="urn:export">
<process id="quick" isExecutable="true">
  <startEvent id="s"/>
  <sequenceFlow id="f1" sourceRef="s" targetRef="e"/>
  <endEvent id="e"/>
</process>
<process id="held" isExecutable="true">
  <startEvent id="hs"/>
  <sequenceFlow id="g1" sourceRef="hs" targetRef="wait"/>
  <userTask id="wait"/>
  <sequenceFlow id="g2" sourceRef="wait" targetRef="he"/>
  <endEvent id="he"/>
</process>
</definitions>"#;

fn start(api: &Api, process: &str, n: i64) -> Value {
    let (status, r) =
        api.post_json(&format!("/api/v1/processes/{process}/requests"), &json!({"data": {"n": n}})).unwrap();
    assert_eq!(status, 201, "{r}");
    r
}

/// Runs `sluice export` with these arguments against the database; returns (exit code, stdout, stderr).
fn export(db: &Db, args: &[&str]) -> (i32, String, String) {
    let out = std::process::Command::new(sluice_bin())
        .arg("export")
        .args(args)
        .env("SLUICE_DATABASE_URL", db.url())
        .output()
        .unwrap();
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (out.status.code().unwrap_or(-1), text(&out.stdout), text(&out.stderr))
}

fn lines(text: &str) -> Vec<Value> {
    text.lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

fn run(name: &str, db: &Db) {
    let config = ServeConfig { database_url: db.url(), log_dir: db.log_dir(name), env: vec![], address_space: None };
    let serve = Serve::start(&config, name);
    let api = serve.api();
    let (status, d) = api.deploy(MODEL.as_bytes()).unwrap();
    assert_eq!(status, 201, "{d}");
    let finished: Vec<String> = (0..5)
        .map(|n| {
            let r = start(&api, "quick", n);
            assert_eq!(r["status"], "completed", "{r}");
            r["id"].as_str().unwrap().to_string()
        })
        .collect();
    let open = start(&api, "held", 99);
    let open_id = open["id"].as_str().unwrap();
    let later = (chrono::Utc::now() + chrono::Duration::minutes(1)).to_rfc3339();

    // Without --prune, to standard output: every finished Request, oldest finish first, whole.
    let (code, out, err) = export(db, &["--finished-before", &later]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("exported 5 Requests"), "{err}");
    let exported = lines(&out);
    let ids: Vec<&str> = exported.iter().map(|l| l["request"]["id"].as_str().unwrap()).collect();
    assert_eq!(ids, finished.iter().map(String::as_str).collect::<Vec<_>>());
    let first = &exported[0];
    assert_eq!(
        (&first["request"]["process_key"], &first["request"]["status"], &first["request"]["data"]),
        (&json!("quick"), &json!("completed"), &json!({"n": 0}))
    );
    let types: Vec<&str> = first["events"].as_array().unwrap().iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(types.first(), Some(&"request_started"), "{first}");
    assert_eq!(types.last(), Some(&"request_completed"), "{first}");
    assert!(first["events"][0]["at"].as_str().unwrap().ends_with('Z'), "{first}");
    // The same history the API gives.
    let (_, history) = api.get(&format!("/api/v1/requests/{}/events", finished[0])).unwrap();
    assert_eq!(history["events"], first["events"]);
    // Nothing was deleted.
    assert_eq!(api.get(&format!("/api/v1/requests/{}", finished[0])).unwrap().0, 200);

    // A cut-off before them all exports nothing.
    let (code, out, _) = export(db, &["--finished-before", "2000-01-01T00:00:00Z"]);
    assert_eq!((code, out.as_str()), (0, ""));

    // --prune to a file, in batches of two: written, then deleted; the open Request stays.
    let dir = scratch_dir(name);
    let file = dir.join("archive.jsonl");
    let file_arg = file.to_str().unwrap();
    let (code, _, err) = export(db, &["--finished-before", &later, "--out", file_arg, "--prune", "--batch", "2"]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("exported 5 Requests") && err.contains("pruned 5"), "{err}");
    let archived = lines(&std::fs::read_to_string(&file).unwrap());
    assert_eq!(archived, exported);
    for id in &finished {
        let (status, r) = api.get(&format!("/api/v1/requests/{id}")).unwrap();
        assert_eq!(status, 404, "{r}");
    }
    let (status, r) = api.get(&format!("/api/v1/requests/{open_id}")).unwrap();
    assert_eq!((status, &r["status"]), (200, &json!("active")), "{r}");
    // Again: nothing left to export; the file is appended to, not overwritten.
    let (code, _, err) = export(db, &["--older-than-days", "0", "--out", file_arg, "--prune"]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("exported 0 Requests"), "{err}");
    assert_eq!(lines(&std::fs::read_to_string(&file).unwrap()).len(), 5);

    // Bad arguments: refused by the command line, nothing done.
    let (code, _, err) = export(db, &[]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--finished-before") || err.contains("--older-than-days"), "{err}");
    let (code, _, err) = export(db, &["--finished-before", "yesterday"]);
    assert_eq!(code, 2, "{err}");
    drop(serve);
}

#[test]
fn finished_requests_are_exported_as_json_lines_then_pruned_on_sqlite() {
    let name = "export-sqlite";
    run(name, &Db::sqlite(name));
}

#[test]
fn finished_requests_are_exported_as_json_lines_then_pruned_on_postgres() {
    let Some(db) = Db::postgres("export::finished_requests_are_exported_as_json_lines_then_pruned_on_postgres") else {
        return;
    };
    run("export-postgres", &db);
}
