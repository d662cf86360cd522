//! `GET /metrics`: Prometheus text with HTTP counts and latencies per route, engine gauges read
//! from the store, and the engine's own counters and histograms (`sluice_store::metrics`, recorded
//! by the worker and the group-commit writer).

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::time::Instant;

use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use tracing::Instrument;

use super::{ApiError, AppState, elapsed, route_of};

/// Upper bounds (seconds) of the latency histogram's buckets.
const BUCKETS: [f64; 11] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

#[derive(Default)]
pub struct Metrics {
    inner: Mutex<Recorded>,
}

#[derive(Default)]
struct Recorded {
    /// (method, route, status) → count.
    requests: BTreeMap<(String, String, u16), u64>,
    /// (method, route) → latencies.
    latency: BTreeMap<(String, String), Histogram>,
}

#[derive(Default)]
struct Histogram {
    buckets: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

impl Metrics {
    fn record(&self, method: &str, route: &str, status: u16, seconds: f64) {
        let Ok(mut r) = self.inner.lock() else { return };
        *r.requests.entry((method.to_string(), route.to_string(), status)).or_default() += 1;
        let h = r.latency.entry((method.to_string(), route.to_string())).or_default();
        for (i, bound) in BUCKETS.iter().enumerate() {
            if seconds <= *bound {
                h.buckets[i] += 1;
            }
        }
        h.count += 1;
        h.sum += seconds;
    }

    fn render(&self, out: &mut String) {
        let Ok(r) = self.inner.lock() else { return };
        let _ = writeln!(out, "# HELP sluice_http_requests_total HTTP requests answered, by route and status.");
        let _ = writeln!(out, "# TYPE sluice_http_requests_total counter");
        for ((method, route, status), n) in &r.requests {
            let _ = writeln!(
                out,
                "sluice_http_requests_total{{method=\"{method}\",route=\"{}\",status=\"{status}\"}} {n}",
                escape(route)
            );
        }
        let _ = writeln!(out, "# HELP sluice_http_request_duration_seconds Time to answer an HTTP request.");
        let _ = writeln!(out, "# TYPE sluice_http_request_duration_seconds histogram");
        for ((method, route), h) in &r.latency {
            let labels = format!("method=\"{method}\",route=\"{}\"", escape(route));
            for (bound, n) in BUCKETS.iter().zip(h.buckets) {
                let _ = writeln!(out, "sluice_http_request_duration_seconds_bucket{{{labels},le=\"{bound}\"}} {n}");
            }
            let _ = writeln!(out, "sluice_http_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {}", h.count);
            let _ = writeln!(out, "sluice_http_request_duration_seconds_sum{{{labels}}} {}", h.sum);
            let _ = writeln!(out, "sluice_http_request_duration_seconds_count{{{labels}}} {}", h.count);
        }
    }
}

fn escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

/// Records every answer (after routing, so the label is the route template), in the trace span of
/// the call (exported over OTLP when traces are on; a caller's `traceparent` is its parent).
pub async fn track(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let start = Instant::now();
    let method = req.method().to_string();
    let route = route_of(&req);
    let traceparent = req.headers().get("traceparent").and_then(|v| v.to_str().ok()).unwrap_or_default();
    let span = tracing::info_span!(
        target: "sluice_trace",
        "http",
        otel.name = %format_args!("{method} {route}"),
        http.request.method = %method,
        http.route = %route,
        http.response.status_code = tracing::field::Empty,
        error = tracing::field::Empty,
        traceparent,
    );
    let resp = next.run(req).instrument(span.clone()).await;
    let status = resp.status().as_u16();
    span.record("http.response.status_code", status);
    if status >= 500 {
        span.record("error", format!("answered {status}"));
    }
    state.inner.metrics.record(&method, &route, status, elapsed(start));
    resp
}

/// Prometheus metrics: HTTP counts and latencies by route, engine gauges.
#[utoipa::path(
    get, path = "/metrics", tag = "operations",
    responses((status = 200, description = "Prometheus text format 0.0.4", body = String, content_type = "text/plain")),
)]
pub async fn serve(State(state): State<AppState>) -> Result<Response, ApiError> {
    let store = state.store();
    let active = store.count_requests(Some("active")).await?;
    let error = store.count_requests(Some("error")).await?;
    let due = store.count_due_jobs(Utc::now()).await?;
    let mut out = String::new();
    let gauges = [
        ("sluice_requests_active", "Requests that are active (no open incident).", active),
        ("sluice_requests_with_open_incidents", "Requests held by an unresolved incident (status error).", error),
        ("sluice_jobs_due", "Jobs due now and not claimed: the worker's queue depth.", due),
    ];
    for (name, help, value) in gauges {
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} gauge");
        let _ = writeln!(out, "{name} {value}");
    }
    let _ = writeln!(out, "# HELP sluice_incidents_open Requests held by an unresolved incident.");
    let _ = writeln!(out, "# TYPE sluice_incidents_open gauge");
    let _ = writeln!(out, "sluice_incidents_open {error}");
    sluice_store::metrics::engine_metrics().render(&mut out);
    state.inner.metrics.render(&mut out);
    Ok(([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], out).into_response())
}
