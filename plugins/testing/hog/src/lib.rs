//! `hog` — test plugin: allocates and touches 1 GiB in `validate` (and in
//! the export `hog`). The host's memory cap must stop it; without a cap the
//! allocation succeeds (wasm32 memories have no maximum by default).

use verbund_plugin::*;

struct Hog;

/// Allocate `bytes` and write to every page so that the memory is really used.
fn hog(bytes: usize) -> usize {
    let mut v = vec![0u8; bytes];
    for i in (0..v.len()).step_by(4096) {
        v[i] = 1;
    }
    core::hint::black_box(&v)
        .iter()
        .step_by(4096)
        .map(|&b| b as usize)
        .sum()
}

const GIB: usize = 1 << 30;

impl Plugin for Hog {
    fn describe() -> Manifest {
        Manifest::new(
            "hog",
            env!("CARGO_PKG_VERSION"),
            "Testplugin: belegt 1 GiB Speicher.",
        )
        .hook(Hook::Validate)
        .grant("story")
        .export(
            "hog",
            "Belegt 1 GiB Speicher (Parameter mib: andere Größe in MiB)",
        )
    }

    fn validate(_entry: Entry) -> Vec<Issue> {
        let pages = hog(GIB);
        vec![Issue::entry(format!("1 GiB belegt ({pages} Seiten)"))]
    }

    fn export(_name: String, params: Vec<(String, String)>) -> Result<Vec<Artifact>, String> {
        let mib: usize = param(&params, "mib")
            .and_then(|v| v.parse().ok())
            .unwrap_or(1024);
        let pages = hog(mib << 20);
        Ok(vec![Artifact::text(
            "hog.txt",
            format!("{mib} MiB belegt ({pages} Seiten)"),
        )])
    }
}

export_plugin!(Hog);
