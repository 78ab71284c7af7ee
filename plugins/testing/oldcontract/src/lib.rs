//! `oldcontract` — a plugin built against an incompatible contract, the old
//! package `verbund:plugin@0.1.0` in `./wit` (not the SDK). It imports
//! `verbund:plugin/host@0.1.0` and exports `describe() -> string`, so the host
//! must refuse it when linking (import/export mismatch) — and, should it ever
//! get as far as reading the manifest, on its contract `0.1.0`.

wit_bindgen::generate!({
    world: "plugin",
    path: "wit",
});

struct OldContract;

impl Guest for OldContract {
    fn describe() -> String {
        verbund::plugin::host::log("oldcontract: describe");
        r#"{"name":"oldcontract","version":"0.1.0","contract":"0.1.0","hooks":["validate"]}"#
            .to_string()
    }

    fn validate(entry_json: String) -> Vec<String> {
        verbund::plugin::host::log("oldcontract: validate");
        vec![format!("oldcontract saw {} bytes", entry_json.len())]
    }
}

export!(OldContract);
