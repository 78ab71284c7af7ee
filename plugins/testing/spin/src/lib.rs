//! `spin` — test plugin: loops forever in `validate`, `on-transition` and
//! `export`. The host must stop it (fuel or epoch deadline) and carry on.

use verbund_plugin::*;

struct Spin;

fn spin() -> ! {
    let mut i: u64 = 0;
    loop {
        i = core::hint::black_box(i.wrapping_add(1));
    }
}

impl Plugin for Spin {
    fn describe() -> Manifest {
        Manifest::new(
            "spin",
            env!("CARGO_PKG_VERSION"),
            "Testplugin: Endlosschleife in jedem Hook.",
        )
        .hook(Hook::Validate)
        .grant("story")
        .workflow(Workflow::draft_published("story"))
        .export("spin", "Endlosschleife")
    }

    fn validate(_entry: Entry) -> Vec<Issue> {
        spin()
    }

    fn on_transition(
        _entry: Entry,
        _transition: Transition,
        _history: Vec<HistoryItem>,
    ) -> Decision {
        spin()
    }

    fn export(_name: String, _params: Vec<(String, String)>) -> Result<Vec<Artifact>, String> {
        spin()
    }
}

export_plugin!(Spin);
