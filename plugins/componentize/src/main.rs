//! `componentize` — the small host-side tool `plugins/build` uses.
//!
//! ```text
//! componentize encode <core.wasm> <out.wasm>
//!     Turn a wit-bindgen core module (with its `component-type:*` custom
//!     section) into a component, validated (same as `wasm-tools component new`).
//! componentize wit <component.wasm>
//!     Print the WIT world the component targets (its imports and exports).
//! componentize check <wit-dir> <world> <component.wasm>...
//!     Validate each component and check that it targets <world> of the WIT
//!     package in <wit-dir> (semver-compatible matching, as a host linking
//!     against that world would). Prints one line per component; exit code 1
//!     if any does not conform.
//! ```
use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use wit_component::{DecodedWasm, WitPrinter};
use wit_parser::Resolve;

fn usage() -> ExitCode {
    eprintln!(
        "usage:\n  componentize encode <core.wasm> <out.wasm>\n  componentize wit <component.wasm>\n  \
         componentize check <wit-dir> <world> <component.wasm>..."
    );
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("encode") if args.len() == 3 => encode(&args[1], &args[2]).map(|()| true),
        Some("wit") if args.len() == 2 => print_wit(&args[1]).map(|()| true),
        Some("check") if args.len() >= 4 => check(&args[1], &args[2], &args[3..]),
        _ => return usage(),
    };
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("componentize: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn read(path: &str) -> Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("cannot read {path}"))
}

fn encode(input: &str, output: &str) -> Result<()> {
    let module = read(input)?;
    if wasmparser::Parser::is_component(&module) {
        bail!("{input} is already a component");
    }
    let t = Instant::now();
    let component = wit_component::ComponentEncoder::default()
        .module(&module)
        .with_context(|| {
            format!("{input}: not a wit-bindgen core module (no component-type section?)")
        })?
        .validate(true)
        .debug_names(true)
        .encode()
        .with_context(|| format!("{input}: cannot encode as a component"))?;
    let dt = t.elapsed();
    // Write atomically so that an interrupted build never leaves half a file.
    let tmp = format!("{output}.tmp");
    std::fs::write(&tmp, &component).with_context(|| format!("cannot write {tmp}"))?;
    std::fs::rename(&tmp, output).with_context(|| format!("cannot write {output}"))?;
    eprintln!(
        "componentize: {input} ({} B) -> {output} ({} B) in {:.1} ms",
        module.len(),
        component.len(),
        dt.as_secs_f64() * 1e3
    );
    Ok(())
}

/// Decodes a component into its WIT world (resolve + world id).
fn decode_component(path: &str, bytes: &[u8]) -> Result<(Resolve, wit_parser::WorldId)> {
    if !wasmparser::Parser::is_component(bytes) {
        bail!("{path} is not a component (a core module? run `componentize encode` first)");
    }
    match wit_component::decode(bytes).with_context(|| format!("{path}: cannot decode its WIT"))? {
        DecodedWasm::Component(resolve, world) => Ok((resolve, world)),
        DecodedWasm::WitPackage(..) => bail!("{path} is a WIT package, not a component"),
    }
}

fn print_wit(path: &str) -> Result<()> {
    let bytes = read(path)?;
    let (resolve, world) = decode_component(path, &bytes)?;
    let main = resolve.worlds[world]
        .package
        .context("decoded world has no package")?;
    let nested: Vec<_> = resolve
        .packages
        .iter()
        .map(|(id, _)| id)
        .filter(|id| *id != main)
        .collect();
    let mut printer = WitPrinter::default();
    printer.print(&resolve, main, &nested)?;
    print!("{}", printer.output);
    Ok(())
}

fn validate(bytes: &[u8]) -> Result<()> {
    wasmparser::Validator::new_with_features(wasmparser::WasmFeatures::all())
        .validate_all(bytes)
        .map(|_| ())
        .map_err(Into::into)
}

fn check(wit_dir: &str, world_name: &str, components: &[String]) -> Result<bool> {
    let mut resolve = Resolve::default();
    let (pkg, _) = resolve
        .push_path(Path::new(wit_dir))
        .with_context(|| format!("cannot load the WIT package in {wit_dir}"))?;
    let world = resolve
        .select_world(&[pkg], Some(world_name))
        .with_context(|| format!("no world `{world_name}` in {wit_dir}"))?;
    let target = format!("{}/{}", resolve.packages[pkg].name, world_name);
    let mut all_ok = true;
    for path in components {
        let outcome = read(path).and_then(|bytes| {
            validate(&bytes).with_context(|| format!("{path}: invalid component"))?;
            let (dres, dworld) = decode_component(path, &bytes)?;
            let w = &dres.worlds[dworld];
            let wasi = w
                .imports
                .keys()
                .any(|k| dres.name_world_key(k).starts_with("wasi:"));
            if wasi {
                // A component with a language runtime (Python) imports WASI besides the
                // contract; the server gives it an empty WASI world. Compare the contract's
                // part by name here; the server checks the types when it links.
                let want = &resolve.worlds[world];
                let key_names = |r: &Resolve,
                                 items: &wit_parser::IndexMap<
                    wit_parser::WorldKey,
                    wit_parser::WorldItem,
                >| {
                    items
                        .iter()
                        .filter(|(_, i)| !matches!(i, wit_parser::WorldItem::Type { .. }))
                        .map(|(k, _)| r.name_world_key(k))
                        .filter(|n| !n.starts_with("wasi:"))
                        .collect::<std::collections::BTreeSet<_>>()
                };
                let (gi, wi) = (key_names(&dres, &w.imports), key_names(&resolve, &want.imports));
                let (ge, we) = (key_names(&dres, &w.exports), key_names(&resolve, &want.exports));
                if !gi.is_subset(&wi) {
                    anyhow::bail!("imports {:?}, the contract offers {:?}", gi, wi);
                }
                // componentize-py adds exports of its own; the contract's must all be there.
                if !we.is_subset(&ge) {
                    anyhow::bail!("exports {:?}, the contract wants {:?}", ge, we);
                }
            } else {
                wit_component::targets(&resolve, world, &bytes, true)?;
            }
            // Interfaces and functions only (not the types a world `use`s).
            let names =
                |items: &wit_parser::IndexMap<wit_parser::WorldKey, wit_parser::WorldItem>| {
                    items
                        .iter()
                        .filter(|(_, item)| !matches!(item, wit_parser::WorldItem::Type { .. }))
                        .map(|(k, _)| dres.name_world_key(k))
                        .collect::<Vec<_>>()
                        .join(" ")
                };
            Ok(format!(
                "imports [{}] exports [{}]",
                names(&w.imports),
                names(&w.exports)
            ))
        });
        match outcome {
            Ok(summary) => println!("ok       {path}: targets {target}; {summary}"),
            Err(e) => {
                all_ok = false;
                let why = format!("{e:#}").replace('\n', " ");
                println!("MISMATCH {path}: does not target {target}: {why}");
            }
        }
    }
    Ok(all_ok)
}
