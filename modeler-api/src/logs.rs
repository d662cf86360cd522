//! The server's logs: human text (default) or one JSON object per line (`SLUICE_LOG_FORMAT=json`).
//! Both stamp each line in RFC 3339, UTC, with milliseconds and `Z`.
//!
//! A JSON line carries `timestamp`, `level`, `target`, `message`, the fields of every span it
//! happened in (outermost first: a job's `request_id`, `element_id`, `kind`, `job_id`; a
//! connector call's `connector`), then the event's own fields, all at the top level, so
//! `jq 'select(.request_id == "…")'` finds a Request's whole work.

use std::fmt;
use std::io::Write;

use serde_json::{Map, Value};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Record};
use tracing::{Event, Id, Subscriber};
use tracing_subscriber::Layer;
use tracing_subscriber::filter::filter_fn;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::time::FormatTime;
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;

/// How log lines are written.
#[derive(clap::ValueEnum, Copy, Clone, Debug, Default, PartialEq, Eq)]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

/// The one timestamp format of the logs.
pub fn now_text() -> String {
    chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

struct Rfc3339Millis;

impl FormatTime for Rfc3339Millis {
    fn format_time(&self, w: &mut Writer<'_>) -> fmt::Result {
        write!(w, "{}", now_text())
    }
}

/// Installs the process's logger (stderr), filtered by `RUST_LOG` (default `info`), and, when the
/// `OTEL_*` environment asks for it, the trace exporter (see `otlp.rs`). A malformed `OTEL_*`
/// value is an error naming it.
pub fn init(format: LogFormat) -> Result<(), String> {
    let rust_log = std::env::var("RUST_LOG").unwrap_or_default();
    let mut filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // The spans that exist for traces only stay out of the logs unless asked for by name.
    if !rust_log.contains(crate::otlp::TRACE_TARGET)
        && let Ok(off) = format!("{}=off", crate::otlp::TRACE_TARGET).parse()
    {
        filter = filter.add_directive(off);
    }
    let otlp = match crate::otlp::Config::from_env()? {
        Some(config) => {
            let unsupported = config.unsupported_protocol.clone();
            let url = config.url.clone();
            Some((crate::otlp::start(config)?, url, unsupported))
        }
        None => None,
    };
    let (otlp_layer, said) = match otlp {
        Some((layer, url, unsupported)) => {
            sluice_worker::set_trace_context(crate::otlp::traceparent_of);
            (Some(layer.with_filter(filter_fn(crate::otlp::OtlpLayer::wants))), Some((url, unsupported)))
        }
        None => (None, None),
    };
    match format {
        LogFormat::Text => {
            let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
            let text = tracing_subscriber::fmt::layer()
                .with_ansi(ansi)
                .with_timer(Rfc3339Millis)
                .with_writer(std::io::stderr)
                .with_filter(filter);
            tracing_subscriber::registry().with(otlp_layer).with(text).init();
        }
        LogFormat::Json => {
            tracing_subscriber::registry().with(otlp_layer).with(JsonLines.with_filter(filter)).init();
        }
    }
    if let Some((url, unsupported)) = said {
        tracing::info!(%url, "exporting traces over OTLP (http/json)");
        if let Some(protocol) = unsupported {
            tracing::warn!(
                protocol,
                "OTEL_EXPORTER_OTLP_PROTOCOL asks for a protocol Sluice does not speak; traces are exported as http/json"
            );
        }
    }
    Ok(())
}

/// Writes each event as one JSON object on stderr.
struct JsonLines;

/// A span's fields, kept in its extensions.
struct SpanFields(Map<String, Value>);

/// A span's or event's fields as JSON values, each handed to the closure (the JSON log lines and
/// the OTLP spans read fields this one way).
pub struct Values<F: FnMut(&Field, Value)>(pub F);

impl<F: FnMut(&Field, Value)> Visit for Values<F> {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        (self.0)(field, Value::String(format!("{value:?}")));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        (self.0)(field, Value::String(value.to_string()));
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        (self.0)(field, Value::from(value));
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        (self.0)(field, Value::from(value));
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        (self.0)(field, Value::from(value));
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        (self.0)(field, Value::from(value));
    }
}

/// Records fields into `map` by name.
fn into_map(map: &mut Map<String, Value>) -> Values<impl FnMut(&Field, Value) + '_> {
    Values(move |field: &Field, value| {
        map.insert(field.name().to_string(), value);
    })
}

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for JsonLines {
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let mut fields = Map::new();
        attrs.record(&mut into_map(&mut fields));
        span.extensions_mut().insert(SpanFields(fields));
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let mut ext = span.extensions_mut();
        if let Some(SpanFields(fields)) = ext.get_mut::<SpanFields>() {
            values.record(&mut into_map(fields));
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let mut line = Map::new();
        line.insert("timestamp".into(), Value::String(now_text()));
        line.insert("level".into(), Value::String(event.metadata().level().to_string()));
        line.insert("target".into(), Value::String(event.metadata().target().to_string()));
        if let Some(scope) = ctx.event_scope(event) {
            for span in scope.from_root() {
                if let Some(SpanFields(fields)) = span.extensions().get::<SpanFields>() {
                    line.extend(fields.iter().map(|(k, v)| (k.clone(), v.clone())));
                }
            }
        }
        event.record(&mut into_map(&mut line));
        let mut text = Value::Object(line).to_string();
        text.push('\n');
        let _ = std::io::stderr().lock().write_all(text.as_bytes());
    }
}
