//! `review-approval` — the four-eyes editorial workflow, as a Verbund plugin.
//!
//! States: `draft → in_review → approved → published`, with `changes_requested` (back to the
//! author with a comment) and `archived`. Transitions and who may take them (admins may take
//! every transition; the core enforces the roles):
//!
//! | transition | from | to | roles |
//! |---|---|---|---|
//! | submit | draft, changes_requested | in_review | editor |
//! | approve | in_review | approved (enough approvals) or in_review (more needed) | reviewer |
//! | request_changes | in_review, approved | changes_requested (comment required) | reviewer |
//! | publish | approved | published | reviewer |
//! | unpublish | published | draft | any |
//! | archive | every state but archived | archived | any |
//! | restore | archived | draft | any |
//! | on-edit (taken by the core on every edit) | in_review, approved → in_review; published → draft | | |
//!
//! The guard (`on-transition`) enforces four-eyes: whoever created or edited the entry cannot
//! approve it, each reviewer approves a version once, and `approve` reaches `approved` only
//! with N distinct approvals since the entry was last submitted or edited (N from the setting
//! `approvals.{type}`, else `approvals`, else 1). An edit resets the approvals: the core moves
//! the entry back to `in_review` and the history shows it.
//!
//! Settings (`verbund plugin configure review-approval --set KEY=VALUE`):
//! - `types`: the governed types, comma-separated (default `story,event,cooperation`);
//! - `approvals` / `approvals.{type}`: approvals needed (default 1).

use verbund_plugin::*;

/// The types governed when the admin set nothing else.
const DEFAULT_TYPES: &str = "story,event,cooperation";

struct ReviewApproval;

fn governed_types() -> Vec<String> {
    config("types")
        .unwrap_or_else(|| DEFAULT_TYPES.to_string())
        .split(',')
        .map(|t| t.trim().to_string())
        .filter(|t| !t.is_empty())
        .collect()
}

fn workflow(ty: &str) -> Workflow {
    const ALL_BUT_ARCHIVED: &[&str] = &[
        "draft",
        "in_review",
        "changes_requested",
        "approved",
        "published",
    ];
    Workflow::new(ty, "draft")
        .state("draft", "Entwurf", false)
        .state("in_review", "In Prüfung", false)
        .state("changes_requested", "Änderungen erbeten", false)
        .state("approved", "Freigegeben", false)
        .state("published", "Veröffentlicht", true)
        .state("archived", "Archiviert", false)
        .transition(
            "submit",
            &["draft", "changes_requested"],
            "in_review",
            &["editor"],
        )
        // Tried in this order: the first the guard allows is taken.
        .transition("approve", &["in_review"], "approved", &["reviewer"])
        .transition("approve", &["in_review"], "in_review", &["reviewer"])
        .transition_with_comment(
            "request_changes",
            &["in_review", "approved"],
            "changes_requested",
            &["reviewer"],
        )
        .transition("publish", &["approved"], "published", &["reviewer"])
        .transition("unpublish", &["published"], "draft", &[])
        .transition("archive", ALL_BUT_ARCHIVED, "archived", &[])
        .transition("restore", &["archived"], "draft", &[])
        .transition("on-edit", &["in_review", "approved"], "in_review", &[])
        .transition("on-edit", &["published"], "draft", &[])
}

/// Approvals needed for an entry of `ty`.
fn approvals_needed(ty: &str) -> usize {
    config(&format!("approvals.{ty}"))
        .or_else(|| config("approvals"))
        .and_then(|v| v.trim().parse().ok())
        .filter(|n: &usize| *n >= 1)
        .unwrap_or(1)
}

/// Who created or edited the entry (they cannot approve it).
fn authors(entry: &Entry, history: &[HistoryItem]) -> Vec<String> {
    let mut out: Vec<String> = history
        .iter()
        .filter(|h| matches!(h.kind, HistoryKind::Create | HistoryKind::Edit))
        .map(|h| h.actor.clone())
        .collect();
    out.push(entry.created_by.clone());
    out.push(entry.updated_by.clone());
    out.retain(|a| !a.is_empty());
    out
}

/// Distinct reviewers who approved since the entry last (re-)entered review.
fn approvals_this_round(history: &[HistoryItem]) -> Vec<String> {
    let start = history
        .iter()
        .rposition(|h| {
            h.to_state == "in_review"
                && (h.transition.as_deref() == Some("submit")
                    || matches!(h.kind, HistoryKind::Edit))
        })
        .map_or(0, |i| i + 1);
    let mut out: Vec<String> = Vec::new();
    for h in &history[start..] {
        if matches!(h.kind, HistoryKind::Transition)
            && h.transition.as_deref() == Some("approve")
            && !out.contains(&h.actor)
        {
            out.push(h.actor.clone());
        }
    }
    out
}

impl Plugin for ReviewApproval {
    fn describe() -> Manifest {
        let mut m = Manifest::new(
            "review-approval",
            env!("CARGO_PKG_VERSION"),
            "Vier-Augen-Prinzip: Beiträge werden eingereicht, von anderen geprüft und erst nach \
             Freigabe veröffentlicht.",
        );
        for ty in governed_types() {
            m = m.grant(ty.clone()).workflow(workflow(&ty));
        }
        m
    }

    fn on_transition(entry: Entry, transition: Transition, history: Vec<HistoryItem>) -> Decision {
        if transition.name != "approve" {
            if transition.name == "publish" {
                let have = approvals_this_round(&history).len();
                let need = approvals_needed(&entry.content_type);
                if have < need {
                    return Decision::deny(format!(
                        "Veröffentlichen erst nach {need} Freigabe(n); bisher {have}."
                    ));
                }
            }
            return Decision::Allow;
        }
        let me = &transition.actor;
        if authors(&entry, &history).contains(me) {
            return Decision::deny(
                "Vier-Augen-Prinzip: Wer diesen Beitrag geschrieben oder bearbeitet hat, darf \
                 ihn nicht freigeben. Bitte eine andere Prüferin oder einen anderen Prüfer \
                 bitten.",
            );
        }
        let given = approvals_this_round(&history);
        let need = approvals_needed(&entry.content_type);
        if given.contains(me) {
            return Decision::deny(format!(
                "Sie haben diese Fassung bereits freigegeben; es fehlen noch {} weitere \
                 Freigabe(n) von anderen Prüfenden.",
                need.saturating_sub(given.len())
            ));
        }
        let with_mine = given.len() + 1;
        match transition.to_state.as_str() {
            // Enough approvals: the entry is approved.
            "approved" if with_mine >= need => Decision::Allow,
            "approved" => Decision::deny(format!(
                "Freigabe vermerkt; es fehlen noch {} weitere Freigabe(n).",
                need - with_mine
            )),
            // Not enough yet: the approval is recorded and the entry stays in review.
            "in_review" if with_mine < need => Decision::Allow,
            _ => Decision::deny("Diese Freigabe ist nicht vorgesehen."),
        }
    }
}

export_plugin!(ReviewApproval);
