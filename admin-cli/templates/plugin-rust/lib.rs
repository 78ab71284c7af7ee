//! {{name}}: a Verbund plugin. Build: `{{build}} --dir .`; install:
//! `verbund plugin install {{name}}.wasm --grant read:story`.

use verbund_plugin::*;

struct {{Type}};

impl Plugin for {{Type}} {
    fn describe() -> Manifest {
        Manifest::new("{{name}}", env!("CARGO_PKG_VERSION"), "Prüft den Titel von Geschichten.")
            .hook(Hook::Validate)
            .grant("story")
    }

    // Called on every write of a granted type, after the JSON Schema check.
    fn validate(entry: Entry) -> Vec<Issue> {
        let mut issues = Vec::new();
        if let Some(title) = entry.text("title")
            && title.trim().ends_with('.')
        {
            issues.push(Issue::at("/title", "Ein Titel endet ohne Punkt."));
        }
        issues
    }
}

export_plugin!({{Type}});

#[cfg(test)]
mod tests {
    use super::*;
    use verbund_plugin::serde_json::json;
    use verbund_plugin::testing::{TestHost, entry};

    #[test]
    fn a_title_with_a_full_stop_is_reported() {
        let _host = TestHost::new().install();
        let e = entry("story", "01", json!({"title": "Neues aus dem Cluster."}));
        let issues = {{Type}}::validate(e);
        assert_eq!(issues[0].pointer, "/title");
        assert!({{Type}}::validate(entry("story", "02", json!({"title": "Gut"}))).is_empty());
    }
}
