//! Transitions scheduled for later (`publish_at`): planned with a request, shown as
//! `scheduled` on the entry, and taken when due by the scheduler (`workflow::run_scheduler`).

use chrono::{DateTime, Utc};

use super::commit::{audit, change_event};
use super::entry::{EntryRecord, Scheduled};
use super::keys;
use super::transition::{ScheduleOutcome, TransitionRequest, history_item};
use super::{ContentError, ContentResult, ContentService, TransitionContext};
use crate::schema::ContentType;
use crate::store::Tree;
use crate::workflow::{HistoryKind, TransitionDef, Wanted, role_may};

impl ContentService {
    /// Plans a transition for later: the entry shows it as `scheduled` until it is due.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn plan_schedule(
        &self,
        ct: &ContentType,
        current: &EntryRecord,
        t: &TransitionDef,
        at: DateTime<Utc>,
        actor: Option<&str>,
        ctx: &TransitionContext,
        now: DateTime<Utc>,
    ) -> ContentResult<EntryRecord> {
        let ty = ct.name.as_str();
        let id = current.id.as_str();
        self.commit_plan(|plan| {
            let old = self.read_current(plan, ct, id)?;
            if old.version != current.version || old.state != current.state {
                return Err(ContentError::VersionConflict {
                    expected: current.version,
                    current: old.version,
                });
            }
            let mut rec = old.clone();
            if let Some(s) = &old.scheduled {
                plan.remove(Tree::Meta, keys::schedule(s.at.timestamp_millis(), ty, id));
            }
            rec.scheduled = Some(Scheduled {
                transition: t.name.clone(),
                to: t.to_state.clone(),
                at,
                actor: actor.unwrap_or("system").to_string(),
                role: ctx.role.clone(),
                comment: ctx.comment.clone(),
            });
            plan.put(
                Tree::Meta,
                keys::schedule(at.timestamp_millis(), ty, id),
                Vec::new(),
            );
            plan.put(Tree::Entries, keys::entry(ty, id), rec.to_bytes());
            plan.change(change_event("schedule", &rec, false, now));
            let mut item = history_item(
                HistoryKind::Schedule,
                Some(&t.name),
                (&old.state, &t.to_state),
                actor,
                ctx.role.as_deref(),
                ctx.comment.as_deref(),
                rec.version,
                now,
            );
            item.at_planned = Some(at);
            self.plan_history(plan, ty, id, &item);
            audit(
                plan,
                actor,
                "entry.schedule",
                (ty.to_string(), id.to_string()),
                (Some(rec.version), Some(rec.version)),
                Some(format!("{} at {}", t.name, at.to_rfc3339())),
            );
            Ok(rec)
        })
    }

    /// When the next scheduled transition is due, if any.
    pub fn next_scheduled(&self) -> ContentResult<Option<DateTime<Utc>>> {
        let first = self
            .store
            .scan_prefix(Tree::Meta, keys::SCHEDULE_PREFIX, false, 1)?;
        Ok(first.first().and_then(|(k, _)| {
            let ms = k.get(keys::SCHEDULE_PREFIX.len()..keys::SCHEDULE_PREFIX.len() + 8)?;
            let ms = u64::from_be_bytes(ms.try_into().ok()?);
            DateTime::from_timestamp_millis(ms as i64)
        }))
    }

    /// Takes every scheduled transition due at `now`. One that can no longer be taken (the
    /// entry changed, the guard refuses) is dropped and noted in the entry's history.
    pub fn run_due(&self, now: DateTime<Utc>) -> ContentResult<Vec<ScheduleOutcome>> {
        let prefix = keys::SCHEDULE_PREFIX;
        let mut end = prefix.to_vec();
        end.extend_from_slice(&((now.timestamp_millis().max(0) as u64) + 1).to_be_bytes());
        let due = self
            .store
            .scan_range(Tree::Meta, prefix, &end, false, 1000)?;
        let mut out = Vec::new();
        for (k, _) in due {
            let rest = &k[prefix.len() + 8..];
            let mut parts = rest.splitn(2, |b| *b == 0);
            let (Some(ty), Some(id)) = (parts.next(), parts.next()) else {
                continue;
            };
            let (ty, id) = (
                String::from_utf8_lossy(ty).into_owned(),
                String::from_utf8_lossy(id).into_owned(),
            );
            let result = self.fire(&ty, &id, &k, now);
            out.push(ScheduleOutcome { ty, id, result });
        }
        Ok(out)
    }

    fn fire(
        &self,
        ty: &str,
        id: &str,
        key: &[u8],
        now: DateTime<Utc>,
    ) -> ContentResult<EntryRecord> {
        let drop_key = |svc: &ContentService| -> ContentResult<()> {
            let mut b = crate::store::WriteBatch::new();
            b.remove(Tree::Meta, key.to_vec());
            svc.store.commit(b)?;
            Ok(())
        };
        let current = match self.get(ty, id) {
            Ok(r) => r,
            Err(e) => {
                drop_key(self)?;
                return Err(e);
            }
        };
        let Some(s) = current.scheduled.clone() else {
            drop_key(self)?;
            return Err(ContentError::Corrupt(format!(
                "{ty} {id} had a schedule key but nothing scheduled"
            )));
        };
        let req = TransitionRequest {
            wanted: Wanted::Name(s.transition.clone()),
            comment: s.comment.clone(),
            at: None,
            role: s.role.clone(),
        };
        let ct = self.content_type(ty)?.clone();
        let (plugin, wf) = self.lifecycle(&ct);
        let attempt = (|| {
            // A scheduled transition runs with the authority its author has *now*: a token
            // revoked or expired since (or one whose role no longer allows it) cannot publish.
            if s.role.is_some() {
                let still = self
                    .auth()
                    .active_role(&s.actor)
                    .map_err(|e| ContentError::Corrupt(e.to_string()))?;
                let allowed = still.is_some_and(|r| {
                    s.role.as_deref().is_some_and(|was| {
                        crate::auth::Role::parse(was).is_ok_and(|w| r.includes(w))
                    })
                });
                if !allowed {
                    return Err(ContentError::Denied {
                        plugin: "scheduler".into(),
                        reason: "the token that scheduled this was revoked, expired or lost its role; schedule it again with a valid token".into(),
                    });
                }
            }
            let candidates: Vec<TransitionDef> = wf
                .candidates(&current.state, &req.wanted)
                .into_iter()
                .filter(|t| t.to_state == s.to && role_may(t, s.role.as_deref()))
                .collect();
            if candidates.is_empty() {
                return Err(ContentError::InvalidTransition {
                    from: current.state.clone(),
                    to: format!("go to {}", s.to),
                    allowed: wf.options_from(&current.state),
                });
            }
            let ctx = TransitionContext {
                role: s.role.clone(),
                comment: s.comment.clone(),
            };
            let t = self.guard(
                plugin.as_deref(),
                &ct,
                &current,
                &candidates,
                Some(&s.actor),
                &ctx,
            )?;
            self.apply_transition(
                &ct,
                &wf,
                (id, current.version, &current.state),
                &t,
                Some(&s.actor),
                &ctx,
                now,
            )
        })();
        if let Err(e) = &attempt {
            // Drop the schedule and say why in the history.
            let reason = e.to_string();
            self.commit_plan(|plan| {
                let old = self.read_current(plan, &ct, id)?;
                let mut rec = old.clone();
                rec.scheduled = None;
                plan.remove(Tree::Meta, key.to_vec());
                plan.put(Tree::Entries, keys::entry(ty, id), rec.to_bytes());
                self.plan_history(
                    plan,
                    ty,
                    id,
                    &history_item(
                        HistoryKind::ScheduleFailed,
                        Some(&s.transition),
                        (&old.state, &s.to),
                        Some("scheduler"),
                        None,
                        Some(&reason),
                        old.version,
                        now,
                    ),
                );
                Ok(())
            })?;
        }
        attempt
    }
}
