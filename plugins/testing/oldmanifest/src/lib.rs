//! `oldmanifest` — test plugin with the current world shape (so it links)
//! whose manifest claims contract `0.1.0`. The host must refuse it at install
//! on the contract version alone. (See `oldcontract` for a plugin whose
//! imports and exports do not match at all.)

use verbund_plugin::*;

struct OldManifest;

impl Plugin for OldManifest {
    fn describe() -> Manifest {
        let mut m = Manifest::new(
            "oldmanifest",
            env!("CARGO_PKG_VERSION"),
            "Testplugin: gibt eine veraltete Vertragsversion an.",
        )
        .hook(Hook::Validate)
        .grant("story");
        m.contract = "0.1.0".to_string();
        m
    }

    fn validate(_entry: Entry) -> Vec<Issue> {
        vec![Issue::entry("oldmanifest darf nie aufgerufen werden")]
    }
}

export_plugin!(OldManifest);
