//! Traces over OpenTelemetry's OTLP, when `OTEL_EXPORTER_OTLP_ENDPOINT` (or
//! `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) is set: a `tracing` layer turns the spans of an HTTP call
//! (`http`), a step of a Request (`start`, `step`), a job (`job`) and a connector call
//! (`connector_call`) into OTLP spans, and a thread of its own posts them in batches as OTLP/HTTP
//! JSON to `<endpoint>/v1/traces`.
//!
//! The protocol is written here rather than taken from the `opentelemetry` crates: export is one
//! JSON document per batch (the OTLP specification's JSON encoding, ids in hex), and the crates
//! would add a protobuf and gRPC stack to a two-core build for it.
//!
//! What the standard variables do here:
//! - `OTEL_EXPORTER_OTLP_ENDPOINT` (`/v1/traces` is appended) or
//!   `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` (used as it is); `OTEL_EXPORTER_OTLP_HEADERS` /
//!   `OTEL_EXPORTER_OTLP_TRACES_HEADERS` (`key=value,…`, values percent-decoded);
//!   `OTEL_EXPORTER_OTLP_TIMEOUT` (ms, default 10,000).
//! - `OTEL_EXPORTER_OTLP_PROTOCOL`: only `http/json` is spoken; another value is named in a
//!   warning at start, and the export is still made as `http/json`.
//! - `OTEL_SERVICE_NAME` (default `sluice`), `OTEL_RESOURCE_ATTRIBUTES` (`key=value,…`).
//! - `OTEL_TRACES_SAMPLER`: `always_on`, `always_off`, `traceidratio`, `parentbased_always_on`
//!   (the default), `parentbased_always_off`, `parentbased_traceidratio`, with
//!   `OTEL_TRACES_SAMPLER_ARG` the ratio.
//! - `OTEL_BSP_SCHEDULE_DELAY` (ms between exports, default 5,000), `OTEL_BSP_MAX_QUEUE_SIZE`
//!   (default 2,048: spans beyond it are dropped, counted, and the count logged),
//!   `OTEL_BSP_MAX_EXPORT_BATCH_SIZE` (default 512).
//! - `OTEL_SDK_DISABLED=true` turns it off.
//!
//! An incoming W3C `traceparent` header makes the HTTP span a child of the caller's span, and a
//! connector call passes its own span's on ([`traceparent_of`]; the HTTP connector sends it).
//! A span ends when its own work last ran (its last exit), not when the last of its children
//! closes: a Request's step hands its connector calls to a task of their own, whose spans are its
//! children and may run long after it.

use std::borrow::Cow;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};
use sluice_secrets::hex;
use tracing::field::Field;
use tracing::span::{Attributes, Record};
use tracing::{Event, Id, Level, Metadata, Subscriber};
use tracing_subscriber::Layer;
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;

use crate::logs::Values;

/// The target of spans that exist only for traces (the HTTP call, the step): the logs leave it out
/// unless `RUST_LOG` names it.
pub const TRACE_TARGET: &str = "sluice_trace";

/// How spans are chosen for export.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Sampler {
    AlwaysOn,
    AlwaysOff,
    Ratio(f64),
    ParentBased(&'static Sampler),
}

const ON: Sampler = Sampler::AlwaysOn;
const OFF: Sampler = Sampler::AlwaysOff;

impl Sampler {
    /// The decision for a span with no parent of ours: `remote` is an incoming traceparent's
    /// sampled flag.
    fn root(&self, trace_id: &[u8; 16], remote: Option<bool>) -> bool {
        match self {
            Sampler::AlwaysOn => true,
            Sampler::AlwaysOff => false,
            Sampler::Ratio(r) => {
                // The trace id's low 8 bytes, as the specification's TraceIdRatioBased reads them.
                let mut low = [0u8; 8];
                low.copy_from_slice(&trace_id[8..]);
                let x = u64::from_be_bytes(low) >> 1;
                (x as f64) < r * (1u64 << 63) as f64
            }
            Sampler::ParentBased(root) => match remote {
                Some(sampled) => sampled,
                None => root.root(trace_id, None),
            },
        }
    }
}

/// Where and how spans are exported (read from the `OTEL_*` environment).
#[derive(Clone, Debug)]
pub struct Config {
    pub url: String,
    headers: Vec<(String, String)>,
    resource: Vec<(String, String)>,
    sampler: Sampler,
    delay: Duration,
    queue: usize,
    batch: usize,
    timeout: Duration,
    /// A protocol asked for that is not spoken (said once at start).
    pub unsupported_protocol: Option<String>,
}

impl Config {
    /// The configuration the environment asks for; `None` when no endpoint is set or the SDK is
    /// disabled. A malformed value is an error naming the variable.
    pub fn from_env() -> Result<Option<Config>, String> {
        Self::from_vars(|name| std::env::var(name).ok().filter(|v| !v.trim().is_empty()))
    }

    fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Option<Config>, String> {
        if var("OTEL_SDK_DISABLED").is_some_and(|v| v.trim().eq_ignore_ascii_case("true")) {
            return Ok(None);
        }
        let url = match (var("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"), var("OTEL_EXPORTER_OTLP_ENDPOINT")) {
            (Some(url), _) => url.trim().to_string(),
            (None, Some(base)) => format!("{}/v1/traces", base.trim().trim_end_matches('/')),
            (None, None) => return Ok(None),
        };
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(format!("the OTLP endpoint `{url}` must be an http:// or https:// URL"));
        }
        let mut headers = pairs(var("OTEL_EXPORTER_OTLP_HEADERS").as_deref(), "OTEL_EXPORTER_OTLP_HEADERS")?;
        headers
            .extend(pairs(var("OTEL_EXPORTER_OTLP_TRACES_HEADERS").as_deref(), "OTEL_EXPORTER_OTLP_TRACES_HEADERS")?);
        let mut resource = pairs(var("OTEL_RESOURCE_ATTRIBUTES").as_deref(), "OTEL_RESOURCE_ATTRIBUTES")?;
        let service = var("OTEL_SERVICE_NAME").unwrap_or_else(|| "sluice".to_string());
        resource.retain(|(k, _)| k != "service.name");
        resource.insert(0, ("service.name".to_string(), service));
        resource.push(("service.version".to_string(), env!("CARGO_PKG_VERSION").to_string()));
        let protocol = var("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL").or_else(|| var("OTEL_EXPORTER_OTLP_PROTOCOL"));
        let unsupported_protocol = protocol.filter(|p| p.trim() != "http/json");
        let ratio = || -> Result<f64, String> {
            match var("OTEL_TRACES_SAMPLER_ARG") {
                None => Ok(1.0),
                Some(v) => match v.trim().parse::<f64>() {
                    Ok(r) if (0.0..=1.0).contains(&r) => Ok(r),
                    _ => Err(format!("OTEL_TRACES_SAMPLER_ARG `{v}` is not a ratio between 0 and 1")),
                },
            }
        };
        let sampler = match var("OTEL_TRACES_SAMPLER").as_deref().map(str::trim) {
            None | Some("parentbased_always_on") => Sampler::ParentBased(&ON),
            Some("always_on") => Sampler::AlwaysOn,
            Some("always_off") => Sampler::AlwaysOff,
            Some("parentbased_always_off") => Sampler::ParentBased(&OFF),
            Some("traceidratio") => Sampler::Ratio(ratio()?),
            Some("parentbased_traceidratio") => {
                // A 'static root sampler for the ratio: leaked once per process, at start.
                let root: &'static Sampler = Box::leak(Box::new(Sampler::Ratio(ratio()?)));
                Sampler::ParentBased(root)
            }
            Some(other) => return Err(format!("OTEL_TRACES_SAMPLER `{other}` is not a sampler Sluice knows")),
        };
        let number = |name: &str, default: u64| -> Result<u64, String> {
            match var(name) {
                None => Ok(default),
                Some(v) => v.trim().parse::<u64>().map_err(|_| format!("{name} `{v}` is not a whole number")),
            }
        };
        let delay = Duration::from_millis(number("OTEL_BSP_SCHEDULE_DELAY", 5_000)?.max(1));
        let queue = number("OTEL_BSP_MAX_QUEUE_SIZE", 2_048)?.max(1) as usize;
        let batch = (number("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", 512)?.max(1) as usize).min(queue);
        let timeout = Duration::from_millis(number("OTEL_EXPORTER_OTLP_TIMEOUT", 10_000)?.max(1));
        Ok(Some(Config { url, headers, resource, sampler, delay, queue, batch, timeout, unsupported_protocol }))
    }
}

/// `key=value,key2=value2`, values percent-decoded (the OTEL list format).
fn pairs(text: Option<&str>, name: &str) -> Result<Vec<(String, String)>, String> {
    let Some(text) = text else { return Ok(Vec::new()) };
    let mut out = Vec::new();
    for item in text.split(',').map(str::trim).filter(|i| !i.is_empty()) {
        let Some((k, v)) = item.split_once('=') else {
            return Err(format!("{name}: `{item}` is not key=value"));
        };
        let value: String = form_urlencoded::parse(format!("v={}", v.trim().replace('+', "%2B")).as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default();
        out.push((k.trim().to_string(), value));
    }
    Ok(out)
}

/// A finished span, waiting for export.
struct Finished {
    trace_id: [u8; 16],
    span_id: [u8; 8],
    parent: Option<[u8; 8]>,
    name: Cow<'static, str>,
    kind: u8,
    start: u64,
    end: u64,
    attributes: Vec<(&'static str, Value)>,
    error: Option<String>,
}

/// What the layer keeps in a live span's extensions.
struct Live {
    trace_id: [u8; 16],
    span_id: [u8; 8],
    parent: Option<[u8; 8]>,
    sampled: bool,
    name: Cow<'static, str>,
    kind: u8,
    start: u64,
    last_exit: Option<u64>,
    attributes: Vec<(&'static str, Value)>,
    error: Option<String>,
}

/// The queue between the layer and the exporting thread.
struct Queue {
    spans: Mutex<QueueState>,
    ready: Condvar,
    dropped: AtomicU64,
}

#[derive(Default)]
struct QueueState {
    spans: VecDeque<Finished>,
    /// Asked to export what is queued now and stop.
    closing: bool,
}

/// The layer: sampled spans go to the queue as they close.
pub struct OtlpLayer {
    config: Config,
    queue: Arc<Queue>,
    ids: AtomicU64,
}

/// The running exporter, to flush at shutdown.
pub struct Exporter {
    queue: Arc<Queue>,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
}

static EXPORTER: OnceLock<Exporter> = OnceLock::new();

/// Builds the layer and starts the exporting thread.
pub fn start(config: Config) -> Result<OtlpLayer, String> {
    let queue =
        Arc::new(Queue { spans: Mutex::new(QueueState::default()), ready: Condvar::new(), dropped: AtomicU64::new(0) });
    let seed = sluice_secrets::random_bytes::<8>().map_err(|e| format!("cannot seed trace ids: {e}"))?;
    let thread = std::thread::Builder::new()
        .name("sluice-otlp".into())
        .spawn({
            let (config, queue) = (config.clone(), queue.clone());
            move || export_loop(config, queue)
        })
        .map_err(|e| format!("cannot start the OTLP exporter: {e}"))?;
    let _ = EXPORTER.set(Exporter { queue: queue.clone(), thread: Mutex::new(Some(thread)) });
    Ok(OtlpLayer { config, queue, ids: AtomicU64::new(u64::from_le_bytes(seed)) })
}

/// Exports what is queued and stops the exporter (waits at most `limit`). Nothing when traces
/// are off.
pub fn shutdown(limit: Duration) {
    let Some(exporter) = EXPORTER.get() else { return };
    if let Ok(mut state) = exporter.queue.spans.lock() {
        state.closing = true;
    }
    exporter.queue.ready.notify_all();
    let Some(thread) = exporter.thread.lock().ok().and_then(|mut t| t.take()) else { return };
    let deadline = std::time::Instant::now() + limit;
    while !thread.is_finished() && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    if thread.is_finished() {
        let _ = thread.join();
    }
}

fn unix_nanos() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64)
}

/// splitmix64: ids that are unique and look random, from a seed taken from the OS once.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

impl OtlpLayer {
    fn next_u64(&self) -> u64 {
        loop {
            let v = mix(self.ids.fetch_add(0x9e37_79b9_7f4a_7c15, Ordering::Relaxed));
            if v != 0 {
                return v;
            }
        }
    }

    fn span_id(&self) -> [u8; 8] {
        self.next_u64().to_be_bytes()
    }

    fn trace_id(&self) -> [u8; 16] {
        let mut id = [0u8; 16];
        id[..8].copy_from_slice(&self.next_u64().to_be_bytes());
        id[8..].copy_from_slice(&self.next_u64().to_be_bytes());
        id
    }

    /// Which spans and events this layer looks at: spans up to `info`, and error events (they
    /// mark their span as failed).
    pub fn wants(meta: &Metadata<'_>) -> bool {
        if meta.is_span() { *meta.level() <= Level::INFO } else { *meta.level() == Level::ERROR }
    }
}

/// A span's fields as OTLP attributes; `otel.name`, `otel.kind` and `traceparent` are kept apart.
#[derive(Default)]
struct Fields {
    attributes: Vec<(&'static str, Value)>,
    name: Option<String>,
    kind: Option<u8>,
    traceparent: Option<String>,
    error: Option<String>,
    message: Option<String>,
}

impl Fields {
    fn put(&mut self, field: &Field, value: Value) {
        match field.name() {
            "otel.name" => self.name = value.as_str().map(str::to_string),
            "otel.kind" => {
                self.kind = value.as_str().and_then(|k| match k {
                    "server" => Some(2),
                    "client" => Some(3),
                    "internal" => Some(1),
                    _ => None,
                })
            }
            "traceparent" => self.traceparent = value.as_str().map(str::to_string),
            "message" => self.message = value.as_str().map(str::to_string),
            name => {
                if name == "error" {
                    self.error = value.as_str().map(str::to_string);
                }
                match self.attributes.iter_mut().find(|(k, _)| *k == name) {
                    Some(slot) => slot.1 = value,
                    None => self.attributes.push((name, value)),
                }
            }
        }
    }
}

/// `00-<trace id>-<parent id>-<flags>` (W3C Trace Context, version 00).
fn parse_traceparent(text: &str) -> Option<([u8; 16], [u8; 8], bool)> {
    let parts: Vec<&str> = text.trim().split('-').collect();
    let [version, trace, parent, flags] = parts.as_slice() else { return None };
    if *version != "00" || trace.len() != 32 || parent.len() != 16 || flags.len() != 2 {
        return None;
    }
    let mut trace_id = [0u8; 16];
    let mut parent_id = [0u8; 8];
    unhex(trace, &mut trace_id)?;
    unhex(parent, &mut parent_id)?;
    let flags = u8::from_str_radix(flags, 16).ok()?;
    if trace_id == [0; 16] || parent_id == [0; 8] {
        return None;
    }
    Some((trace_id, parent_id, flags & 1 == 1))
}

fn unhex(text: &str, out: &mut [u8]) -> Option<()> {
    let bytes = text.as_bytes();
    for (i, slot) in out.iter_mut().enumerate() {
        let pair = std::str::from_utf8(bytes.get(2 * i..2 * i + 2)?).ok()?;
        *slot = u8::from_str_radix(pair, 16).ok()?;
    }
    Some(())
}

/// The W3C `traceparent` of span `id`, or of its nearest ancestor this layer gave ids to (a span
/// the layer's filter left out has none): what a connector call sends on. `None` when the
/// process's subscriber is not built on a `Registry` or no span in the chain is traced.
pub fn traceparent_of(id: &Id) -> Option<String> {
    tracing::dispatcher::get_default(|d| {
        let registry = d.downcast_ref::<tracing_subscriber::Registry>()?;
        let span = registry.span(id)?;
        span.scope().find_map(|s| {
            s.extensions().get::<Live>().map(|live| {
                let flags = if live.sampled { "01" } else { "00" };
                format!("00-{}-{}-{flags}", hex(&live.trace_id), hex(&live.span_id))
            })
        })
    })
}

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for OtlpLayer {
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let mut fields = Fields::default();
        attrs.record(&mut Values(|f: &Field, v| fields.put(f, v)));
        let from_parent = span
            .parent()
            .and_then(|p| p.extensions().get::<Live>().map(|live| (live.trace_id, live.span_id, live.sampled)));
        let (trace_id, parent, sampled) = match from_parent {
            Some((trace_id, parent, sampled)) => (trace_id, Some(parent), sampled),
            None => match fields.traceparent.as_deref().and_then(parse_traceparent) {
                Some((trace_id, parent, remote)) => {
                    (trace_id, Some(parent), self.config.sampler.root(&trace_id, Some(remote)))
                }
                None => {
                    let trace_id = self.trace_id();
                    (trace_id, None, self.config.sampler.root(&trace_id, None))
                }
            },
        };
        let meta = span.metadata();
        let kind = fields.kind.unwrap_or(match meta.name() {
            "http" => 2,
            "connector_call" => 3,
            _ => 1,
        });
        let name = match fields.name.take() {
            Some(n) => Cow::Owned(n),
            None => Cow::Borrowed(meta.name()),
        };
        let live = Live {
            trace_id,
            span_id: self.span_id(),
            parent,
            sampled,
            name,
            kind,
            start: unix_nanos(),
            last_exit: None,
            attributes: fields.attributes,
            error: fields.error,
        };
        span.extensions_mut().insert(live);
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let mut ext = span.extensions_mut();
        let Some(live) = ext.get_mut::<Live>() else { return };
        let mut fields = Fields { attributes: std::mem::take(&mut live.attributes), ..Fields::default() };
        values.record(&mut Values(|f: &Field, v| fields.put(f, v)));
        live.attributes = fields.attributes;
        if let Some(name) = fields.name {
            live.name = Cow::Owned(name);
        }
        if fields.error.is_some() {
            live.error = fields.error;
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        if *event.metadata().level() != Level::ERROR {
            return;
        }
        let Some(span) = ctx.event_span(event) else { return };
        let mut fields = Fields::default();
        event.record(&mut Values(|f: &Field, v| fields.put(f, v)));
        if let Some(live) = span.extensions_mut().get_mut::<Live>() {
            live.error = fields.error.or(fields.message).or_else(|| Some("error".to_string()));
        }
    }

    fn on_exit(&self, id: &Id, ctx: Context<'_, S>) {
        if let Some(span) = ctx.span(id)
            && let Some(live) = span.extensions_mut().get_mut::<Live>()
        {
            live.last_exit = Some(unix_nanos());
        }
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(&id) else { return };
        let Some(live) = span.extensions_mut().remove::<Live>() else { return };
        if !live.sampled {
            return;
        }
        let end = live.last_exit.unwrap_or_else(unix_nanos).max(live.start);
        let finished = Finished {
            trace_id: live.trace_id,
            span_id: live.span_id,
            parent: live.parent,
            name: live.name,
            kind: live.kind,
            start: live.start,
            end,
            attributes: live.attributes,
            error: live.error,
        };
        let Ok(mut state) = self.queue.spans.lock() else { return };
        if state.spans.len() >= self.config.queue {
            self.queue.dropped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        state.spans.push_back(finished);
        if state.spans.len() >= self.config.batch {
            self.queue.ready.notify_one();
        }
    }
}

/// The OTLP/HTTP JSON document of one batch.
fn document(config: &Config, spans: &[Finished]) -> Value {
    let attr = |k: &str, v: &Value| {
        let value = match v {
            Value::Bool(b) => json!({"boolValue": b}),
            Value::Number(n) if n.is_i64() || n.is_u64() => json!({"intValue": n.to_string()}),
            Value::Number(n) => json!({"doubleValue": n.as_f64()}),
            Value::String(s) => json!({"stringValue": s}),
            other => json!({"stringValue": other.to_string()}),
        };
        json!({"key": k, "value": value})
    };
    let resource: Vec<Value> = config.resource.iter().map(|(k, v)| attr(k, &Value::String(v.clone()))).collect();
    let spans: Vec<Value> = spans
        .iter()
        .map(|s| {
            let mut span = json!({
                "traceId": hex(&s.trace_id),
                "spanId": hex(&s.span_id),
                "name": s.name,
                "kind": s.kind,
                "startTimeUnixNano": s.start.to_string(),
                "endTimeUnixNano": s.end.to_string(),
                "attributes": s.attributes.iter().map(|(k, v)| attr(k, v)).collect::<Vec<_>>(),
                "status": match &s.error {
                    Some(message) => json!({"code": 2, "message": message}),
                    None => json!({"code": 0}),
                },
            });
            if let Some(parent) = s.parent {
                span["parentSpanId"] = Value::String(hex(&parent));
            }
            span
        })
        .collect();
    json!({
        "resourceSpans": [{
            "resource": {"attributes": resource},
            "scopeSpans": [{
                "scope": {"name": "sluice", "version": env!("CARGO_PKG_VERSION")},
                "spans": spans,
            }],
        }],
    })
}

/// The exporting thread: every `delay`, or when a batch is full, posts what is queued; at
/// shutdown, posts the rest and stops. A failed post is logged (at most once a minute) and its
/// spans are dropped: traces never hold the engine back.
fn export_loop(config: Config, queue: Arc<Queue>) {
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!(error = %e, "cannot start the OTLP exporter's runtime; no traces are exported");
            return;
        }
    };
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
    let client = match reqwest::Client::builder()
        .timeout(config.timeout)
        .user_agent(concat!("sluice/", env!("CARGO_PKG_VERSION")))
        .build()
    {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!(error = %e, "cannot set up the OTLP exporter's HTTP client; no traces are exported");
            return;
        }
    };
    let mut last_warning: Option<std::time::Instant> = None;
    let mut reported_drops = 0;
    loop {
        let (batch, closing) = {
            let Ok(mut state) = queue.spans.lock() else { return };
            if state.spans.len() < config.batch && !state.closing {
                state = match queue.ready.wait_timeout(state, config.delay) {
                    Ok((s, _)) => s,
                    Err(_) => return,
                };
            }
            let n = state.spans.len().min(config.batch);
            (state.spans.drain(..n).collect::<Vec<_>>(), state.closing)
        };
        if !batch.is_empty() {
            let body = document(&config, &batch).to_string();
            let mut post = client.post(&config.url).header("content-type", "application/json").body(body);
            for (k, v) in &config.headers {
                post = post.header(k.as_str(), v.as_str());
            }
            // Built inside the runtime: the request's timeout needs its timer.
            let outcome = runtime.block_on(async move { post.send().await });
            let problem = match outcome {
                Ok(resp) if resp.status().is_success() => None,
                Ok(resp) => Some(format!("the collector answered {}", resp.status())),
                Err(e) => Some(format!("{e}")),
            };
            if let Some(problem) = problem
                && last_warning.is_none_or(|t| t.elapsed() > Duration::from_secs(60))
            {
                last_warning = Some(std::time::Instant::now());
                tracing::warn!(url = %config.url, spans = batch.len(), problem, "could not export traces; these spans are dropped");
            }
        }
        let dropped = queue.dropped.load(Ordering::Relaxed);
        if dropped > reported_drops {
            tracing::warn!(
                dropped = dropped - reported_drops,
                "the trace queue was full (OTEL_BSP_MAX_QUEUE_SIZE); spans were dropped"
            );
            reported_drops = dropped;
        }
        if closing && queue.spans.lock().map_or(true, |s| s.spans.is_empty()) {
            return;
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn config(vars: &[(&str, &str)]) -> Result<Option<Config>, String> {
        Config::from_vars(|name| vars.iter().find(|(k, _)| *k == name).map(|(_, v)| v.to_string()))
    }

    #[test]
    fn reads_the_standard_variables() {
        assert!(config(&[]).unwrap().is_none());
        let c = config(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318/")]).unwrap().unwrap();
        assert_eq!(c.url, "http://127.0.0.1:4318/v1/traces");
        assert_eq!(c.sampler, Sampler::ParentBased(&ON));
        let c = config(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://a:4318"),
            ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "https://b/traces"),
            ("OTEL_EXPORTER_OTLP_HEADERS", "api-key=a%3Db, x = y "),
            ("OTEL_SERVICE_NAME", "orders"),
            ("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment=prod,service.name=ignored"),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
            ("OTEL_TRACES_SAMPLER", "traceidratio"),
            ("OTEL_TRACES_SAMPLER_ARG", "0.25"),
        ])
        .unwrap()
        .unwrap();
        assert_eq!(c.url, "https://b/traces");
        assert_eq!(c.headers, [("api-key".to_string(), "a=b".to_string()), ("x".to_string(), "y".to_string())]);
        assert_eq!(c.resource[0], ("service.name".to_string(), "orders".to_string()));
        assert!(c.resource.contains(&("deployment.environment".to_string(), "prod".to_string())));
        assert_eq!(c.unsupported_protocol.as_deref(), Some("grpc"));
        assert_eq!(c.sampler, Sampler::Ratio(0.25));
        assert!(
            config(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://a"), ("OTEL_SDK_DISABLED", "true")]).unwrap().is_none()
        );
        let bad = config(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://a"), ("OTEL_TRACES_SAMPLER", "sometimes")]);
        assert!(bad.unwrap_err().contains("OTEL_TRACES_SAMPLER"));
        assert!(config(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "localhost:4318")]).is_err());
        assert!(config(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://a"), ("OTEL_BSP_SCHEDULE_DELAY", "soon")]).is_err());
    }

    #[test]
    fn traceparent_is_read_as_w3c_says() {
        let (trace, parent, sampled) =
            parse_traceparent("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01").unwrap();
        assert_eq!(hex(&trace), "0af7651916cd43dd8448eb211c80319c");
        assert_eq!(hex(&parent), "b7ad6b7169203331");
        assert!(sampled);
        assert!(!parse_traceparent("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00").unwrap().2);
        for bad in [
            "",
            "01-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
            "00-00000000000000000000000000000000-b7ad6b7169203331-01",
            "00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01",
            "00-0af7651916cd43dd8448eb211c8031zz-b7ad6b7169203331-01",
            "00-0af7651916cd43dd-b7ad6b7169203331-01",
        ] {
            assert!(parse_traceparent(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn a_ratio_keeps_about_that_share_of_traces() {
        let layer_ids = AtomicU64::new(7);
        let sampler = Sampler::Ratio(0.25);
        let kept = (0..10_000)
            .filter(|_| {
                let mut id = [0u8; 16];
                id[8..]
                    .copy_from_slice(&mix(layer_ids.fetch_add(0x9e37_79b9_7f4a_7c15, Ordering::Relaxed)).to_be_bytes());
                sampler.root(&id, None)
            })
            .count();
        assert!((2_200..2_800).contains(&kept), "{kept}");
        assert!(!Sampler::ParentBased(&ON).root(&[1; 16], Some(false)));
        assert!(Sampler::ParentBased(&OFF).root(&[1; 16], Some(true)));
    }

    #[test]
    fn a_batch_is_an_otlp_json_document() {
        let c = config(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://a")]).unwrap().unwrap();
        let span = Finished {
            trace_id: [0xab; 16],
            span_id: [0x01; 8],
            parent: Some([0x02; 8]),
            name: Cow::Borrowed("step"),
            kind: 1,
            start: 10,
            end: 20,
            attributes: vec![("request_id", json!("r1")), ("status", json!(201)), ("ok", json!(true))],
            error: Some("boom".into()),
        };
        let doc = document(&c, &[span]);
        let s = &doc["resourceSpans"][0]["scopeSpans"][0]["spans"][0];
        assert_eq!(s["traceId"], "abababababababababababababababab");
        assert_eq!(s["spanId"], "0101010101010101");
        assert_eq!(s["parentSpanId"], "0202020202020202");
        assert_eq!(s["startTimeUnixNano"], "10");
        assert_eq!(s["attributes"][0], json!({"key": "request_id", "value": {"stringValue": "r1"}}));
        assert_eq!(s["attributes"][1], json!({"key": "status", "value": {"intValue": "201"}}));
        assert_eq!(s["status"], json!({"code": 2, "message": "boom"}));
        assert_eq!(
            doc["resourceSpans"][0]["resource"]["attributes"][0],
            json!({"key": "service.name", "value": {"stringValue": "sluice"}})
        );
    }
}
