use verbund_plugin::*;

struct TeaserCheck;

impl Plugin for TeaserCheck {
    fn describe() -> Manifest {
        Manifest::new("teaser-check", env!("CARGO_PKG_VERSION"),
                      "Prüft deutsche Teaser und hält Entwürfe vom Veröffentlichen ab.")
            .hook(Hook::Validate)
            .grant("story") // read access to stories, without personal data
            .workflow(
                Workflow::new("story", "draft")
                    .state("draft", "Entwurf", false)
                    .state("published", "Veröffentlicht", true)
                    .transition("publish", &["draft"], "published", &["reviewer", "admin"])
                    .transition("unpublish", &["published"], "draft", &[]),
            )
    }

    // Called on every write of a story, after the schema check.
    fn validate(entry: Entry) -> Vec<Issue> {
        let mut issues = Vec::new();
        if entry.content_type == "story"
            && entry.locale == "de"
            && let Some(teaser) = entry.text("teaser")
        {
            let n = teaser.chars().count(); // characters, not bytes
            if n > 300 {
                issues.push(Issue::at("/teaser",
                    format!("Der Teaser ist {n} Zeichen lang; erlaubt sind höchstens 300.")));
            }
        }
        issues
    }

    // Called before every transition of a story (this plugin governs the workflow).
    fn on_transition(entry: Entry, transition: Transition, history: Vec<HistoryItem>) -> Decision {
        if transition.to_state == "published" && transition.actor == entry.created_by {
            log::info(format!("{} tried to publish their own story {}", transition.actor, entry.id));
            return Decision::deny("Vier-Augen-Prinzip: Die Autorin oder der Autor darf nicht selbst veröffentlichen.");
        }
        let _ = history; // earlier transitions, oldest first
        Decision::Allow
    }
}

export_plugin!(TeaserCheck);
