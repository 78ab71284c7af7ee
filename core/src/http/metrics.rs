//! `/metrics` in Prometheus text format: requests and latencies per route, entries per type.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::sync::Mutex;
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderValue, Method, header};
use axum::response::IntoResponse;

use super::AppState;

/// Method, route and status of a series, for sorted output.
type SeriesKey = (String, String, u16);

/// Upper bounds of the latency histogram, in seconds.
const BUCKETS: [f64; 10] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 2.5,
];

#[derive(Debug, Default)]
struct Series {
    count: u64,
    sum: f64,
    buckets: [u64; BUCKETS.len()],
}

/// Request metrics, keyed by route template, then method and status. Looking a route up by
/// `&str` needs no allocation on the hot path.
#[derive(Debug, Default)]
pub struct Metrics {
    series: Mutex<HashMap<String, RouteSeries>>,
}

/// The series of one route, by method and status.
type RouteSeries = HashMap<(Method, u16), Series>;

impl Metrics {
    pub fn observe(&self, method: &Method, route: &str, status: u16, took: Duration) {
        let secs = took.as_secs_f64();
        let mut all = self.series.lock().unwrap_or_else(|p| p.into_inner());
        if !all.contains_key(route) {
            all.insert(route.to_string(), HashMap::new());
        }
        let Some(by_route) = all.get_mut(route) else {
            return;
        };
        let s = by_route.entry((method.clone(), status)).or_default();
        s.count += 1;
        s.sum += secs;
        for (i, b) in BUCKETS.iter().enumerate() {
            if secs <= *b {
                s.buckets[i] += 1;
            }
        }
    }

    fn render(&self, out: &mut String) {
        let guard = self.series.lock().unwrap_or_else(|p| p.into_inner());
        let all: BTreeMap<SeriesKey, &Series> = guard
            .iter()
            .flat_map(|(r, m)| {
                m.iter()
                    .map(move |((method, st), s)| ((method.to_string(), r.clone(), *st), s))
            })
            .collect();
        out.push_str(
            "# HELP verbund_http_requests_total HTTP requests by method, route and status.\n",
        );
        out.push_str("# TYPE verbund_http_requests_total counter\n");
        for ((m, r, st), s) in all.iter() {
            let _ = writeln!(
                out,
                "verbund_http_requests_total{{method=\"{m}\",route=\"{r}\",status=\"{st}\"}} {}",
                s.count
            );
        }
        out.push_str(
            "# HELP verbund_http_request_duration_seconds Time to answer HTTP requests.\n",
        );
        out.push_str("# TYPE verbund_http_request_duration_seconds histogram\n");
        for ((m, r, st), s) in all.iter() {
            let labels = format!("method=\"{m}\",route=\"{r}\",status=\"{st}\"");
            for (i, b) in BUCKETS.iter().enumerate() {
                let _ = writeln!(
                    out,
                    "verbund_http_request_duration_seconds_bucket{{{labels},le=\"{b}\"}} {}",
                    s.buckets[i]
                );
            }
            let _ = writeln!(
                out,
                "verbund_http_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {}",
                s.count
            );
            let _ = writeln!(
                out,
                "verbund_http_request_duration_seconds_sum{{{labels}}} {}",
                s.sum
            );
            let _ = writeln!(
                out,
                "verbund_http_request_duration_seconds_count{{{labels}}} {}",
                s.count
            );
        }
    }
}

pub async fn metrics(State(state): State<AppState>) -> super::typed::Raw<super::typed::Text> {
    let mut out = String::new();
    state.metrics.render(&mut out);
    out.push_str("# HELP verbund_entries Entries per content type (all states, and published).\n");
    out.push_str("# TYPE verbund_entries gauge\n");
    // Types that are personal data as a whole (subscribers) are not counted here: `/metrics`
    // is public, and a count that moves with a sign-up tells who signed up.
    for ct in state.content.schemas().types().filter(|ct| ct.is_public()) {
        let ty = ct.name.as_str();
        let all = state.content.count(ty, false).unwrap_or(0);
        let published = state.content.count(ty, true).unwrap_or(0);
        let _ = writeln!(out, "verbund_entries{{type=\"{ty}\",scope=\"all\"}} {all}");
        let _ = writeln!(
            out,
            "verbund_entries{{type=\"{ty}\",scope=\"published\"}} {published}"
        );
    }
    let _ = writeln!(
        out,
        "# HELP verbund_change_seq The newest change feed sequence number.\n# TYPE verbund_change_seq gauge"
    );
    let _ = writeln!(
        out,
        "verbund_change_seq {}",
        state.content.store().last_seq().unwrap_or(0)
    );
    let mut res = out.into_response();
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    super::typed::Raw::new(res)
}
