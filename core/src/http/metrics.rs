//! `/metrics` in Prometheus text format: requests and latencies per route, entries per type.
//!
//! Series are kept by the `metrics` crate's Prometheus recorder. Each [`AppState`] has its own
//! recorder (not the process-global one), so several servers in one process (tests, benchmarks)
//! never count each other's requests.

use std::collections::HashMap;
use std::sync::RwLock;
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderValue, Method, header};
use axum::response::IntoResponse;
use metrics::{
    Counter, Histogram, Unit, counter, describe_counter, describe_gauge, describe_histogram, gauge,
};
use metrics_exporter_prometheus::{
    Matcher, PrometheusBuilder, PrometheusHandle, PrometheusRecorder,
};

use super::AppState;

const REQUESTS: &str = "verbund_http_requests_total";
const DURATION: &str = "verbund_http_request_duration_seconds";
const ENTRIES: &str = "verbund_entries";
const CHANGE_SEQ: &str = "verbund_change_seq";
const PLUGIN_CALLS: &str = "verbund_plugin_calls_total";
const PLUGIN_FAULTS: &str = "verbund_plugin_faults_total";
const PLUGIN_SECONDS: &str = "verbund_plugin_call_seconds";

/// Upper bounds of the latency histogram, in seconds.
const BUCKETS: [f64; 10] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 2.5,
];

/// The server's recorder and the handle that renders it.
pub struct Metrics {
    recorder: PrometheusRecorder,
    handle: PrometheusHandle,
    /// The request series made so far, by route: a request looks its series up (a read lock,
    /// no allocation) instead of building three label strings each time.
    series: RwLock<HashMap<String, Vec<Series>>>,
}

/// The counter and histogram of one (route, method, status).
struct Series {
    method: &'static str,
    status: u16,
    requests: Counter,
    duration: Histogram,
}

/// A method as a label: the standard ones by name, anything else as `other` (a client must
/// not be able to create series at will).
fn method_label(m: &Method) -> &'static str {
    [
        Method::GET,
        Method::HEAD,
        Method::POST,
        Method::PUT,
        Method::PATCH,
        Method::DELETE,
        Method::OPTIONS,
        Method::TRACE,
        Method::CONNECT,
    ]
    .into_iter()
    .zip([
        "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT",
    ])
    .find_map(|(k, name)| (k == *m).then_some(name))
    .unwrap_or("other")
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Full(DURATION.into()), &BUCKETS)
            .expect("the bucket list is not empty")
            .build_recorder();
        let handle = recorder.handle();
        metrics::with_local_recorder(&recorder, || {
            describe_counter!(REQUESTS, "HTTP requests by method, route and status.");
            describe_histogram!(DURATION, Unit::Seconds, "Time to answer HTTP requests.");
            describe_gauge!(
                ENTRIES,
                "Entries per content type (all states, and published)."
            );
            describe_gauge!(CHANGE_SEQ, "The newest change feed sequence number.");
            describe_counter!(
                PLUGIN_CALLS,
                "Plugin calls by plugin and hook on this node."
            );
            describe_counter!(
                PLUGIN_FAULTS,
                "Plugin calls that failed (trap, limit, malformed output)."
            );
            describe_gauge!(
                PLUGIN_SECONDS,
                Unit::Seconds,
                "Plugin call time (instantiation included) over the last 1000 calls, by quantile."
            );
        });
        Self {
            recorder,
            handle,
            series: RwLock::new(HashMap::new()),
        }
    }
}

impl Metrics {
    pub fn observe(&self, method: &Method, route: &str, status: u16, took: Duration) {
        let method = method_label(method);
        let record = |s: &Series| {
            s.requests.increment(1);
            s.duration.record(took.as_secs_f64());
        };
        let found = |all: &HashMap<String, Vec<Series>>| {
            all.get(route)
                .and_then(|v| v.iter().find(|s| s.method == method && s.status == status))
                .map(record)
                .is_some()
        };
        if found(&self.series.read().unwrap_or_else(|p| p.into_inner())) {
            return;
        }
        let mut all = self.series.write().unwrap_or_else(|p| p.into_inner());
        if found(&all) {
            return;
        }
        let labels = [
            ("method", method.to_string()),
            ("route", route.to_string()),
            ("status", status.to_string()),
        ];
        let series = metrics::with_local_recorder(&self.recorder, || Series {
            method,
            status,
            requests: counter!(REQUESTS, &labels),
            duration: metrics::histogram!(DURATION, &labels),
        });
        record(&series);
        all.entry(route.to_string()).or_default().push(series);
    }
}

pub async fn metrics(State(state): State<AppState>) -> super::typed::Raw<super::typed::Text> {
    let m = &state.metrics;
    metrics::with_local_recorder(&m.recorder, || {
        // Types that are personal data as a whole (subscribers) are not counted here:
        // `/metrics` is public, and a count that moves with a sign-up tells who signed up.
        for ct in state.content.schemas().types().filter(|ct| ct.is_public()) {
            let ty = ct.name.clone();
            let all = state.content.count(&ty, false).unwrap_or(0);
            let published = state.content.count(&ty, true).unwrap_or(0);
            gauge!(ENTRIES, "type" => ty.clone(), "scope" => "all").set(all as f64);
            gauge!(ENTRIES, "type" => ty, "scope" => "published").set(published as f64);
        }
        let seq = state.content.store().last_seq().unwrap_or(0);
        gauge!(CHANGE_SEQ).set(seq as f64);
        if let Some(host) = state.plugins.as_ref() {
            for (plugin, u) in host.all_usage() {
                let l = [("plugin", plugin), ("hook", u.hook.to_string())];
                counter!(PLUGIN_CALLS, &l).absolute(u.calls);
                counter!(PLUGIN_FAULTS, &l).absolute(u.faults);
                for (q, v) in [("0.5", u.p50_ms), ("0.99", u.p99_ms)] {
                    let mut lq = l.to_vec();
                    lq.push(("quantile", q.to_string()));
                    gauge!(PLUGIN_SECONDS, &lq).set(v / 1000.0);
                }
            }
        }
    });
    let mut res = m.handle.render().into_response();
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    super::typed::Raw::new(res)
}
