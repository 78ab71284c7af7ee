//! `trap` — test plugin that crashes:
//! - `validate` panics (panic = abort, so the host sees an `unreachable` trap);
//! - `on-transition` executes `unreachable` directly;
//! - export `recurse` overflows the stack; any other export panics.

use verbund_plugin::*;

struct Trap;

#[inline(never)]
#[allow(unconditional_recursion)]
fn recurse(n: u64) -> u64 {
    let buf = core::hint::black_box([n; 64]);
    recurse(buf[(n % 64) as usize].wrapping_add(1)).wrapping_add(buf[0])
}

impl Plugin for Trap {
    fn describe() -> Manifest {
        Manifest::new(
            "trap",
            env!("CARGO_PKG_VERSION"),
            "Testplugin: stürzt in jedem Hook ab.",
        )
        .hook(Hook::Validate)
        .grant("story")
        .workflow(Workflow::draft_published("story"))
        .export("panic", "Panik")
        .export("recurse", "Stapelüberlauf")
    }

    fn validate(entry: Entry) -> Vec<Issue> {
        panic!("trap: validate of {} panics on purpose", entry.id)
    }

    fn on_transition(
        _entry: Entry,
        _transition: Transition,
        _history: Vec<HistoryItem>,
    ) -> Decision {
        #[cfg(target_arch = "wasm32")]
        core::arch::wasm32::unreachable();
        #[cfg(not(target_arch = "wasm32"))]
        std::process::abort()
    }

    fn export(name: String, _params: Vec<(String, String)>) -> Result<Vec<Artifact>, String> {
        if name == "recurse" {
            let n = recurse(core::hint::black_box(1));
            return Err(format!("unreachable: {n}"));
        }
        panic!("trap: export {name} panics on purpose")
    }
}

export_plugin!(Trap);
