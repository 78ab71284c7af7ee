//! A small test host for native unit tests of a plugin (`cargo test -p my-plugin`): it hands
//! the plugin entries, settings, the time and query results without a server, and keeps what
//! the plugin logs. On wasm32 the real host answers; off wasm32 every host call of the SDK
//! ([`get`](crate::get), [`query`](crate::query), [`schema`](crate::schema),
//! [`translations`](crate::translations), [`now`](crate::now), [`config`](crate::config),
//! [`log`](crate::log)) goes to the test host installed on the current thread.
//!
//! ```ignore
//! use verbund_plugin::testing::{TestHost, entry};
//! let host = TestHost::new()
//!     .with_entry(entry("member", "m1", serde_json::json!({"name": "Saalebyte", "member_since": "2011-03-01"})))
//!     .with_config("network", "Cluster IT Mitteldeutschland")
//!     .with_now("2026-12-07T10:00:00Z")
//!     .install();
//! let files = MyPlugin::export("certificates".into(), vec![]).unwrap();
//! assert!(host.logs().is_empty());
//! ```
//!
//! Queries understand the filter language's `eq`, `ne`, `in`, `lt`, `lte`, `gt`, `gte` and
//! `contains` on top-level fields and on `id`, `locale` and `state`, comparing text (dates
//! and instants in ISO form compare correctly as text); entries come in id order, paged with
//! a cursor like the server's.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;

use serde_json::Value;

use crate::{Entry, Filter, HostError, LogLevel, Page};

/// An entry with defaults for the metadata: locale `de`, state `draft`, version 1.
pub fn entry(content_type: &str, id: &str, data: Value) -> Entry {
    Entry {
        content_type: content_type.to_string(),
        id: id.to_string(),
        locale: "de".to_string(),
        version: 1,
        state: "draft".to_string(),
        data: data.to_string(),
        created_by: String::new(),
        updated_by: String::new(),
        created_at: "2026-01-01T00:00:00Z".to_string(),
        updated_at: "2026-01-01T00:00:00Z".to_string(),
        published_at: None,
    }
}

#[derive(Default)]
struct State {
    entries: BTreeMap<(String, String), Entry>,
    schemas: BTreeMap<String, Value>,
    not_granted: Vec<String>,
    config: BTreeMap<String, String>,
    now: Option<String>,
    logs: Vec<(LogLevel, String)>,
}

/// What the plugin sees of the world in a native test. Build it, then [`TestHost::install`].
#[derive(Clone, Default)]
pub struct TestHost(Rc<RefCell<State>>);

thread_local! {
    static CURRENT: RefCell<Option<TestHost>> = const { RefCell::new(None) };
}

impl TestHost {
    /// An empty host: no entries, no settings, `now` is 2026-01-01T00:00:00Z.
    pub fn new() -> TestHost {
        TestHost::default()
    }

    /// An entry the plugin can `get` and `query`.
    pub fn with_entry(self, e: Entry) -> TestHost {
        self.0
            .borrow_mut()
            .entries
            .insert((e.content_type.clone(), e.id.clone()), e);
        self
    }

    /// The JSON Schema `schema(content_type)` answers.
    pub fn with_schema(self, content_type: &str, schema: Value) -> TestHost {
        self.0
            .borrow_mut()
            .schemas
            .insert(content_type.to_string(), schema);
        self
    }

    /// A type the plugin was not granted: reading it gives `HostError::NotGranted`.
    pub fn without_grant(self, content_type: &str) -> TestHost {
        self.0
            .borrow_mut()
            .not_granted
            .push(content_type.to_string());
        self
    }

    /// A setting (`config(key)`).
    pub fn with_config(self, key: &str, value: &str) -> TestHost {
        self.0
            .borrow_mut()
            .config
            .insert(key.to_string(), value.to_string());
        self
    }

    /// What `now()` answers.
    pub fn with_now(self, rfc3339: &str) -> TestHost {
        self.0.borrow_mut().now = Some(rfc3339.to_string());
        self
    }

    /// Makes this the host of the current thread (each test runs on its own thread).
    pub fn install(self) -> TestHost {
        CURRENT.with(|c| *c.borrow_mut() = Some(self.clone()));
        self
    }

    /// What the plugin logged so far.
    pub fn logs(&self) -> Vec<(LogLevel, String)> {
        self.0.borrow().logs.clone()
    }
}

fn current() -> TestHost {
    CURRENT.with(|c| c.borrow().clone()).unwrap_or_else(|| {
        panic!(
            "a host call in a native test without a test host: install one with \
             verbund_plugin::testing::TestHost::new().install()"
        )
    })
}

fn granted(s: &State, ty: &str) -> Result<(), HostError> {
    if s.not_granted.iter().any(|t| t == ty) {
        return Err(HostError::NotGranted(format!(
            "this plugin has no grant to read {ty}"
        )));
    }
    Ok(())
}

fn value_of(e: &Entry, field: &str) -> Option<Value> {
    match field {
        "id" => Some(Value::String(e.id.clone())),
        "locale" => Some(Value::String(e.locale.clone())),
        "state" => Some(Value::String(e.state.clone())),
        "created_at" => Some(Value::String(e.created_at.clone())),
        "updated_at" => Some(Value::String(e.updated_at.clone())),
        "published_at" => e.published_at.clone().map(Value::String),
        _ => e.json().get(field).cloned(),
    }
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Whether `e` meets every condition (each one checked, so a bad filter is an error even
/// after a failed condition, as on the host).
fn matches_all(e: &Entry, filters: &[Filter]) -> Result<bool, HostError> {
    let mut ok = true;
    for f in filters {
        ok &= matches(e, f)?;
    }
    Ok(ok)
}

fn matches(e: &Entry, f: &Filter) -> Result<bool, HostError> {
    let v = value_of(e, &f.field);
    let want = f.value.as_str();
    let one = |v: &Value| -> Result<bool, HostError> {
        let t = text(v);
        Ok(match f.op.as_str() {
            "eq" | "contains" => t == want,
            "ne" => t != want,
            "in" => want.split(',').any(|w| w.trim() == t),
            "lt" => t.as_str() < want,
            "lte" => t.as_str() <= want,
            "gt" => t.as_str() > want,
            "gte" => t.as_str() >= want,
            other => return Err(HostError::Invalid(format!("unknown operator {other:?}"))),
        })
    };
    match v {
        None | Some(Value::Null) => Ok(f.op == "ne"),
        Some(Value::Array(items)) => match f.op.as_str() {
            "ne" => Ok(!items.iter().any(|i| text(i) == want)),
            _ => {
                for i in &items {
                    if one(i)? {
                        return Ok(true);
                    }
                }
                Ok(false)
            }
        },
        Some(v) => one(&v),
    }
}

/// The host calls, answered by the thread's test host (same signatures as the generated
/// `host` module).
#[cfg_attr(target_arch = "wasm32", allow(dead_code))]
pub(crate) mod host {
    use super::*;

    pub fn log(level: LogLevel, message: &str) {
        let h = CURRENT.with(|c| c.borrow().clone());
        match h {
            Some(h) => h.0.borrow_mut().logs.push((level, message.to_string())),
            None => eprintln!("[plugin {level:?}] {message}"),
        }
    }

    pub fn get(content_type: &str, id: &str) -> Result<Option<Entry>, HostError> {
        let h = current();
        let s = h.0.borrow();
        granted(&s, content_type)?;
        Ok(s.entries
            .get(&(content_type.to_string(), id.to_string()))
            .cloned())
    }

    pub fn query_page(
        content_type: &str,
        filters: &[Filter],
        limit: u32,
        cursor: Option<&str>,
    ) -> Result<Page, HostError> {
        let h = current();
        let s = h.0.borrow();
        granted(&s, content_type)?;
        let mut out = Vec::new();
        let mut next = None;
        for ((ty, id), e) in &s.entries {
            if ty != content_type || cursor.is_some_and(|c| id.as_str() <= c) {
                continue;
            }
            if !matches_all(e, filters)? {
                continue;
            }
            if out.len() == limit as usize {
                next = out.last().map(|e: &Entry| e.id.clone());
                break;
            }
            out.push(e.clone());
        }
        Ok(Page {
            entries: out,
            next_cursor: next,
        })
    }

    /// The published view: published entries in `locale`, filtered, sorted by the keys
    /// (text order; none: newest `published_at` first), paged by position.
    pub fn query_published(
        content_type: &str,
        locale: &str,
        filters: &[Filter],
        sort: &[String],
        limit: u32,
        cursor: Option<&str>,
    ) -> Result<Page, HostError> {
        let h = current();
        let s = h.0.borrow();
        granted(&s, content_type)?;
        let mut found = Vec::new();
        for ((ty, _), e) in &s.entries {
            if ty != content_type || e.state != "published" || e.locale != locale {
                continue;
            }
            if matches_all(e, filters)? {
                found.push(e.clone());
            }
        }
        let keys: Vec<(String, bool)> = if sort.is_empty() {
            vec![("published_at".to_string(), true)]
        } else {
            sort.iter()
                .map(|k| match k.strip_prefix('-') {
                    Some(f) => (f.to_string(), true),
                    None => (k.clone(), false),
                })
                .collect()
        };
        found.sort_by(|a, b| {
            for (field, desc) in &keys {
                let (x, y) = (
                    value_of(a, field).map(|v| text(&v)).unwrap_or_default(),
                    value_of(b, field).map(|v| text(&v)).unwrap_or_default(),
                );
                let o = if *desc { y.cmp(&x) } else { x.cmp(&y) };
                if o != std::cmp::Ordering::Equal {
                    return o;
                }
            }
            a.id.cmp(&b.id)
        });
        let start: usize = cursor.and_then(|c| c.parse().ok()).unwrap_or(0);
        let end = (start + limit.max(1) as usize).min(found.len());
        Ok(Page {
            entries: found
                .get(start..end)
                .map(<[Entry]>::to_vec)
                .unwrap_or_default(),
            next_cursor: (end < found.len()).then(|| end.to_string()),
        })
    }

    pub fn schema(content_type: &str) -> Result<String, HostError> {
        let h = current();
        let s = h.0.borrow();
        granted(&s, content_type)?;
        s.schemas
            .get(content_type)
            .map(|v| v.to_string())
            .ok_or_else(|| HostError::Invalid(format!("unknown content type {content_type:?}")))
    }

    pub fn translations(content_type: &str, id: &str) -> Result<Vec<Entry>, HostError> {
        Ok(get(content_type, id)?.into_iter().collect())
    }

    pub fn now() -> String {
        let h = current();
        let s = h.0.borrow();
        s.now
            .clone()
            .unwrap_or_else(|| "2026-01-01T00:00:00Z".to_string())
    }

    pub fn config(key: &str) -> Option<String> {
        current().0.borrow().config.get(key).cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn queries_filter_and_page_like_the_server() {
        let _h = TestHost::new()
            .with_entry(entry(
                "member",
                "01",
                json!({"name": "A", "member_since": "2009-11-15"}),
            ))
            .with_entry(entry(
                "member",
                "02",
                json!({"name": "B", "member_since": "2015-01-01"}),
            ))
            .with_entry(entry(
                "member",
                "03",
                json!({"name": "C", "member_since": "2011-03-01", "services": ["cloud"]}),
            ))
            .with_entry(entry("story", "04", json!({"title": "S"})))
            .without_grant("subscriber")
            .with_config("k", "v")
            .install();
        let early = crate::query("member")
            .filter("member_since", "lt", "2012-01-01")
            .run()
            .unwrap();
        assert_eq!(
            early.iter().map(|e| e.id.as_str()).collect::<Vec<_>>(),
            ["01", "03"]
        );
        let p = crate::query("member").limit(2).page().unwrap();
        assert_eq!(p.entries.len(), 2);
        let rest = crate::query("member").after(p.next_cursor).run().unwrap();
        assert_eq!(rest[0].id, "03");
        assert_eq!(
            crate::query("member")
                .eq("services", "cloud")
                .run()
                .unwrap()
                .len(),
            1
        );
        assert!(matches!(
            crate::get("subscriber", "x"),
            Err(HostError::NotGranted(_))
        ));
        assert_eq!(crate::config("k").as_deref(), Some("v"));
        crate::log::info("hallo");
        assert_eq!(_h.logs(), [(LogLevel::Info, "hallo".to_string())]);
    }
}
