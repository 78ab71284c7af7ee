//! From change events to webhook events, and the thin payloads they carry.
//!
//! A payload names what changed (type, id, locale, version, state, sequence number) and never
//! carries content: a receiver fetches what it needs through the delivery API, which shows only
//! what is public. Personal types never reach the change feed at all.

use serde::Deserialize;
use serde_json::{Value, json};

/// Every event type an endpoint can ask for.
pub const EVENT_TYPES: [&str; 11] = [
    "entry.created",
    "entry.updated",
    "entry.published",
    "entry.unpublished",
    "entry.transitioned",
    "entry.scheduled",
    "entry.deleted",
    "asset.created",
    "asset.updated",
    "asset.deleted",
    "plugin.faulted",
];

/// One webhook event derived from one change.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub kind: &'static str,
    pub seq: u64,
    /// The content type of an entry event.
    pub content_type: Option<String>,
    pub locale: Option<String>,
    pub at: String,
    pub data: Value,
}

impl Event {
    /// The `webhook-id`: the same for every attempt, replay and endpoint of this event. The
    /// hash of the event's time and data keeps it unique when a store restored from a backup
    /// numbers later changes again.
    pub fn message_id(&self) -> String {
        let h = xxhash_rust::xxh3::xxh3_64(format!("{}{}", self.at, self.data).as_bytes());
        format!(
            "msg_{}_{}_{:08x}",
            self.seq,
            self.kind.replace('.', "_"),
            h as u32
        )
    }

    /// The body sent: `{"type", "timestamp", "data"}` (Standard Webhooks' payload structure).
    pub fn body(&self) -> String {
        json!({
            "type": self.kind,
            "timestamp": self.at,
            "data": self.data,
        })
        .to_string()
    }
}

#[derive(Deserialize)]
struct Raw {
    op: String,
    #[serde(rename = "type")]
    ty: String,
    id: String,
    #[serde(default)]
    locale: Option<String>,
    #[serde(default)]
    version: u64,
    #[serde(default)]
    state: Option<String>,
    #[serde(default)]
    from: Option<String>,
    #[serde(default)]
    published_version: Option<u64>,
    #[serde(default)]
    public: bool,
    #[serde(default)]
    at: String,
}

/// The webhook events of the change `seq` (none for a change no event is made of).
/// `is_public` tells whether a content type is public: entries of other types make no events.
pub fn events_of(seq: u64, payload: &[u8], is_public: &dyn Fn(&str) -> bool) -> Vec<Event> {
    let Ok(raw) = serde_json::from_slice::<Raw>(payload) else {
        return Vec::new();
    };
    let mut kinds: Vec<&'static str> = Vec::new();
    match (raw.ty.as_str(), raw.op.as_str()) {
        ("asset", "asset.create") => kinds.push("asset.created"),
        ("asset", "asset.update") => kinds.push("asset.updated"),
        ("asset", "asset.delete") => kinds.push("asset.deleted"),
        ("plugin", "plugin.faulted") => kinds.push("plugin.faulted"),
        ("asset" | "plugin", _) => {}
        (ty, op) if is_public(ty) => {
            let published_now = match raw.published_version {
                Some(_) => true,
                // Events from before `published_version` was recorded.
                None => raw.state.as_deref() == Some("published") && raw.op != "delete",
            };
            match op {
                "create" => {
                    kinds.push("entry.created");
                    if raw.public && published_now {
                        kinds.push("entry.published");
                    }
                }
                "update" => kinds.push("entry.updated"),
                "state" => {
                    kinds.push("entry.transitioned");
                    if raw.public {
                        kinds.push(if published_now {
                            "entry.published"
                        } else {
                            "entry.unpublished"
                        });
                    }
                }
                "schedule" => kinds.push("entry.scheduled"),
                "delete" => {
                    if raw.public {
                        kinds.push("entry.unpublished");
                    }
                    kinds.push("entry.deleted");
                }
                _ => {}
            }
        }
        _ => {}
    }
    kinds
        .into_iter()
        .map(|kind| {
            let (content_type, data) = if kind.starts_with("entry.") {
                let mut data = json!({
                    "seq": seq,
                    "content_type": raw.ty,
                    "id": raw.id,
                    "locale": raw.locale,
                    "version": raw.version,
                    "state": raw.state,
                });
                if kind == "entry.transitioned"
                    && let Some(from) = &raw.from
                {
                    data["from"] = json!(from);
                }
                if kind == "entry.published" {
                    data["published_version"] = json!(raw.published_version.unwrap_or(raw.version));
                }
                (Some(raw.ty.clone()), data)
            } else if kind.starts_with("asset.") {
                (
                    None,
                    json!({"seq": seq, "id": raw.id, "version": raw.version}),
                )
            } else {
                (None, json!({"seq": seq, "plugin": raw.id}))
            };
            Event {
                kind,
                seq,
                content_type,
                locale: if kind.starts_with("entry.") {
                    raw.locale.clone()
                } else {
                    None
                },
                at: raw.at.clone(),
                data,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn public(t: &str) -> bool {
        t != "subscriber"
    }

    fn kinds(payload: Value) -> Vec<&'static str> {
        events_of(7, payload.to_string().as_bytes(), &public)
            .into_iter()
            .map(|e| e.kind)
            .collect()
    }

    #[test]
    fn a_publication_is_a_transition_and_a_publication() {
        let p = json!({"op":"state","type":"story","id":"A","locale":"de","version":2,"state":"published","from":"review","published_version":2,"public":true,"at":"2026-12-06T10:00:00Z"});
        assert_eq!(kinds(p), ["entry.transitioned", "entry.published"]);
        let p = json!({"op":"state","type":"story","id":"A","locale":"de","version":2,"state":"archived","from":"published","public":true,"at":""});
        assert_eq!(kinds(p), ["entry.transitioned", "entry.unpublished"]);
        let p = json!({"op":"state","type":"story","id":"A","locale":"de","version":2,"state":"review","from":"draft","public":false,"at":""});
        assert_eq!(kinds(p), ["entry.transitioned"]);
    }

    #[test]
    fn deleting_a_published_entry_unpublishes_it_first() {
        let p = json!({"op":"delete","type":"event","id":"A","version":3,"state":"published","published_version":3,"public":true,"at":""});
        assert_eq!(kinds(p), ["entry.unpublished", "entry.deleted"]);
    }

    #[test]
    fn personal_types_and_unknown_changes_make_no_events() {
        assert!(kinds(json!({"op":"create","type":"subscriber","id":"A","version":1,"state":"draft","public":false,"at":""})).is_empty());
        assert!(kinds(json!({"n": 1000})).is_empty());
    }

    #[test]
    fn payloads_are_thin_and_ids_stable() {
        let p = json!({"op":"create","type":"member","id":"M1","locale":"de","version":1,"state":"published","published_version":1,"public":true,"at":"2026-12-06T10:00:00Z"});
        let events = events_of(42, p.to_string().as_bytes(), &public);
        assert_eq!(events.len(), 2);
        assert!(
            events[1]
                .message_id()
                .starts_with("msg_42_entry_published_")
        );
        assert_ne!(events[0].message_id(), events[1].message_id());
        let body: Value = serde_json::from_str(&events[1].body()).unwrap();
        assert_eq!(body["type"], "entry.published");
        assert_eq!(body["data"]["id"], "M1");
        assert_eq!(body["data"]["locale"], "de");
        assert_eq!(body["data"]["seq"], 42);
        let keys: Vec<&String> = body["data"].as_object().unwrap().keys().collect();
        assert_eq!(
            keys,
            [
                "seq",
                "content_type",
                "id",
                "locale",
                "version",
                "state",
                "published_version"
            ]
        );
    }
}
