//! The command line: `sluice check`, `sluice run`, `sluice feel`, `sluice serve` and the others
//! (`export`, `templates`, `new-connector`).

use std::collections::HashMap;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use chrono::{DateTime, SubsecRound, Utc};
use clap::{Parser, Subcommand};
use serde_json::{Value, json};
use sluice_bpmn::{ElementIdx, Kind, Options, Process, Source, Timer, TimerSpec, Trigger};
use sluice_connector_api::{IdempotencyKey, Registry, Secret, Secrets};
use sluice_engine::Status;
use sluice_engine::sim::{ConnectorHost, ConnectorInvocation, ConnectorOutcome, Sim};
use sluice_worker::secrets::{invoke_task, secrets_named};
use sluice_worker::{Catalog, ConnectorVerdict, JobTypes};

use crate::config::{ConnectorArgs, ExportArgs, FeelArgs, JobTypeArgs, LimitArgs, ServeArgs};
use crate::connectors;

#[derive(Parser, Debug)]
#[command(name = "sluice", version, about = "A BPMN 2.0 process engine")]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

impl Cli {
    /// `sluice serve`: the one subcommand that logs through `tracing`.
    /// The log format of a command that logs (`serve`); `None` for the others.
    pub fn log_format(&self) -> Option<crate::logs::LogFormat> {
        match &self.command {
            Command::Serve(a) => Some(a.log_format),
            _ => None,
        }
    }
}

// Parsed once per process: the size of the larger variant does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand, Debug)]
enum Command {
    /// Run the engine and the HTTP API until SIGINT/SIGTERM.
    Serve(ServeArgs),
    /// Validate BPMN and DMN files; prints one line per problem and exits 1 when any file is
    /// invalid.
    Check {
        /// The files, checked together so call activities and business rule tasks resolve across
        /// them.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        #[command(flatten)]
        job_types: JobTypeArgs,
    },
    /// Evaluate one FEEL expression as a condition would (the data as its context, `now()` the
    /// current time) and print the result as one JSON value; a problem goes to stderr with its
    /// column, exit 1.
    Feel(FeelArgs),
    /// Write finished Requests with their history as JSON lines (one Request a line), oldest
    /// first, and with `--prune` delete them once written: history kept outside before pruning.
    Export(ExportArgs),
    /// Write element templates for Camunda Modeler (Camunda 8 and Camunda 7), one file per
    /// dialect, made from the connectors' JSON Schemas.
    Templates {
        /// The folder to write them to (created if missing), e.g. Camunda Modeler's
        /// `resources/element-templates`.
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
    },
    /// Write a new connector crate (a task type in Rust) that builds and passes its test as it
    /// is, and print the files to touch to register it (docs/connector-guide.md).
    NewConnector {
        /// The connector's type (`implementation="NAME"`), also its crate's name
        /// (`sluice-connector-NAME`): lower-case letters, digits and `-`.
        name: String,
        /// The folder to create; default `connectors/NAME`.
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
        /// The checkout's `connectors/api` folder, for a crate written outside a Sluice checkout
        /// (default: where this binary was built from).
        #[arg(long, value_name = "DIR")]
        api: Option<PathBuf>,
    },
    /// Run one Request in memory with a virtual clock and print its trace as JSON lines.
    Run {
        file: PathBuf,
        /// More BPMN files whose processes the model calls (call activities), imported with it, and
        /// DMN files whose decisions its business rule tasks evaluate.
        #[arg(long = "with", value_name = "FILE")]
        with: Vec<PathBuf>,
        /// The Request's start data, a JSON object, or `@FILE` to read it from a file.
        #[arg(long, value_name = "JSON|@FILE")]
        data: Option<String>,
        /// The process to start, when the file holds several executable ones.
        #[arg(long)]
        process: Option<String>,
        /// Data a user task is completed with: ELEMENT=JSON or ELEMENT=@FILE (repeatable).
        #[arg(long = "task-data", value_name = "ELEMENT=JSON|@FILE")]
        task_data: Vec<String>,
        /// Start through this start event (a message, signal or timer start); a timer start
        /// moves the virtual clock to its first due time. Default: the none start event.
        #[arg(long, value_name = "ELEMENT")]
        start: Option<String>,
        /// Complete connector tasks with `{}` instead of calling the connector.
        #[arg(long)]
        stub_connectors: bool,
        /// What a job task (a type for workers, see `--job-types`) completes with in a dry run:
        /// ELEMENT=JSON or ELEMENT=@FILE (repeatable), merged into the data as a worker's
        /// completion. A job task without one completes with no data.
        #[arg(long = "job-result", value_name = "ELEMENT=JSON|@FILE")]
        job_result: Vec<String>,
        #[command(flatten)]
        job_types: JobTypeArgs,
        /// Base of the links connectors place in messages (`{{ request.url }}` is
        /// `<PUBLIC_URL>/requests/dry-run` in a dry run).
        #[arg(long, env = "SLUICE_PUBLIC_URL", default_value = "http://127.0.0.1:8080")]
        public_url: String,
        /// The virtual clock's start (RFC 3339); defaults to now.
        #[arg(long)]
        clock: Option<DateTime<Utc>>,
        #[command(flatten)]
        connectors: ConnectorArgs,
        #[command(flatten)]
        limits: LimitArgs,
    },
}

pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Serve(args) => crate::serve::run(args),
        Command::Check { files, job_types } => check(&files, &job_types.job_types()),
        Command::Feel(args) => feel(&args),
        Command::Export(args) => crate::export::run(&args),
        Command::Templates { out } => templates(&out),
        Command::NewConnector { name, out, api } => crate::scaffold::run(&name, out.as_deref(), api.as_deref()),
        Command::Run {
            file,
            with,
            data,
            process,
            task_data,
            start,
            stub_connectors,
            job_result,
            job_types,
            public_url,
            clock,
            connectors,
            limits,
        } => {
            limits.apply();
            let opts = RunOptions {
                with,
                process,
                task_data,
                start,
                stub: stub_connectors,
                public_url,
                clock,
                connectors,
                job_results: job_result,
                job_types: job_types.job_types(),
            };
            dry_run(&file, data.as_deref(), &opts)
        }
    }
}

/// `sluice templates --out DIR`.
fn templates(out: &std::path::Path) -> anyhow::Result<ExitCode> {
    let registry = connectors::registry(&ConnectorArgs::default())?;
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    for dialect in crate::templates::Dialect::ALL {
        let path = out.join(dialect.file_name());
        let templates = crate::templates::element_templates(&registry.list(), dialect);
        let text = serde_json::to_string_pretty(&templates)?;
        std::fs::write(&path, text + "\n").with_context(|| format!("cannot write {}", path.display()))?;
        println!("{}", path.display());
    }
    Ok(ExitCode::SUCCESS)
}

/// `sluice feel EXPRESSION [--data JSON]`.
fn feel(args: &FeelArgs) -> anyhow::Result<ExitCode> {
    args.limits.apply();
    let data = match args.data.as_deref() {
        None => Value::Object(serde_json::Map::new()),
        Some(text) => Value::Object(json_object(text, "--data")?),
    };
    let src = &args.expression;
    // Columns count characters from 1; an offset past the end points just after the text.
    let column = |offset: usize| src.get(..offset.min(src.len())).map_or(1, |s| s.chars().count() + 1);
    let expr = match sluice_feel::Expression::parse(src) {
        Ok(e) => e,
        Err(e) => {
            eprintln!("error at column {}: {}", column(e.offset), e.message);
            return Ok(ExitCode::FAILURE);
        }
    };
    let now = args.now.unwrap_or_else(Utc::now);
    match expr.eval(&sluice_feel::WithNow { vars: &data, now }) {
        Ok(v) => {
            println!("{v}");
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            // An error no operation claims is the whole expression's: its first column.
            let at = e.offset.unwrap_or(src.len() - src.trim_start().len());
            eprintln!("error at column {}: {}", column(at), e.message);
            Ok(ExitCode::FAILURE)
        }
    }
}

fn check(files: &[PathBuf], job_types: &JobTypes) -> anyhow::Result<ExitCode> {
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
    let (bpmn, dmn) = split_dmn(&contents);
    let mut stdout = std::io::stdout().lock();
    let mut decision_ids = Vec::new();
    for file in &dmn {
        for d in &file.diagnostics {
            writeln!(stdout, "{d}")?;
        }
        ok &= !file.diagnostics.iter().any(sluice_bpmn::Diagnostic::is_error);
        decision_ids.extend(file.definitions.iter().flat_map(|d| d.decisions()).map(|d| d.id));
    }
    let sources: Vec<Source<'_>> = bpmn.iter().map(|(name, bytes)| Source { name, bytes }).collect();
    // Checks need no Slack: the connectors' settings only matter when they are called.
    let registry = connectors::registry(&ConnectorArgs::default())?;
    let catalog = Catalog(&registry, job_types);
    // A business rule task's decision may be in none of the files: a warning (it may be deployed
    // on its own).
    let known: Vec<&str> = decision_ids.iter().map(String::as_str).collect();
    let options = Options { connectors: Some(&catalog), known_decisions: Some(&known), ..Options::default() };
    let imported = sluice_bpmn::import(&sources, &options);
    for d in &imported.diagnostics {
        writeln!(stdout, "{d}")?;
    }
    ok &= !imported.has_errors();
    Ok(if ok { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

/// A `.dmn` file given to `check` or `run`, parsed.
struct DmnFile {
    definitions: Option<sluice_dmn::Definitions>,
    diagnostics: Vec<sluice_bpmn::Diagnostic>,
}

/// The files apart: BPMN ones (name, bytes) and DMN ones, parsed (told by their root element, as
/// a deploy tells them).
fn split_dmn(contents: &[(String, Vec<u8>)]) -> (Vec<&(String, Vec<u8>)>, Vec<DmnFile>) {
    let mut bpmn = Vec::new();
    let mut dmn = Vec::new();
    for file in contents {
        let (name, bytes) = file;
        match sluice_bpmn::decode_text(bytes).filter(|text| sluice_dmn::is_dmn(text)) {
            Some(text) => {
                let parsed = sluice_dmn::parse(sluice_dmn::Source { file: name, text: &text });
                dmn.push(DmnFile { definitions: parsed.definitions, diagnostics: parsed.diagnostics });
            }
            None => bpmn.push(file),
        }
    }
    (bpmn, dmn)
}

/// How many timers a dry run fires before it stops.
const MAX_TIMER_FIRINGS: usize = 200;

/// How often a dry run tries a connector call that keeps failing with a retryable error.
const DRY_RUN_RETRIES: u32 = 3;
/// The longest a dry run waits before trying again, whatever the connector asks for.
const DRY_RUN_MAX_WAIT: Duration = Duration::from_secs(2);

/// Connector tasks in a dry run: the real connectors, called one at a time on a current-thread
/// runtime; with `--stub-connectors`, every call completes at once with `{}`.
struct DryRunConnectors {
    registry: Registry,
    runtime: tokio::runtime::Runtime,
    stub: bool,
    request_url: String,
    /// Job tasks (no connector, a type workers may take): what each completes with, by element.
    job_types: JobTypes,
    job_results: HashMap<String, sluice_engine::runtime::Data>,
}

impl ConnectorHost for DryRunConnectors {
    fn invoke(&mut self, call: ConnectorInvocation<'_>) -> ConnectorOutcome {
        if self.stub {
            return ConnectorOutcome::Completed(Value::Object(Default::default()));
        }
        let connector = call.call.connector.as_str();
        if !self.registry.contains(connector) && self.job_types.allows(connector) {
            // No worker in a dry run: the job completes at once, with `--job-result`'s data.
            let data = self.job_results.get(call.element_id).cloned().unwrap_or_default();
            eprintln!(
                "sluice: `{}`: job of type `{connector}` completed without a worker ({})",
                call.element_id,
                if data.is_empty() { "no data; give some with --job-result" } else { "--job-result" }
            );
            return ConnectorOutcome::JobCompleted(data);
        }
        if !self.registry.contains(connector) {
            return ConnectorOutcome::Failed(format!(
                "no connector `{connector}` is registered in this build (run with --stub-connectors to skip connector calls)"
            ));
        }
        let mut tries = 0;
        let mut unconfirmed = false;
        loop {
            tries += 1;
            // Each try is a new attempt; after a try whose answer was lost the connector is told,
            // so that it checks before doing the work again.
            let key = IdempotencyKey {
                request_id: "dry-run".into(),
                element_id: call.element_id.to_owned(),
                attempt: call.attempt + tries - 1,
            };
            let mut cx = sluice_connector_api::Context::new(key, call.process.key.as_str(), self.request_url.as_str());
            cx.maybe_done_before = unconfirmed;
            let secrets = secrets_from_env(&secrets_named(call.call));
            let mut variables = call.variables.clone();
            variables.entry("_request").or_insert_with(|| {
                sluice_worker::magic_request("dry-run", call.process, 1, "active", "", &self.request_url)
            });
            let invoked = self.runtime.block_on(invoke_task(&self.registry, call.call, &variables, &secrets, cx));
            if tries == 1 {
                for w in &invoked.warnings {
                    eprintln!(
                        "sluice: warning: `{}`: input `{}`: `{{{{ {} }}}}` resolves to nothing in the data; rendered empty",
                        call.element_id, w.input, w.path
                    );
                }
            }
            let result = invoked.result;
            match ConnectorVerdict::of(result, i64::from(tries), i64::from(DRY_RUN_RETRIES) + 1, "tries") {
                ConnectorVerdict::Outcome(outcome) => return outcome,
                ConnectorVerdict::Retry { message, retry_after, unconfirmed: lost } => {
                    unconfirmed = lost;
                    let backoff = Duration::from_millis(250 << (tries - 1));
                    let wait = retry_after.unwrap_or(backoff).min(DRY_RUN_MAX_WAIT);
                    eprintln!("sluice: `{}`: {message}; trying again in {} ms", call.element_id, wait.as_millis());
                    std::thread::sleep(wait);
                }
            }
        }
    }
}

/// The secrets of a dry run: `{{ secrets.NAME }}` is the environment variable `NAME`, as in
/// Camunda's self-managed connector runtime. One not set stays missing (an incident naming it).
fn secrets_from_env(names: &[String]) -> Secrets {
    names.iter().filter_map(|n| std::env::var(n).ok().map(|v| (n.clone(), Secret::new(v)))).collect()
}

struct RunOptions {
    with: Vec<PathBuf>,
    process: Option<String>,
    task_data: Vec<String>,
    start: Option<String>,
    stub: bool,
    public_url: String,
    clock: Option<DateTime<Utc>>,
    connectors: ConnectorArgs,
    job_results: Vec<String>,
    job_types: JobTypes,
}

fn dry_run(file: &PathBuf, data: Option<&str>, opts: &RunOptions) -> anyhow::Result<ExitCode> {
    let (process, task_data, stub, clock) = (opts.process.as_deref(), &opts.task_data, opts.stub, opts.clock);
    let mut contents = Vec::new();
    for f in std::iter::once(file).chain(&opts.with) {
        let bytes = std::fs::read(f).with_context(|| format!("cannot read {}", f.display()))?;
        contents.push((f.display().to_string(), bytes));
    }
    let name = file.display().to_string();
    let (bpmn, dmn) = split_dmn(&contents);
    let mut decisions = Vec::new();
    for file in dmn {
        if file.diagnostics.iter().any(sluice_bpmn::Diagnostic::is_error) || file.definitions.is_none() {
            for d in &file.diagnostics {
                eprintln!("{d}");
            }
            bail!("a decision file given with --with is not valid");
        }
        decisions.extend(file.definitions.map(Arc::new));
    }
    let sources: Vec<Source<'_>> = bpmn.iter().map(|(n, b)| Source { name: n, bytes: b }).collect();
    let registry = connectors::registry(&opts.connectors)?;
    let catalog = Catalog(&registry, &opts.job_types);
    let imported = sluice_bpmn::import(&sources, &Options { connectors: Some(&catalog), ..Options::default() });
    if imported.has_errors() {
        for d in &imported.diagnostics {
            eprintln!("{d}");
        }
        bail!("{name} is not a valid model");
    }
    let data = match data {
        Some(s) => json_object(s, "--data")?,
        None => Default::default(),
    };
    let mut per_task: HashMap<String, serde_json::Map<String, Value>> = HashMap::new();
    for td in task_data {
        let (el, js) = td.split_once('=').with_context(|| format!("--task-data `{td}` is not ELEMENT=JSON"))?;
        per_task.insert(el.to_string(), json_object(js, &format!("--task-data for `{el}`"))?);
    }
    let mut job_results = HashMap::new();
    for jr in &opts.job_results {
        let (el, js) = jr.split_once('=').with_context(|| format!("--job-result `{jr}` is not ELEMENT=JSON"))?;
        job_results.insert(el.to_string(), json_object(js, &format!("--job-result for `{el}`"))?);
    }
    let processes: Vec<Arc<Process>> = imported.definitions.processes.clone();
    let key = match process {
        Some(k) => k.to_string(),
        None => {
            let own: Vec<Arc<Process>> = processes.iter().filter(|p| *p.file == *name).cloned().collect();
            main_process(&own).context("the file has no executable process")?
        }
    };
    let mut sim = Sim::new(processes.clone(), clock.unwrap_or_else(|| Utc::now().trunc_subsecs(0)));
    for d in decisions {
        sim.add_decisions(d);
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the runtime for connector calls")?;
    let mut connectors = DryRunConnectors {
        registry,
        runtime,
        stub,
        request_url: format!("{}/requests/dry-run", opts.public_url.trim_end_matches('/')),
        job_types: opts.job_types.clone(),
        job_results,
    };
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
    // Bounded, so an endless timer cycle (say `R/P1D` while waiting for a message that a dry run
    // never publishes) cannot keep a dry run, and its connector calls, going forever.
    let mut fired = 0;
    loop {
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
        let Some(due) = sim.next_timer() else { break };
        if fired == MAX_TIMER_FIRINGS {
            let why = format!("stopped after {MAX_TIMER_FIRINGS} timer firings; the next is due {}", due.to_rfc3339());
            writeln!(stdout, "{}", json!({"event": "dry_run_stopped", "reason": why}))?;
            break;
        }
        fired += 1;
        sim.advance_to(due, &mut connectors);
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
    // Where the Request waits, as the HTTP API's Request shows it.
    let tokens: Vec<Value> =
        inst.tokens().iter().map(|t| json!({"element_id": p.element(t.element).id, "state": t.state})).collect();
    let last = json!({
        "event": "request_finished",
        "status": status,
        "data": inst.data(),
        "tokens": tokens,
        "incidents": incidents,
    });
    writeln!(stdout, "{last}")?;
    Ok(if inst.status() == Status::Completed { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

/// A JSON object given on the command line (`what` names the flag for errors): the text itself,
/// or `@FILE` for the contents of FILE.
fn json_object(arg: &str, what: &str) -> anyhow::Result<serde_json::Map<String, Value>> {
    let (text, source) = match arg.strip_prefix('@') {
        Some(path) => {
            let text = std::fs::read_to_string(path).with_context(|| format!("{what}: cannot read {path}"))?;
            (text, format!(" (from {path})"))
        }
        None => (arg.to_string(), String::new()),
    };
    match serde_json::from_str::<Value>(&text).with_context(|| format!("{what} is not JSON{source}"))? {
        Value::Object(m) => Ok(m),
        _ => bail!("{what} must be a JSON object{source}"),
    }
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::io::{BufRead, BufReader, Read};
    use std::net::TcpListener;

    use sluice_bpmn::ConnectorCatalog;

    use super::*;

    /// An HTTP server on 127.0.0.1 answering each request with the next canned answer (status,
    /// extra header lines, body); returns its base URL.
    fn server(answers: Vec<(u16, &'static str, &'static str)>) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        std::thread::spawn(move || {
            for (status, headers, body) in answers {
                let Ok((mut stream, _)) = listener.accept() else { return };
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut length = 0;
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                        break;
                    }
                    if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                        length = v.trim().parse().unwrap_or(0);
                    }
                }
                let mut body_in = vec![0; length];
                let _ = reader.read_exact(&mut body_in);
                let answer = format!(
                    "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n{headers}\r\n{body}",
                    body.len()
                );
                let _ = stream.write_all(answer.as_bytes());
            }
        });
        base
    }

    const MODEL: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<definitions xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL" xmlns:sluice="urn:sluice:bpmn:1" id="d" targetNamespace="urn:t">
  <error id="err" errorCode="invoice_unknown"/>
  <process id="p" isExecutable="true">
    <startEvent id="start"/>
    <sequenceFlow id="f1" sourceRef="start" targetRef="call"/>
    <serviceTask id="call" implementation="http">
      <extensionElements>
        <sluice:input name="method" value="POST"/>
        <sluice:input name="url">{{ api }}/invoices</sluice:input>
        <sluice:input name="body">{"id": "{{ id }}"}</sluice:input>
        <sluice:input name="error_code" value="invoice_unknown"/>
        <sluice:input name="result_variable" value="answer"/>
      </extensionElements>
    </serviceTask>
    <boundaryEvent id="unknown" attachedToRef="call"><errorEventDefinition errorRef="err"/></boundaryEvent>
    <sequenceFlow id="f2" sourceRef="call" targetRef="done"/>
    <endEvent id="done"/>
    <sequenceFlow id="f3" sourceRef="unknown" targetRef="caught"/>
    <endEvent id="caught"/>
  </process>
</definitions>
"#;

    /// Runs MODEL against `api`; returns the trace and the final data.
    fn dry_run_against(api: &str, stub: bool) -> (Vec<Value>, serde_json::Map<String, Value>) {
        let imported = sluice_bpmn::import(&[Source { name: "m.bpmn", bytes: MODEL.as_bytes() }], &Options::default());
        assert!(!imported.has_errors(), "{:?}", imported.diagnostics);
        let mut sim = Sim::new(imported.definitions.processes.clone(), Utc::now());
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let mut host = DryRunConnectors {
            registry: connectors::registry(&ConnectorArgs::default()).unwrap(),
            runtime,
            stub,
            request_url: "http://127.0.0.1:8080/requests/dry-run".into(),
            job_types: JobTypes::None,
            job_results: HashMap::new(),
        };
        let data = json!({"api": api, "id": "INV-1"}).as_object().unwrap().clone();
        let r = sim.start("p", data).unwrap();
        sim.settle(&mut host);
        (sim.trace().to_vec(), sim.instance(r).unwrap().data().clone())
    }

    fn completed(trace: &[Value]) -> Vec<&str> {
        trace.iter().filter(|e| e["event"] == "element_completed").filter_map(|e| e["element_id"].as_str()).collect()
    }

    #[test]
    fn a_dry_run_calls_the_http_connector_and_stores_its_output() {
        let api = server(vec![(201, "", r#"{"sent": true}"#)]);
        let (trace, data) = dry_run_against(&api, false);
        assert_eq!(completed(&trace), ["start", "call", "done"]);
        assert_eq!(data["answer"]["status"], 201);
        assert_eq!(data["answer"]["body"], json!({"sent": true}));
    }

    #[test]
    fn a_client_error_with_error_code_is_caught_by_the_boundary_event() {
        let api = server(vec![(404, "", "")]);
        let (trace, _) = dry_run_against(&api, false);
        assert_eq!(completed(&trace), ["start", "unknown", "caught"]);
    }

    #[test]
    fn retryable_errors_are_retried_then_become_an_incident() {
        let api = server(vec![(503, "retry-after: 0\r\n", ""), (200, "", "{}")]);
        let (trace, data) = dry_run_against(&api, false);
        assert_eq!(completed(&trace), ["start", "call", "done"]);
        assert_eq!(data["answer"]["status"], 200);

        let api = server(vec![(500, "retry-after: 0\r\n", "down"); 4]);
        let (trace, _) = dry_run_against(&api, false);
        let incident = trace.iter().find(|e| e["event"] == "incident_raised").unwrap();
        assert_eq!(incident["message"], "the server answered 500 Internal Server Error: down (gave up after 4 tries)");
    }

    #[test]
    fn stubbed_connectors_are_not_called() {
        // Nothing listens on port 9 (discard): a real call would fail.
        let (trace, data) = dry_run_against("http://127.0.0.1:9", true);
        assert_eq!(completed(&trace), ["start", "call", "done"]);
        assert_eq!(data["answer"], json!({}));
    }

    #[test]
    fn check_validates_the_inputs_of_registered_connectors() {
        let registry = connectors::registry(&ConnectorArgs::default()).unwrap();
        let catalog = Catalog(&registry, &JobTypes::None);
        let inputs = |v: Value| v.as_object().unwrap().clone();
        assert_eq!(catalog.validate("http", &inputs(json!({"url": "{{ api }}/x"}))), Ok(()));
        assert_eq!(catalog.validate("http", &inputs(json!({}))), Err("missing required input `url`".into()));
        let fax = catalog.validate("fax", &inputs(json!({}))).unwrap_err();
        assert!(
            fax.starts_with("no connector `fax` is registered (known: http, io.camunda:slack:1, slack-notification)"),
            "{fax}"
        );
        assert!(fax.contains("nor is `fax` a job type workers may take"), "{fax}");
        // A job type workers may take passes; a connector is still checked by its schema.
        let jobs = JobTypes::parse("fax");
        let with_jobs = Catalog(&registry, &jobs);
        assert_eq!(with_jobs.validate("fax", &inputs(json!({}))), Ok(()));
        assert_eq!(with_jobs.validate("http", &inputs(json!({}))), Err("missing required input `url`".into()));
        // A mistyped job type: the closest declared type (or connector) is suggested.
        let jobs = JobTypes::parse("ship-order, greet");
        let with_jobs = Catalog(&registry, &jobs);
        assert_eq!(
            with_jobs.validate("ship-ordr", &inputs(json!({}))),
            Err("no connector `ship-ordr` is registered (known: http, io.camunda:slack:1, slack-notification); nor \
                 is `ship-ordr` a job type workers may take (SLUICE_JOB_TYPES allows `ship-order`, `greet`); did you \
                 mean `ship-order`?"
                .into())
        );
        let far = with_jobs.validate("invoice", &inputs(json!({}))).unwrap_err();
        assert!(!far.contains("did you mean"), "{far}");
        assert!(with_jobs.validate("htp", &inputs(json!({}))).unwrap_err().ends_with("; did you mean `http`?"));
        let slack = |v: Value| catalog.validate("slack-notification", &inputs(v));
        assert_eq!(slack(json!({"channel": "#x", "message": "Hi {{ name }}"})), Ok(()));
        assert_eq!(slack(json!({"channel": "#x"})), Err("missing required input `message`".into()));
    }
}
