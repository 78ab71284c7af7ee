//! `contract-1-0` — a plugin built against contract 1.0.0 (its own copy of the WIT
//! in `./wit`, not the SDK), as a third-party plugin from before contract 1.1 would
//! be. Its export `stories` asks the host's `query` with the filter values a 1.0
//! plugin wrote (a JSON array for `in`) and lists what came back, so a test can
//! check that a newer host still links it and answers the same query the same way.

wit_bindgen::generate!({
    world: "plugin",
    path: "wit",
});

use verbund::plugin::host;
use verbund::plugin::types::{ExportDef, Filter, Grant, Hook};

struct Contract10;

impl Guest for Contract10 {
    fn describe() -> Manifest {
        Manifest {
            name: "contract-1-0".into(),
            version: "1.0.0".into(),
            contract: "1.0.0".into(),
            description: "Listet Stories über die Host-Abfrage des Vertrags 1.0.".into(),
            hooks: vec![Hook::Export],
            grants: vec![Grant {
                content_type: "story".into(),
                personal_data: false,
            }],
            workflows: Vec::new(),
            exports: vec![ExportDef {
                name: "stories".into(),
                description: "Veröffentlichte Stories der Arten news und interview.".into(),
            }],
        }
    }

    fn validate(_entry: Entry) -> Vec<Issue> {
        Vec::new()
    }

    fn on_transition(_entry: Entry, _t: Transition, _h: Vec<HistoryItem>) -> Decision {
        Decision::Allow
    }

    fn export(name: String, _params: Vec<(String, String)>) -> Result<Vec<Artifact>, String> {
        if name != "stories" {
            return Err(format!("Unbekannter Export „{name}“."));
        }
        let filter = |field: &str, op: &str, value: &str| Filter {
            field: field.into(),
            op: op.into(),
            value: value.into(),
        };
        let stories = host::query(
            "story",
            &[
                filter("state", "eq", "published"),
                filter("kind", "in", r#"["news","interview"]"#),
            ],
            1000,
        )
        .map_err(|e| format!("Abfrage fehlgeschlagen: {e:?}"))?;
        let mut text = String::new();
        for s in &stories {
            text.push_str(&s.id);
            text.push('\n');
        }
        Ok(vec![Artifact {
            name: "stories.txt".into(),
            media_type: "text/plain; charset=utf-8".into(),
            bytes: text.into_bytes(),
        }])
    }
}

export!(Contract10);
