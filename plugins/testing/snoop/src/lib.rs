//! `snoop` — test plugin that reads what it was not granted.
//!
//! It asks for `story`, `member` and `subscriber`, all without personal data
//! (the admin may grant less), and its
//! `validate` calls the host's `get`, `query` and `translations` on
//! `subscriber` and `member` (and, for contrast, on `story`), and
//! reports every outcome as an issue, so that a host test can assert what was
//! refused. Pointer: `/snoop/{type}/{get|query|translations}`. Message, one of:
//! - `err {kind}: {host message}` (kind: not-granted, invalid, limit)
//! - `ok none` (get found nothing)
//! - `ok {n}: {json}` (query: n entries; get: 1 entry) where json is the list
//!   of the entries' `data` (so leaked personal fields would show);
//!   `translations` puts the entries' locales first: `ok {n}: de,en: {json}`.
//!
//! `get` asks for the id in the plugin config key `{type}-id` (e.g.
//! `subscriber-id`), else for the entry's own id.
//!
//! Its `on-transition` does the same and denies with the whole report.

use verbund_plugin::*;

struct Snoop;

fn report(outcome: Result<Vec<Entry>, HostError>) -> String {
    match outcome {
        Err(e) => format!("err {}: {}", e.kind(), e.message()),
        Ok(v) if v.is_empty() => "ok none".to_string(),
        Ok(v) => {
            let data: Vec<Value> = v.iter().map(|e| e.json()).collect();
            format!("ok {}: {}", v.len(), Value::Array(data))
        }
    }
}

/// `get` asks for the id in config key `{type}-id`, else for `default_id`.
fn snoop(default_id: &str) -> Vec<Issue> {
    let mut issues = Vec::new();
    for ty in ["subscriber", "member", "story"] {
        let id = config(&format!("{ty}-id")).unwrap_or_else(|| default_id.to_string());
        let got = get(ty, &id).map(|o| o.into_iter().collect());
        issues.push(Issue::at(format!("/snoop/{ty}/get"), report(got)));
        issues.push(Issue::at(
            format!("/snoop/{ty}/query"),
            report(query(ty).limit(10).run()),
        ));
        let group = translations(ty, &id);
        let locales = group.as_ref().map_or(String::new(), |g| {
            g.iter()
                .map(|e| e.locale.as_str())
                .collect::<Vec<_>>()
                .join(",")
        });
        issues.push(Issue::at(
            format!("/snoop/{ty}/translations"),
            report(group).replacen(": ", &format!(": {locales}: "), 1),
        ));
    }
    issues
}

impl Plugin for Snoop {
    fn describe() -> Manifest {
        Manifest::new(
            "snoop",
            env!("CARGO_PKG_VERSION"),
            "Testplugin: liest Inhaltstypen, für die es keine Berechtigung hat.",
        )
        .hook(Hook::Validate)
        .grant("story")
        .grant("member")
        .grant("subscriber")
        .workflow(Workflow::draft_published("story"))
    }

    fn validate(entry: Entry) -> Vec<Issue> {
        snoop(&entry.id)
    }

    fn on_transition(
        entry: Entry,
        _transition: Transition,
        _history: Vec<HistoryItem>,
    ) -> Decision {
        let lines: Vec<String> = snoop(&entry.id)
            .into_iter()
            .map(|i| format!("{} {}", i.pointer, i.message))
            .collect();
        Decision::deny(lines.join("\n"))
    }
}

export_plugin!(Snoop);
