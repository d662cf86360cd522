//! The command line: `sluice check` and `sluice run`.

use std::collections::HashMap;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, bail};
use chrono::{DateTime, SubsecRound, Utc};
use clap::{Parser, Subcommand};
use serde_json::{Value, json};
use sluice_bpmn::{ElementIdx, Kind, Options, Process, Source, Timer, TimerSpec, Trigger};
use sluice_engine::Status;
use sluice_engine::sim::{ConnectorHost, ConnectorInvocation, ConnectorOutcome, Sim};

#[derive(Parser, Debug)]
#[command(name = "sluice", version, about = "A BPMN 2.0 process engine")]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Validate BPMN files; prints one line per problem and exits 1 when any file is invalid.
    Check {
        /// The files, checked together so call activities resolve across them.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Run one Request in memory with a virtual clock and print its trace as JSON lines.
    Run {
        file: PathBuf,
        /// The Request's start data, a JSON object.
        #[arg(long)]
        data: Option<String>,
        /// The process to start, when the file holds several executable ones.
        #[arg(long)]
        process: Option<String>,
        /// Data a user task is completed with: ELEMENT=JSON (repeatable).
        #[arg(long = "task-data", value_name = "ELEMENT=JSON")]
        task_data: Vec<String>,
        /// Start through this start event (a message, signal or timer start); a timer start
        /// moves the virtual clock to its first due time. Default: the none start event.
        #[arg(long, value_name = "ELEMENT")]
        start: Option<String>,
        /// Complete connector tasks with `{}` instead of calling the connector.
        #[arg(long)]
        stub_connectors: bool,
        /// The virtual clock's start (RFC 3339); defaults to now.
        #[arg(long)]
        clock: Option<DateTime<Utc>>,
    },
}

pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Check { files } => check(&files),
        Command::Run { file, data, process, task_data, start, stub_connectors, clock } => {
            let opts = RunOptions { process, task_data, start, stub: stub_connectors, clock };
            dry_run(&file, data.as_deref(), &opts)
        }
    }
}

fn check(files: &[PathBuf]) -> anyhow::Result<ExitCode> {
    let mut contents = Vec::new();
    let mut ok = true;
    for f in files {
        match std::fs::read(f) {
            Ok(bytes) => contents.push((f.display().to_string(), bytes)),
            Err(e) => {
                println!("{}:1:1: error[unreadable-file]: {e}", f.display());
                ok = false;
            }
        }
    }
    let sources: Vec<Source<'_>> = contents.iter().map(|(name, bytes)| Source { name, bytes }).collect();
    let imported = sluice_bpmn::import(&sources, &Options::default());
    let mut stdout = std::io::stdout().lock();
    for d in &imported.diagnostics {
        writeln!(stdout, "{d}")?;
    }
    ok &= !imported.has_errors();
    Ok(if ok { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

/// Connector tasks in a dry run: no connector is compiled into this build yet, so each call
/// either completes with `{}` (with `--stub-connectors`) or raises an incident that says so.
struct DryRunConnectors {
    stub: bool,
}

impl ConnectorHost for DryRunConnectors {
    fn invoke(&mut self, call: ConnectorInvocation<'_>) -> ConnectorOutcome {
        if self.stub {
            ConnectorOutcome::Completed(Value::Object(Default::default()))
        } else {
            ConnectorOutcome::Failed(format!(
                "no connector `{}` is registered in this build (run with --stub-connectors to skip connector calls)",
                call.call.connector
            ))
        }
    }
}

struct RunOptions {
    process: Option<String>,
    task_data: Vec<String>,
    start: Option<String>,
    stub: bool,
    clock: Option<DateTime<Utc>>,
}

fn dry_run(file: &PathBuf, data: Option<&str>, opts: &RunOptions) -> anyhow::Result<ExitCode> {
    let (process, task_data, stub, clock) = (opts.process.as_deref(), &opts.task_data, opts.stub, opts.clock);
    let bytes = std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
    let name = file.display().to_string();
    let imported = sluice_bpmn::import(&[Source { name: &name, bytes: &bytes }], &Options::default());
    if imported.has_errors() {
        for d in &imported.diagnostics {
            eprintln!("{d}");
        }
        bail!("{name} is not a valid model");
    }
    let data = match data {
        Some(s) => match serde_json::from_str::<Value>(s).context("--data is not JSON")? {
            Value::Object(m) => m,
            _ => bail!("--data must be a JSON object"),
        },
        None => Default::default(),
    };
    let mut per_task: HashMap<String, serde_json::Map<String, Value>> = HashMap::new();
    for td in task_data {
        let (el, js) = td.split_once('=').with_context(|| format!("--task-data `{td}` is not ELEMENT=JSON"))?;
        match serde_json::from_str::<Value>(js).with_context(|| format!("--task-data for `{el}` is not JSON"))? {
            Value::Object(m) => per_task.insert(el.to_string(), m),
            _ => bail!("--task-data for `{el}` must be a JSON object"),
        };
    }
    let processes: Vec<Arc<Process>> = imported.definitions.processes.clone();
    let key = match process {
        Some(k) => k.to_string(),
        None => main_process(&processes).context("the file has no executable process")?,
    };
    let mut sim = Sim::new(processes.clone(), clock.unwrap_or_else(|| Utc::now().trunc_subsecs(0)));
    let mut connectors = DryRunConnectors { stub };
    let root = match &opts.start {
        None => sim.start(&key, data)?,
        Some(id) => {
            let p =
                processes.iter().find(|p| p.key == key).with_context(|| format!("no process `{key}` in the file"))?;
            if let Some(due) = p.element_by_id(id).and_then(|e| first_due_of_timer_start(p, e, sim.now())) {
                sim.advance_to(due, &mut connectors);
            }
            sim.start_event(&key, id, data)?
        }
    };
    let mut printed = 0;
    let mut stdout = std::io::stdout().lock();
    // Bounded, so an endless timer cycle cannot keep a dry run going forever.
    for _ in 0..10_000 {
        sim.settle(&mut connectors);
        for line in &sim.trace()[printed..] {
            writeln!(stdout, "{line}")?;
        }
        printed = sim.trace().len();
        if let Some((r, t)) = sim.tasks().into_iter().next() {
            let el = sim.element_id(r, &t);
            let d = per_task.get(&el).cloned().unwrap_or_default();
            sim.complete_task(r, t.token, d)?;
            continue;
        }
        if sim.instance(root).is_none_or(|i| i.status() != Status::Active) {
            break;
        }
        match sim.next_timer() {
            Some(due) => sim.advance_to(due, &mut connectors),
            None => break,
        }
    }
    sim.settle(&mut connectors);
    for line in &sim.trace()[printed..] {
        writeln!(stdout, "{line}")?;
    }
    let inst = sim.instance(root).context("the Request vanished")?;
    let p = sim.process_of(root).context("the Request vanished")?;
    let status = match inst.status() {
        Status::Completed => "completed",
        Status::Canceled => "canceled",
        Status::Active if !inst.incidents().is_empty() => "error",
        Status::Active => "active",
    };
    let incidents: Vec<Value> = inst
        .incidents()
        .iter()
        .map(|i| json!({"element_id": p.element(i.element).id, "code": i.code, "message": i.message}))
        .collect();
    let last = json!({"event": "request_finished", "status": status, "data": inst.data(), "incidents": incidents});
    writeln!(stdout, "{last}")?;
    Ok(if inst.status() == Status::Completed { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

/// The executable process no other process of the file calls: the one a person would start.
fn main_process(processes: &[Arc<Process>]) -> Option<String> {
    let called: Vec<&str> = processes
        .iter()
        .flat_map(|p| p.elements.iter())
        .filter_map(|e| match &e.kind {
            Kind::CallActivity(c) => Some(c.called_element.as_str()),
            _ => None,
        })
        .collect();
    let exec = processes.iter().filter(|p| p.executable);
    let mut candidates = exec.clone().filter(|p| !called.contains(&p.key.as_str()));
    candidates.next().or_else(|| processes.iter().find(|p| p.executable)).map(|p| p.key.clone())
}

/// When a timer start event first comes due, counted from `now`.
fn first_due_of_timer_start(p: &Process, e: ElementIdx, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let Kind::StartEvent { trigger: Trigger::Timer(Timer::Fixed(spec)), .. } = &p.element(e).kind else {
        return None;
    };
    match spec {
        TimerSpec::Duration(d) => d.add_to(now),
        TimerSpec::Date(d) => Some(*d),
        TimerSpec::Cycle(c) => c.due(now, 0),
    }
}
