//! `hello` — the example Verbund plugin (and the well-behaved plugin of the
//! host's tests).
//!
//! - validate (stories): the title must not contain "Lorem" (placeholder
//!   text); a German teaser has at most 300 characters.
//! - on-transition (stories): publishing is refused while the title starts
//!   with "ENTWURF".
//! - export `summary`: a text/plain list of the stories (via host `query`).
//!
//! It asks for read access to `story` only.

use verbund_plugin::*;

/// Longest German teaser (in characters) this plugin accepts.
const MAX_TEASER_DE: usize = 300;

struct Hello;

impl Plugin for Hello {
    fn describe() -> Manifest {
        Manifest::new(
            "hello",
            env!("CARGO_PKG_VERSION"),
            "Beispiel-Plugin: prüft Titel und Teaser von Stories, hält Entwürfe vom \
             Veröffentlichen ab und exportiert eine Übersicht der Stories.",
        )
        .hook(Hook::Validate)
        .grant("story")
        .workflow(
            Workflow::new("story", "draft")
                .state("draft", "Entwurf", false)
                .state("published", "Veröffentlicht", true)
                .state("archived", "Archiviert", false)
                .transition(
                    "publish",
                    &["draft", "published", "archived"],
                    "published",
                    &[],
                )
                .transition("unpublish", &["published"], "draft", &[])
                .transition("archive", &["draft", "published"], "archived", &[])
                .transition("restore", &["archived"], "draft", &[]),
        )
        .export("summary", "Liste der Stories (Titel, Zustand, Id) als Text")
    }

    fn validate(entry: Entry) -> Vec<Issue> {
        if entry.content_type != "story" {
            return Vec::new();
        }
        let mut issues = Vec::new();
        if entry.text("title").is_some_and(|t| t.contains("Lorem")) {
            issues.push(Issue::at(
                "/title",
                "Der Titel enthält Platzhaltertext („Lorem“). Bitte einen echten Titel eingeben.",
            ));
        }
        if entry.locale == "de"
            && let Some(teaser) = entry.text("teaser")
        {
            let n = teaser.chars().count();
            if n > MAX_TEASER_DE {
                issues.push(Issue::at(
                    "/teaser",
                    format!(
                        "Der Teaser ist {n} Zeichen lang; erlaubt sind höchstens {MAX_TEASER_DE}."
                    ),
                ));
            }
        }
        issues
    }

    fn on_transition(entry: Entry, transition: Transition, _history: Vec<HistoryItem>) -> Decision {
        if transition.to_state == "published"
            && entry
                .text("title")
                .is_some_and(|t| t.starts_with("ENTWURF"))
        {
            log::info(format!(
                "hello: publishing of {} refused (title marks a draft)",
                entry.id
            ));
            return Decision::deny(
                "Der Titel beginnt mit „ENTWURF“: Bitte den Titel fertigstellen, bevor die Story veröffentlicht wird.",
            );
        }
        Decision::Allow
    }

    fn export(name: String, params: Vec<(String, String)>) -> Result<Vec<Artifact>, String> {
        if name != "summary" {
            return Err(format!("Unbekannter Export „{name}“."));
        }
        let limit = match param(&params, "limit") {
            Some(v) => v.parse().map_err(|_| format!("Ungültiges limit „{v}“."))?,
            None => 100,
        };
        let mut q = query("story").limit(limit);
        if let Some(state) = param(&params, "state") {
            q = q.eq("state", state);
        }
        let stories = q
            .run()
            .map_err(|e| format!("Stories konnten nicht gelesen werden: {}", e.message()))?;
        let mut text = format!("Stories ({}), Stand {}\n", stories.len(), now());
        for s in &stories {
            let title = s.text("title").unwrap_or_default();
            text.push_str(&format!("- {title} [{}] {}\n", s.state, s.id));
        }
        Ok(vec![Artifact::text("summary.txt", text)])
    }
}

export_plugin!(Hello);

#[cfg(test)]
mod tests {
    use super::*;

    fn story(locale: &str, data: &str) -> Entry {
        Entry {
            content_type: "story".into(),
            id: "01JTEST".into(),
            locale: locale.into(),
            version: 1,
            state: "draft".into(),
            data: data.into(),
            created_by: "alice".into(),
            updated_by: "alice".into(),
            created_at: "2026-11-22T10:00:00Z".into(),
            updated_at: "2026-11-22T10:00:00Z".into(),
            published_at: None,
        }
    }

    #[test]
    fn validate_checks_title_and_german_teaser() {
        let long = "ä".repeat(301);
        let e = story(
            "de",
            &format!(r#"{{"title":"Lorem ipsum","teaser":"{long}"}}"#),
        );
        let issues = Hello::validate(e);
        let pointers: Vec<_> = issues.iter().map(|i| i.pointer.as_str()).collect();
        assert_eq!(pointers, ["/title", "/teaser"]);
        // 300 characters are fine, and English teasers are not checked.
        assert!(
            Hello::validate(story(
                "de",
                &format!(r#"{{"title":"Gut","teaser":"{}"}}"#, "ä".repeat(300))
            ))
            .is_empty()
        );
        assert!(
            Hello::validate(story(
                "en",
                &format!(r#"{{"title":"Ok","teaser":"{long}"}}"#)
            ))
            .is_empty()
        );
    }

    #[test]
    fn manifest_declares_hooks_and_grant() {
        let m = Hello::describe();
        assert_eq!(m.contract, CONTRACT);
        assert_eq!(m.hooks, [Hook::Validate, Hook::OnTransition, Hook::Export]);
        assert_eq!(
            m.grants,
            [Grant {
                content_type: "story".into(),
                personal_data: false
            }]
        );
    }
}
