//! Lifecycles: which states an entry of a type can be in, which transitions lead between them,
//! who may take them, and the history of every entry's states.
//!
//! Every type has a lifecycle. The default is `draft → published → archived` (and back). A
//! plugin may govern a type's lifecycle by declaring a [`WorkflowDef`] in its manifest; the core
//! then uses its states and transitions, enforces the roles and required comments, asks the
//! plugin's `on-transition` guard, and keeps the state and the history. Conventions a workflow
//! can use:
//! - A state with `public: true` serves the entry publicly: entering it publishes the current
//!   version (replacing an older public version atomically).
//! - Leaving a public state for a non-public one, or entering `archived`, takes the entry off
//!   the public site. Any other move keeps an older public version public.
//! - Several transitions may share a name and a from-state: the core asks the guard for each,
//!   in declaration order, and takes the first allowed (e.g. `approve` stays in review until
//!   enough approvals are in, then moves on).
//! - A transition named [`ON_EDIT`] is taken by the core itself when an entry in one of its
//!   from-states is edited (e.g. an edit after approval sends the entry back to review). It
//!   never changes the public view.

mod history;

pub use history::{HistoryItem, HistoryKind};

use serde::{Deserialize, Serialize};

/// The name of the transition the core takes on its own when an entry is edited.
pub const ON_EDIT: &str = "on-edit";

/// A state of a lifecycle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StateDef {
    pub name: String,
    pub label: String,
    /// Entries in this state are served publicly.
    pub public: bool,
}

/// A transition of a lifecycle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransitionDef {
    pub name: String,
    pub from_states: Vec<String>,
    pub to_state: String,
    /// Roles that may take it (`editor`, `reviewer`, `admin`); empty: every role that edits
    /// or reviews. Admins may take every transition.
    pub roles: Vec<String>,
    pub comment_required: bool,
}

/// The lifecycle of one content type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkflowDef {
    pub content_type: String,
    pub initial: String,
    pub states: Vec<StateDef>,
    pub transitions: Vec<TransitionDef>,
}

fn state(name: &str, label: &str, public: bool) -> StateDef {
    StateDef {
        name: name.into(),
        label: label.into(),
        public,
    }
}

fn transition(name: &str, from: &[&str], to: &str) -> TransitionDef {
    TransitionDef {
        name: name.into(),
        from_states: from.iter().map(|s| s.to_string()).collect(),
        to_state: to.into(),
        roles: Vec::new(),
        comment_required: false,
    }
}

impl WorkflowDef {
    /// The default lifecycle: draft → published → archived, and back.
    pub fn default_for(ty: &str) -> WorkflowDef {
        WorkflowDef {
            content_type: ty.to_string(),
            initial: "draft".into(),
            states: vec![
                state("draft", "Entwurf", false),
                state("published", "Veröffentlicht", true),
                state("archived", "Archiviert", false),
            ],
            transitions: vec![
                transition("publish", &["draft", "published", "archived"], "published"),
                transition("unpublish", &["published"], "draft"),
                transition("archive", &["draft", "published"], "archived"),
                transition("restore", &["archived"], "draft"),
            ],
        }
    }

    /// Whether entries in `state` are served publicly.
    pub fn is_public(&self, state: &str) -> bool {
        self.states.iter().any(|s| s.name == state && s.public)
    }

    /// Transitions from `from` that match `wanted` (a transition name, or a target state),
    /// in declaration order. [`ON_EDIT`] is never taken on request. An entry in a state this
    /// lifecycle does not know (its governing plugin was removed) can go back to the initial
    /// state.
    pub fn candidates(&self, from: &str, wanted: &Wanted) -> Vec<TransitionDef> {
        let known = self.states.iter().any(|s| s.name == from);
        if !known {
            let reset = TransitionDef {
                name: "reset".into(),
                from_states: vec![from.to_string()],
                to_state: self.initial.clone(),
                roles: Vec::new(),
                comment_required: false,
            };
            return match wanted {
                Wanted::Name(n) if *n == reset.name => vec![reset],
                Wanted::To(t) if *t == reset.to_state => vec![reset],
                _ => Vec::new(),
            };
        }
        self.transitions
            .iter()
            .filter(|t| t.name != ON_EDIT && t.from_states.iter().any(|f| f == from))
            .filter(|t| match wanted {
                Wanted::Name(n) => t.name == *n,
                Wanted::To(s) => t.to_state == *s,
            })
            .cloned()
            .collect()
    }

    /// What can be done from `from`, for error messages: `name (→ to)`.
    pub fn options_from(&self, from: &str) -> Vec<String> {
        let mut out: Vec<String> = self
            .transitions
            .iter()
            .filter(|t| t.name != ON_EDIT && t.from_states.iter().any(|f| f == from))
            .map(|t| format!("{} (→ {})", t.name, t.to_state))
            .collect();
        out.dedup();
        if !self.states.iter().any(|s| s.name == from) {
            out.push(format!("reset (→ {})", self.initial));
        }
        out
    }

    /// Whether `t`, taken from `from`, moves an entry toward publication: to a state at most
    /// as many steps from a public state as `from` (a step that stays, like an approval that
    /// still needs others, counts; sending an entry back or taking it offline does not).
    pub fn advances(&self, from: &str, t: &TransitionDef) -> bool {
        let steps = self.steps_to_public();
        match (steps.get(from), steps.get(t.to_state.as_str())) {
            (Some(f), Some(to)) => to <= f && !self.is_public(from),
            _ => false,
        }
    }

    /// For each state from which a public state can be reached, the fewest transitions it
    /// takes ([`ON_EDIT`] is not a step anyone takes).
    fn steps_to_public(&self) -> std::collections::HashMap<&str, usize> {
        let mut steps: std::collections::HashMap<&str, usize> = self
            .states
            .iter()
            .filter(|s| s.public)
            .map(|s| (s.name.as_str(), 0))
            .collect();
        let mut frontier: Vec<&str> = steps.keys().copied().collect();
        let mut n = 0;
        while !frontier.is_empty() {
            n += 1;
            let mut next = Vec::new();
            for t in self.transitions.iter().filter(|t| t.name != ON_EDIT) {
                if !frontier.contains(&t.to_state.as_str()) {
                    continue;
                }
                for f in &t.from_states {
                    if !steps.contains_key(f.as_str()) {
                        steps.insert(f.as_str(), n);
                        next.push(f.as_str());
                    }
                }
            }
            frontier = next;
        }
        steps
    }

    /// The transition the core takes when an entry in `from` is edited, if any.
    pub fn on_edit(&self, from: &str) -> Option<&TransitionDef> {
        self.transitions
            .iter()
            .find(|t| t.name == ON_EDIT && t.from_states.iter().any(|f| f == from))
    }

    /// Checks a workflow a plugin declares: known states, one initial state, transitions
    /// between declared states.
    pub fn check(&self) -> Result<(), String> {
        let known = |s: &str| self.states.iter().any(|d| d.name == s);
        if !known(&self.initial) {
            return Err(format!(
                "the workflow of {} starts in {:?}, which is not one of its states",
                self.content_type, self.initial
            ));
        }
        for t in &self.transitions {
            for s in t.from_states.iter().chain(std::iter::once(&t.to_state)) {
                if !known(s) {
                    return Err(format!(
                        "transition {} of the {} workflow names the unknown state {s:?}",
                        t.name, self.content_type
                    ));
                }
            }
        }
        Ok(())
    }
}

/// What a caller asks for: a transition by name, or a target state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Wanted {
    Name(String),
    To(String),
}

impl std::fmt::Display for Wanted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Wanted::Name(n) => write!(f, "take the transition {n}"),
            Wanted::To(s) => write!(f, "go to {s}"),
        }
    }
}

/// Whether `role` may take `t`. `None` is the system itself (scheduled transitions).
pub fn role_may(t: &TransitionDef, role: Option<&str>) -> bool {
    match role {
        None | Some("admin") => true,
        Some("reader") => false,
        Some(r) => t.roles.is_empty() || t.roles.iter().any(|x| x == r),
    }
}

/// Takes scheduled transitions when they are due: checks four times a second (so a transition
/// happens within a second of its time) and at once on start, so that one that came due while
/// the server was down is taken right away. Runs until the task is dropped.
///
/// With a `lease` (several nodes on one store), only the node holding it looks; if that node
/// dies, another takes the lease over when it expires and catches up on what came due.
pub async fn run_scheduler(
    content: std::sync::Arc<crate::content::ContentService>,
    lease: std::sync::Arc<std::sync::Mutex<Option<crate::lease::Lease>>>,
) {
    loop {
        let c = content.clone();
        let now = chrono::Utc::now();
        let l = lease.clone();
        let fired = tokio::task::spawn_blocking(move || {
            if let Some(lease) = l.lock().unwrap_or_else(|p| p.into_inner()).as_mut() {
                match lease.hold(c.store().as_ref()) {
                    Ok(true) => {}
                    Ok(false) => return Ok(Vec::new()),
                    Err(e) => return Err(e.into()),
                }
            }
            match c.next_scheduled() {
                Ok(Some(at)) if at <= now => c.run_due(now),
                Ok(_) => Ok(Vec::new()),
                Err(e) => Err(e),
            }
        })
        .await;
        match fired {
            Ok(Ok(outcomes)) => {
                for o in outcomes {
                    match o.result {
                        Ok(rec) => tracing::info!(
                            "scheduled transition: {} {} is now {}",
                            o.ty,
                            o.id,
                            rec.state
                        ),
                        Err(e) => tracing::warn!(
                            "scheduled transition of {} {} was dropped: {e}",
                            o.ty,
                            o.id
                        ),
                    }
                }
            }
            Ok(Err(e)) => tracing::error!("the scheduler could not read its schedule: {e}"),
            Err(e) => tracing::error!("the scheduler failed: {e}"),
        }
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_review_workflow_knows_which_steps_move_toward_publication() {
        let w = WorkflowDef {
            content_type: "story".into(),
            initial: "draft".into(),
            states: vec![
                state("draft", "Entwurf", false),
                state("in_review", "In Prüfung", false),
                state("changes_requested", "Änderungen erbeten", false),
                state("approved", "Freigegeben", false),
                state("published", "Veröffentlicht", true),
                state("archived", "Archiviert", false),
            ],
            transitions: vec![
                transition("submit", &["draft", "changes_requested"], "in_review"),
                transition("approve", &["in_review"], "approved"),
                transition("approve", &["in_review"], "in_review"),
                transition(
                    "request_changes",
                    &["in_review", "approved"],
                    "changes_requested",
                ),
                transition("publish", &["approved"], "published"),
                transition("archive", &["published"], "archived"),
                transition(ON_EDIT, &["approved"], "in_review"),
            ],
        };
        let t = |name: &str, to: &str| {
            w.transitions
                .iter()
                .find(|t| t.name == name && t.to_state == to)
                .unwrap()
        };
        assert!(w.advances("draft", t("submit", "in_review")));
        assert!(w.advances("in_review", t("approve", "approved")));
        // An approval that still needs others stays where it is, and counts.
        assert!(w.advances("in_review", t("approve", "in_review")));
        assert!(w.advances("approved", t("publish", "published")));
        assert!(!w.advances("in_review", t("request_changes", "changes_requested")));
        assert!(!w.advances("published", t("archive", "archived")));
    }

    #[test]
    fn the_default_lifecycle_matches_requests_by_name_and_by_target() {
        let w = WorkflowDef::default_for("story");
        assert!(w.check().is_ok());
        let by_state = w.candidates("draft", &Wanted::To("published".into()));
        assert_eq!(by_state[0].name, "publish");
        assert!(
            w.candidates("draft", &Wanted::Name("unpublish".into()))
                .is_empty()
        );
        assert!(w.is_public("published") && !w.is_public("draft"));
        // An unknown state (its plugin is gone) can be reset to the initial state.
        assert_eq!(
            w.candidates("in_review", &Wanted::To("draft".into()))[0].name,
            "reset"
        );
        assert_eq!(w.options_from("in_review"), vec!["reset (→ draft)"]);
    }

    #[test]
    fn roles_admins_and_the_system() {
        let mut t = transition("approve", &["in_review"], "approved");
        assert!(role_may(&t, Some("editor")));
        assert!(!role_may(&t, Some("reader")));
        t.roles = vec!["reviewer".into()];
        assert!(!role_may(&t, Some("editor")));
        assert!(role_may(&t, Some("reviewer")));
        assert!(role_may(&t, Some("admin")));
        assert!(role_may(&t, None));
    }
}
