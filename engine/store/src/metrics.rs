//! The engine's own metrics: counters and histograms the store and the worker record into, and
//! that the binary renders as Prometheus text on `/metrics`. No HTTP here: this is the port; the
//! API crate only calls [`EngineMetrics::render`].
//!
//! One set per process ([`engine_metrics`]): a node runs one engine. Recording is a few atomic
//! adds (histograms) or a short lock on a small map (labelled counters); [`set_enabled`] turns
//! recording off (the durable benchmark measures the difference).
//!
//! Cardinality: labels are the process key, the connector type and an outcome out of a fixed
//! set, never a Request id. Element durations alone are labelled by element id too: their
//! number is bounded by the deployed models (elements that wait), not by traffic. A deployment
//! with many process keys has that many series per labelled metric, and no more.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};

/// Upper bounds (seconds) of latency buckets: 1 ms to 10 s.
pub const LATENCY_BUCKETS: &[f64] = &[0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];
/// Upper bounds (seconds) of timer lag buckets: 10 ms to 5 min.
pub const LAG_BUCKETS: &[f64] = &[0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0];
/// Upper bounds (seconds) of element durations: 10 ms to a week (a person's task takes days).
pub const DURATION_BUCKETS: &[f64] =
    &[0.01, 0.1, 1.0, 10.0, 60.0, 300.0, 1800.0, 3600.0, 14_400.0, 86_400.0, 604_800.0];
/// Upper bounds of the commit batch size (ops per transaction).
pub const BATCH_BUCKETS: &[f64] = &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1024.0];

static ENABLED: AtomicBool = AtomicBool::new(true);

/// Turns recording on or off for the whole process (on by default).
pub fn set_enabled(on: bool) {
    ENABLED.store(on, Ordering::Relaxed);
}

/// Whether recording is on (see [`set_enabled`]).
pub fn enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

/// This process's engine metrics.
pub fn engine_metrics() -> &'static EngineMetrics {
    static M: OnceLock<EngineMetrics> = OnceLock::new();
    M.get_or_init(EngineMetrics::default)
}

/// A histogram without labels: atomic buckets.
pub struct Histogram {
    bounds: &'static [f64],
    buckets: Vec<AtomicU64>,
    count: AtomicU64,
    /// The sum in millionths (of a second, or of a unit).
    sum_micros: AtomicU64,
}

impl Histogram {
    fn new(bounds: &'static [f64]) -> Self {
        Histogram {
            bounds,
            buckets: bounds.iter().map(|_| AtomicU64::new(0)).collect(),
            count: AtomicU64::new(0),
            sum_micros: AtomicU64::new(0),
        }
    }

    pub fn observe(&self, value: f64) {
        if !enabled() {
            return;
        }
        let value = if value.is_finite() { value.max(0.0) } else { 0.0 };
        if let Some(i) = self.bounds.iter().position(|b| value <= *b) {
            self.buckets[i].fetch_add(1, Ordering::Relaxed);
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_micros.fetch_add((value * 1e6) as u64, Ordering::Relaxed);
    }

    fn render(&self, out: &mut String, name: &str, labels: &str) {
        let mut cumulative = 0;
        let sep = if labels.is_empty() { "" } else { "," };
        for (bound, n) in self.bounds.iter().zip(&self.buckets) {
            cumulative += n.load(Ordering::Relaxed);
            let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"{bound}\"}} {cumulative}");
        }
        let count = self.count.load(Ordering::Relaxed);
        let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"+Inf\"}} {count}");
        let sum = self.sum_micros.load(Ordering::Relaxed) as f64 / 1e6;
        let braces = |s: &str| if s.is_empty() { String::new() } else { format!("{{{s}}}") };
        let _ = writeln!(out, "{name}_sum{} {sum}", braces(labels));
        let _ = writeln!(out, "{name}_count{} {count}", braces(labels));
    }
}

/// Counters by label values.
pub struct Counters {
    labels: &'static [&'static str],
    values: Mutex<BTreeMap<Vec<String>, u64>>,
}

impl Counters {
    fn new(labels: &'static [&'static str]) -> Self {
        Counters { labels, values: Mutex::new(BTreeMap::new()) }
    }

    pub fn inc(&self, values: &[&str]) {
        self.add(values, 1);
    }

    /// The count for these label values (0 if never counted).
    pub fn get(&self, values: &[&str]) -> u64 {
        let Ok(m) = self.values.lock() else { return 0 };
        m.get(values.iter().map(|s| s.to_string()).collect::<Vec<_>>().as_slice()).copied().unwrap_or(0)
    }

    pub fn add(&self, values: &[&str], n: u64) {
        if !enabled() || n == 0 {
            return;
        }
        let Ok(mut m) = self.values.lock() else { return };
        match m.get_mut(values.iter().map(|s| s.to_string()).collect::<Vec<_>>().as_slice()) {
            Some(v) => *v += n,
            None => {
                m.insert(values.iter().map(|s| s.to_string()).collect(), n);
            }
        }
    }

    fn render(&self, out: &mut String, name: &str) {
        let Ok(m) = self.values.lock() else { return };
        for (values, n) in m.iter() {
            let _ = writeln!(out, "{name}{{{}}} {n}", label_text(self.labels, values));
        }
    }
}

/// Histograms by label values.
pub struct Histograms {
    labels: &'static [&'static str],
    bounds: &'static [f64],
    values: Mutex<BTreeMap<Vec<String>, std::sync::Arc<Histogram>>>,
}

impl Histograms {
    fn new(labels: &'static [&'static str], bounds: &'static [f64]) -> Self {
        Histograms { labels, bounds, values: Mutex::new(BTreeMap::new()) }
    }

    pub fn observe(&self, values: &[&str], value: f64) {
        if !enabled() {
            return;
        }
        let h = {
            let Ok(mut m) = self.values.lock() else { return };
            let key: Vec<String> = values.iter().map(|s| s.to_string()).collect();
            m.entry(key).or_insert_with(|| std::sync::Arc::new(Histogram::new(self.bounds))).clone()
        };
        h.observe(value);
    }

    fn render(&self, out: &mut String, name: &str) {
        let Ok(m) = self.values.lock() else { return };
        for (values, h) in m.iter() {
            h.render(out, name, &label_text(self.labels, values));
        }
    }
}

fn label_text(names: &[&str], values: &[String]) -> String {
    names
        .iter()
        .zip(values)
        .map(|(n, v)| format!("{n}=\"{}\"", v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")))
        .collect::<Vec<_>>()
        .join(",")
}

/// Every metric the engine records (names on `/metrics` in [`EngineMetrics::render`]).
pub struct EngineMetrics {
    pub requests_started: Counters,
    pub requests_completed: Counters,
    pub requests_failed: Counters,
    pub requests_canceled: Counters,
    pub jobs_claimed: AtomicU64,
    pub jobs_failed: AtomicU64,
    pub jobs_retried: AtomicU64,
    pub connector_calls: Counters,
    pub connector_duration: Histograms,
    /// Activation to completion of elements that waited (tasks, catch events, connector calls,
    /// sub-processes), by process and element id.
    pub element_duration: Histograms,
    pub slack_posts: Counters,
    pub timer_lag: Histogram,
    pub timers_fired: AtomicU64,
    pub commit_duration: Histogram,
    pub commit_batch_size: Histogram,
}

impl Default for EngineMetrics {
    fn default() -> Self {
        EngineMetrics {
            requests_started: Counters::new(&["process"]),
            requests_completed: Counters::new(&["process"]),
            requests_failed: Counters::new(&["process"]),
            requests_canceled: Counters::new(&["process"]),
            jobs_claimed: AtomicU64::new(0),
            jobs_failed: AtomicU64::new(0),
            jobs_retried: AtomicU64::new(0),
            connector_calls: Counters::new(&["type", "outcome"]),
            connector_duration: Histograms::new(&["type"], LATENCY_BUCKETS),
            element_duration: Histograms::new(&["process", "element"], DURATION_BUCKETS),
            slack_posts: Counters::new(&["outcome"]),
            timer_lag: Histogram::new(LAG_BUCKETS),
            timers_fired: AtomicU64::new(0),
            commit_duration: Histogram::new(LATENCY_BUCKETS),
            commit_batch_size: Histogram::new(BATCH_BUCKETS),
        }
    }
}

impl EngineMetrics {
    /// Adds `n` to one of the unlabelled counters.
    pub fn count(&self, counter: &AtomicU64, n: u64) {
        if enabled() {
            counter.fetch_add(n, Ordering::Relaxed);
        }
    }

    /// Appends the engine's metrics in Prometheus text format 0.0.4.
    pub fn render(&self, out: &mut String) {
        let head = |out: &mut String, name: &str, kind: &str, help: &str| {
            let _ = writeln!(out, "# HELP {name} {help}");
            let _ = writeln!(out, "# TYPE {name} {kind}");
        };
        let counters: [(&str, &str, &Counters); 6] = [
            ("sluice_requests_started_total", "Requests started, by process.", &self.requests_started),
            ("sluice_requests_completed_total", "Requests that completed, by process.", &self.requests_completed),
            (
                "sluice_requests_failed_total",
                "Incidents raised (a Request held in status error), by process.",
                &self.requests_failed,
            ),
            ("sluice_requests_canceled_total", "Requests canceled, by process.", &self.requests_canceled),
            ("sluice_connector_calls_total", "Connector calls by connector type and outcome.", &self.connector_calls),
            (
                "sluice_slack_posts_total",
                "Slack notifications by outcome (sent, rate_limited, failed).",
                &self.slack_posts,
            ),
        ];
        for (name, help, c) in counters {
            head(out, name, "counter", help);
            c.render(out, name);
        }
        let plain = [
            ("sluice_jobs_claimed_total", "Jobs claimed by this node's worker.", &self.jobs_claimed),
            ("sluice_jobs_failed_total", "Job runs that failed and were given back.", &self.jobs_failed),
            (
                "sluice_jobs_retried_total",
                "Connector calls scheduled again after a retryable error.",
                &self.jobs_retried,
            ),
            ("sluice_timers_fired_total", "Timer jobs fired by this node.", &self.timers_fired),
        ];
        for (name, help, c) in plain {
            head(out, name, "counter", help);
            let _ = writeln!(out, "{name} {}", c.load(Ordering::Relaxed));
        }
        head(out, "sluice_connector_call_duration_seconds", "histogram", "Connector call latency by type.");
        self.connector_duration.render(out, "sluice_connector_call_duration_seconds");
        head(
            out,
            "sluice_element_duration_seconds",
            "histogram",
            "Activation to completion of elements that waited (tasks, catch events, connector calls, sub-processes), by process and element.",
        );
        self.element_duration.render(out, "sluice_element_duration_seconds");
        let single: [(&str, &str, &Histogram); 3] = [
            ("sluice_timer_lag_seconds", "Fire time minus due time of timer jobs.", &self.timer_lag),
            ("sluice_store_commit_duration_seconds", "Group-commit transaction latency.", &self.commit_duration),
            ("sluice_store_commit_batch_size", "State changes per group-commit transaction.", &self.commit_batch_size),
        ];
        for (name, help, h) in single {
            head(out, name, "histogram", help);
            h.render(out, name, "");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_cumulative_buckets_and_labels() {
        let m = EngineMetrics::default();
        m.requests_started.inc(&["p\"1"]);
        m.requests_started.inc(&["p\"1"]);
        m.timer_lag.observe(0.02);
        m.timer_lag.observe(2.0);
        let mut out = String::new();
        m.render(&mut out);
        assert!(out.contains("sluice_requests_started_total{process=\"p\\\"1\"} 2"), "{out}");
        assert!(out.contains("sluice_timer_lag_seconds_bucket{le=\"0.05\"} 1"), "{out}");
        assert!(out.contains("sluice_timer_lag_seconds_bucket{le=\"2.5\"} 2"), "{out}");
        assert!(out.contains("sluice_timer_lag_seconds_count 2"), "{out}");
    }
}
