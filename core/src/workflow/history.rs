//! The history of an entry: its creation, every edit, every transition and schedule, in order.
//! Written in the same transaction as the change it records.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// What a history item records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum HistoryKind {
    /// The entry was created (in `to_state`).
    Create,
    /// The fields were edited (a new version); `from_state` and `to_state` differ when the
    /// edit moved the entry (an `on-edit` transition).
    Edit,
    /// A transition.
    Transition,
    /// A transition was scheduled for `at_planned`.
    Schedule,
    /// A scheduled transition could not be taken when it was due (`comment` says why).
    ScheduleFailed,
}

/// One item of an entry's history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct HistoryItem {
    pub kind: HistoryKind,
    /// The transition's name (for transitions and schedules).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transition: Option<String>,
    pub from_state: String,
    pub to_state: String,
    /// The token id of who did it (`scheduler` for due scheduled transitions).
    pub actor: String,
    /// The person of that token ("Name <e-mail>"), added when the history is read; absent
    /// for tokens without a person and for the system.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    pub at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// The version of the entry the item is about.
    pub version: u64,
    /// For a schedule: when the transition is due.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at_planned: Option<DateTime<Utc>>,
}

impl HistoryItem {
    /// An item for a creation or an edit (no role, comment or plan).
    pub fn change(
        kind: HistoryKind,
        transition: Option<&str>,
        (from, to): (&str, &str),
        actor: Option<&str>,
        version: u64,
        at: DateTime<Utc>,
    ) -> Self {
        HistoryItem {
            kind,
            transition: transition.map(String::from),
            from_state: from.to_string(),
            to_state: to.to_string(),
            actor: actor.unwrap_or("system").to_string(),
            actor_name: None,
            role: None,
            at,
            comment: None,
            version,
            at_planned: None,
        }
    }
}
