//! What the engine tells operators about a Request's life: the lifecycle counters of
//! [`sluice_store::metrics`] and one `info` log line per lifecycle event (started, completed,
//! canceled, incident), each carrying `request_id` (and `element_id` where there is one), and
//! how long each element that waited took; and the trace context connector calls pass on.

use std::sync::OnceLock;

use sluice_bpmn::Process;
use sluice_engine::{Command, HistoryEvent};
use sluice_store::metrics::engine_metrics;
use sluice_store::{NewEvent, RequestId};

/// The lifecycle events of one write, read from its history events before the write takes them.
#[derive(Default)]
pub(crate) struct Lifecycle {
    completed: bool,
    canceled: bool,
    /// (element id, incident code, message) of each incident raised.
    incidents: Vec<(Option<String>, String, String)>,
    /// (element id, seconds) of each element that completed after waiting since an earlier step.
    waited: Vec<(String, f64)>,
}

impl Lifecycle {
    pub(crate) fn of(events: &[NewEvent], commands: &[Command], process: &Process) -> Self {
        let mut l = Lifecycle::default();
        for c in commands {
            if let Command::ElementCompleted { element, waited_us: Some(us), .. } = c
                && let Some(el) = process.elements.get(element.index())
            {
                l.waited.push((el.id.clone(), *us as f64 / 1e6));
            }
        }
        for e in events {
            match &e.event {
                HistoryEvent::RequestCompleted => l.completed = true,
                HistoryEvent::RequestCanceled => l.canceled = true,
                HistoryEvent::IncidentRaised { code, message, .. } => {
                    l.incidents.push((e.element_id.clone(), code.clone(), message.clone()));
                }
                _ => {}
            }
        }
        l
    }

    /// Records the write's lifecycle events once it committed; `started` for a creation.
    pub(crate) fn committed(&self, process: &str, version: i64, id: RequestId, started: bool) {
        let m = engine_metrics();
        let request_id = id.to_string();
        if started {
            m.requests_started.inc(&[process]);
            tracing::info!(request_id, process, version, event = "request_started", "Request started");
        }
        for (element_id, code, message) in &self.incidents {
            m.requests_failed.inc(&[process]);
            let element_id = element_id.as_deref().unwrap_or("");
            tracing::info!(
                request_id,
                element_id,
                process,
                code,
                message,
                event = "incident_raised",
                "incident raised"
            );
        }
        for (element, seconds) in &self.waited {
            m.element_duration.observe(&[process, element], *seconds);
        }
        if self.completed {
            m.requests_completed.inc(&[process]);
            tracing::info!(request_id, process, version, event = "request_completed", "Request completed");
        }
        if self.canceled {
            m.requests_canceled.inc(&[process]);
            tracing::info!(request_id, process, version, event = "request_canceled", "Request canceled");
        }
    }
}

/// Gives the W3C `traceparent` of a span (or of its nearest exported ancestor), if traces are
/// exported.
pub type TraceContext = fn(&tracing::Id) -> Option<String>;

static TRACE_CONTEXT: OnceLock<TraceContext> = OnceLock::new();

/// Sets where connector calls read their span's trace context (the binary's OpenTelemetry
/// exporter, which knows the ids it gave each span). Once per process; later calls are ignored.
pub fn set_trace_context(source: TraceContext) {
    let _ = TRACE_CONTEXT.set(source);
}

/// The `traceparent` of `span`, when a trace context source is set and the span is traced.
pub(crate) fn traceparent(span: &tracing::Span) -> Option<String> {
    let source = TRACE_CONTEXT.get()?;
    span.id().as_ref().and_then(source)
}
