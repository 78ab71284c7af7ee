//! `bloat` — test plugin whose outputs are far too large:
//! - `validate` returns 100,000 issues with 200-byte messages (about 21 MB);
//!   config keys `issues` and `message-bytes` change the numbers;
//! - export `big` returns one artifact of 64 MiB (parameter `mib` changes the
//!   size). It needs that much guest memory too, so with a memory cap below
//!   about 70 MiB it fails on memory before the output cap is reached: pass
//!   `mib` smaller than the memory cap to test the output cap alone.
//! - `on-transition` denies with a 1 MiB reason.

use verbund_plugin::*;

struct Bloat;

fn config_usize(key: &str, default: usize) -> usize {
    config(key).and_then(|v| v.parse().ok()).unwrap_or(default)
}

impl Plugin for Bloat {
    fn describe() -> Manifest {
        Manifest::new(
            "bloat",
            env!("CARGO_PKG_VERSION"),
            "Testplugin: liefert übergroße Ergebnisse.",
        )
        .hook(Hook::Validate)
        .grant("story")
        .workflow(Workflow::draft_published("story"))
        .export(
            "big",
            "Ein Artefakt von 64 MiB (Parameter mib: andere Größe)",
        )
    }

    fn validate(_entry: Entry) -> Vec<Issue> {
        let n = config_usize("issues", 100_000);
        let len = config_usize("message-bytes", 200);
        let message = "x".repeat(len);
        (0..n)
            .map(|i| Issue::at(format!("/field{i}"), message.clone()))
            .collect()
    }

    fn on_transition(
        _entry: Entry,
        _transition: Transition,
        _history: Vec<HistoryItem>,
    ) -> Decision {
        Decision::deny("Nein. ".repeat((1 << 20) / 6))
    }

    fn export(_name: String, params: Vec<(String, String)>) -> Result<Vec<Artifact>, String> {
        let mib: usize = param(&params, "mib")
            .and_then(|v| v.parse().ok())
            .unwrap_or(64);
        Ok(vec![Artifact::new(
            "big.bin",
            "application/octet-stream",
            vec![0x42u8; mib << 20],
        )])
    }
}

export_plugin!(Bloat);
