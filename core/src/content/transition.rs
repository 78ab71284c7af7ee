//! State changes along a type's lifecycle (see [`crate::workflow`]): roles, required comments,
//! the governing plugin's guard (also asked without taking a transition, for the review
//! queue), the public view and the history. Transitions for later are in `schedule.rs`.

use chrono::{DateTime, Utc};

use super::commit::{audit, replace_index_keys, transition_event};
use super::entry::EntryRecord;
use super::keys;
use super::{ContentError, ContentResult, ContentService, TransitionContext};
use crate::schema::{ContentType, FieldError};
use crate::store::Tree;
use crate::workflow::{HistoryItem, HistoryKind, TransitionDef, Wanted, WorkflowDef, role_may};

/// What a caller asks for.
#[derive(Debug, Clone)]
pub struct TransitionRequest {
    /// A transition name (`approve`) or a target state (`published`).
    pub wanted: Wanted,
    pub comment: Option<String>,
    /// Take it at this time instead of now (a time in the past means now).
    pub at: Option<DateTime<Utc>>,
    /// The caller's role; `None` is the system itself (every transition allowed).
    pub role: Option<String>,
}

impl TransitionRequest {
    /// A request for the target state `to`, by the system.
    pub fn to(to: &str) -> Self {
        TransitionRequest {
            wanted: Wanted::To(to.to_string()),
            comment: None,
            at: None,
            role: None,
        }
    }
}

/// What happened to one due scheduled transition.
#[derive(Debug)]
pub struct ScheduleOutcome {
    pub ty: String,
    pub id: String,
    pub result: ContentResult<EntryRecord>,
}

/// The longest transition comment accepted, in characters.
pub const MAX_COMMENT_CHARS: usize = 2000;
/// How many of the newest history items a guard is handed.
pub const GUARD_HISTORY_ITEMS: usize = 200;

#[allow(clippy::too_many_arguments)]
pub(super) fn history_item(
    kind: HistoryKind,
    transition: Option<&str>,
    (from, to): (&str, &str),
    actor: Option<&str>,
    role: Option<&str>,
    comment: Option<&str>,
    version: u64,
    at: DateTime<Utc>,
) -> HistoryItem {
    HistoryItem {
        role: role.map(String::from),
        comment: comment.map(String::from),
        ..HistoryItem::change(kind, transition, (from, to), actor, version, at)
    }
}

impl ContentService {
    /// The lifecycle of a type: the governing plugin's name and workflow, or the default.
    pub fn lifecycle(&self, ct: &ContentType) -> (Option<String>, WorkflowDef) {
        match self.hooks().and_then(|h| h.lifecycle(ct)) {
            Some((plugin, wf)) => (Some(plugin), wf),
            None => (None, WorkflowDef::default_for(&ct.name)),
        }
    }

    /// The history of an entry, oldest first.
    pub fn history(&self, ty: &str, id: &str) -> ContentResult<Vec<HistoryItem>> {
        self.content_type(ty)?;
        let items = self.store.scan_prefix(
            Tree::History,
            &keys::history_prefix(ty, id),
            false,
            usize::MAX,
        )?;
        items
            .iter()
            .map(|(_, v)| {
                serde_json::from_slice(v)
                    .map_err(|e| ContentError::Corrupt(format!("history item: {e}")))
            })
            .collect()
    }

    /// Adds a history item to `plan`.
    pub(super) fn plan_history(
        &self,
        plan: &mut super::plan::Plan,
        ty: &str,
        id: &str,
        item: &HistoryItem,
    ) {
        plan.put(
            Tree::History,
            keys::history(ty, id, &self.new_id()),
            serde_json::to_vec(item).unwrap_or_default(),
        );
    }

    /// Moves an entry to the state `to`, as the system (no role check).
    pub fn transition(
        &self,
        ty: &str,
        id: &str,
        to: &str,
        actor: Option<&str>,
    ) -> ContentResult<EntryRecord> {
        self.request_transition(ty, id, &TransitionRequest::to(to), actor)
    }

    /// [`Self::request_transition`] for a target state with the caller's role and comment.
    pub fn transition_with(
        &self,
        ty: &str,
        id: &str,
        to: &str,
        actor: Option<&str>,
        ctx: &TransitionContext,
    ) -> ContentResult<EntryRecord> {
        let req = TransitionRequest {
            wanted: Wanted::To(to.to_string()),
            comment: ctx.comment.clone(),
            at: None,
            role: ctx.role.clone(),
        };
        self.request_transition(ty, id, &req, actor)
    }

    /// Takes (or schedules) a transition of an entry along its type's lifecycle.
    pub fn request_transition(
        &self,
        ty: &str,
        id: &str,
        req: &TransitionRequest,
        actor: Option<&str>,
    ) -> ContentResult<EntryRecord> {
        let ct = self.content_type(ty)?.clone();
        let (plugin, wf) = self.lifecycle(&ct);
        let current = self.get(ty, id)?;
        let candidates = wf.candidates(&current.state, &req.wanted);
        // Publishing needs the required plugins; taking an entry offline never does.
        if candidates.iter().any(|t| wf.is_public(&t.to_state)) {
            self.check_required(&ct)?;
        }
        if candidates.is_empty() {
            return Err(ContentError::InvalidTransition {
                from: current.state.clone(),
                to: req.wanted.to_string(),
                allowed: wf.options_from(&current.state),
            });
        }
        let permitted: Vec<TransitionDef> = candidates
            .iter()
            .filter(|t| role_may(t, req.role.as_deref()))
            .cloned()
            .collect();
        let Some(first) = permitted.first() else {
            let t = &candidates[0];
            return Err(ContentError::RoleNotAllowed {
                transition: t.name.clone(),
                roles: t.roles.clone(),
                role: req.role.clone().unwrap_or_default(),
            });
        };
        let comment = req
            .comment
            .as_deref()
            .map(str::trim)
            .filter(|c| !c.is_empty());
        if let Some(c) = comment
            && c.chars().count() > MAX_COMMENT_CHARS
        {
            return Err(ContentError::Invalid {
                errors: vec![FieldError::new(
                    "/comment",
                    format!(
                        "a transition comment may have at most {MAX_COMMENT_CHARS} characters; this one has {}",
                        c.chars().count()
                    ),
                )],
            });
        }
        if first.comment_required && comment.is_none() {
            return Err(ContentError::Invalid {
                errors: vec![FieldError::new(
                    "/comment",
                    format!(
                        "{} needs a comment: say what should change (--comment \"…\")",
                        first.name
                    ),
                )],
            });
        }
        let ctx = TransitionContext {
            role: req.role.clone(),
            comment: comment.map(String::from),
        };
        let chosen = self.guard(plugin.as_deref(), &ct, &current, &permitted, actor, &ctx)?;
        let now = Utc::now();
        match req.at {
            Some(at) if at > now => {
                self.plan_schedule(&ct, &current, &chosen, at, actor, &ctx, now)
            }
            _ => self.apply_transition(
                &ct,
                &wf,
                (id, current.version, &current.state),
                &chosen,
                actor,
                &ctx,
                now,
            ),
        }
    }

    /// Asks the governing plugin about each candidate in order; the first allowed wins.
    pub(super) fn guard(
        &self,
        plugin: Option<&str>,
        ct: &ContentType,
        current: &EntryRecord,
        candidates: &[TransitionDef],
        actor: Option<&str>,
        ctx: &TransitionContext,
    ) -> ContentResult<TransitionDef> {
        let (Some(plugin), Some(hooks)) = (plugin, self.hooks()) else {
            return Ok(candidates[0].clone());
        };
        if !hooks.available(plugin) {
            // Fail closed: without its governing plugin a type takes no transition, except
            // one that takes a public entry offline (always safe, and needed in an emergency).
            let (_, wf) = self.lifecycle(ct);
            if let Some(t) = candidates
                .iter()
                .find(|t| wf.is_public(&current.state) && !wf.is_public(&t.to_state))
            {
                return Ok(t.clone());
            }
            return Err(ContentError::PluginUnavailable {
                ty: ct.name.clone(),
                plugin: plugin.to_string(),
            });
        }
        let (history, seen, actor) = self.guard_view(ct, current, actor)?;
        let mut first_denial = None;
        for t in candidates {
            match hooks.on_transition(plugin, ct, &seen, t, actor.as_deref(), ctx, &history)? {
                None => return Ok(t.clone()),
                Some(reason) => {
                    first_denial.get_or_insert(reason);
                }
            }
        }
        Err(ContentError::Denied {
            plugin: plugin.to_string(),
            reason: first_denial.unwrap_or_default(),
        })
    }

    /// What a guard is shown: a bounded history and the entry, with people instead of tokens,
    /// and the actor as a person.
    fn guard_view(
        &self,
        ct: &ContentType,
        current: &EntryRecord,
        actor: Option<&str>,
    ) -> ContentResult<(Vec<HistoryItem>, EntryRecord, Option<String>)> {
        // The guard sees a bounded history: its input must not grow with the entry's past
        // (an unbounded one let callers push the governing plugin over its memory limit).
        let mut history = self.history(&ct.name, &current.id)?;
        if history.len() > GUARD_HISTORY_ITEMS {
            history.drain(..history.len() - GUARD_HISTORY_ITEMS);
        }
        for h in &mut history {
            if let Some(c) = &mut h.comment
                && c.chars().count() > MAX_COMMENT_CHARS
            {
                *c = c.chars().take(MAX_COMMENT_CHARS).collect();
            }
        }
        // The guard sees people, not tokens: one person with two tokens is one person to the
        // four-eyes rule (a token that names no person stands for itself).
        let auth = self.auth();
        let person = |a: &str| auth.person_of(a);
        for h in &mut history {
            h.actor = person(&h.actor);
        }
        let mut seen = current.clone();
        seen.created_by = seen.created_by.as_deref().map(person);
        seen.updated_by = seen.updated_by.as_deref().map(person);
        Ok((history, seen, actor.map(person)))
    }

    /// The transitions toward publication (see [`WorkflowDef::advances`]) that `actor`, in
    /// `role`, may take on `current` now: the role's transitions that the governing plugin's
    /// guard allows, asked without taking them. Empty for a type no plugin governs or whose
    /// plugin cannot be asked; the review queue is built from this, so the plugin's rules
    /// (four eyes, N approvals) decide what waits for whom.
    pub fn actions_for(
        &self,
        ct: &ContentType,
        current: &EntryRecord,
        role: &str,
        actor: &str,
    ) -> ContentResult<Vec<TransitionDef>> {
        let (plugin, wf) = self.lifecycle(ct);
        let (Some(plugin), Some(hooks)) = (plugin, self.hooks()) else {
            return Ok(Vec::new());
        };
        let candidates: Vec<&TransitionDef> = wf
            .transitions
            .iter()
            .filter(|t| t.name != crate::workflow::ON_EDIT)
            .filter(|t| t.from_states.contains(&current.state))
            .filter(|t| role_may(t, Some(role)) && wf.advances(&current.state, t))
            .collect();
        if candidates.is_empty() || !hooks.available(&plugin) {
            return Ok(Vec::new());
        }
        let (history, seen, actor) = self.guard_view(ct, current, Some(actor))?;
        let ctx = TransitionContext {
            role: Some(role.to_string()),
            comment: None,
        };
        let mut allowed = Vec::new();
        for t in candidates {
            if hooks
                .on_transition(&plugin, ct, &seen, t, actor.as_deref(), &ctx, &history)?
                .is_none()
            {
                allowed.push(t.clone());
            }
        }
        Ok(allowed)
    }

    /// Writes a transition: the state, the public view, the history, audit and change feed.
    /// Fails with a conflict if the entry changed since the guard saw it.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn apply_transition(
        &self,
        ct: &ContentType,
        wf: &WorkflowDef,
        (id, version, state): (&str, u64, &str),
        t: &TransitionDef,
        actor: Option<&str>,
        ctx: &TransitionContext,
        now: DateTime<Utc>,
    ) -> ContentResult<EntryRecord> {
        let ty = ct.name.as_str();
        self.commit_plan(|plan| {
            let old = self.read_current(plan, ct, id)?;
            if old.version != version || old.state != state {
                return Err(ContentError::VersionConflict {
                    expected: version,
                    current: old.version,
                });
            }
            let mut rec = old.clone();
            // `updated_by` stays the last editor of the fields; who moved it is in the history.
            rec.state = t.to_state.clone();
            if let Some(s) = &old.scheduled {
                plan.remove(Tree::Meta, keys::schedule(s.at.timestamp_millis(), ty, id));
                rec.scheduled = None;
            }
            let published_before = self.published_record(plan, ct, &old)?;
            let to_public = wf.is_public(&t.to_state);
            let leaves_public =
                (wf.is_public(&old.state) && !to_public) || t.to_state == super::State::ARCHIVED;
            let mut errors = Vec::new();
            if to_public {
                self.plan_publish(
                    plan,
                    ct,
                    &mut rec,
                    published_before.as_ref(),
                    now,
                    &mut errors,
                )?;
                if !errors.is_empty() {
                    return Err(ContentError::Invalid { errors });
                }
            } else if leaves_public && let Some(before) = &published_before {
                self.plan_unpublish(plan, ct, before)?;
                rec.published_version = None;
            }
            replace_index_keys(plan, &old, &rec);
            plan.put(Tree::Entries, keys::entry(ty, id), rec.to_bytes());
            let public = to_public || (leaves_public && published_before.is_some());
            plan.change(transition_event(
                "state",
                &rec,
                Some(&old.state),
                public,
                now,
            ));
            self.plan_history(
                plan,
                ty,
                id,
                &history_item(
                    HistoryKind::Transition,
                    Some(&t.name),
                    (&old.state, &rec.state),
                    actor,
                    ctx.role.as_deref(),
                    ctx.comment.as_deref(),
                    rec.version,
                    now,
                ),
            );
            audit(
                plan,
                actor,
                "entry.transition",
                (ty.to_string(), id.to_string()),
                (Some(rec.version), Some(rec.version)),
                Some(format!("{}: {} -> {}", t.name, old.state, rec.state)),
            );
            Ok(rec)
        })
    }
}
