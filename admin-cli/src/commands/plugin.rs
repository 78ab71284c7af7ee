//! `verbund plugin …`: install, upgrade, list, configure, enable, disable and remove plugins
//! on a running server (admin token), and run their exports.

use std::path::{Path, PathBuf};

use anyhow::Context;
use base64::Engine as _;
use serde_json::{Value, json};

use crate::client::{Client, RemoteArgs};
use crate::commands::entry::enc;
use crate::{exit, output};

#[derive(Debug, clap::Args)]
pub struct PluginArgs {
    #[command(flatten)]
    remote: RemoteArgs,
    #[command(subcommand)]
    command: PluginCommand,
}

#[derive(Debug, clap::Subcommand)]
enum PluginCommand {
    /// Install a plugin component (or upgrade the installed plugin of the same name).
    #[command(
        after_help = "Shows what the plugin asks for, then installs it with the grants you give. A grant it did not ask for is refused. On an upgrade without --grant, the grants it still asks for are kept.\n\nExamples:\n  verbund plugin install plugins/dist/hello.wasm --grant read:story\n  verbund plugin install newsletter-export.wasm --grant read:story,read:event,read:subscriber+personal\n  verbund plugin install hello.wasm --dry-run      # only show what it asks for"
    )]
    Install {
        /// The component (.wasm) built by plugins/build.
        file: PathBuf,
        /// Read access to give: read:TYPE, or read:TYPE+personal for personal-data fields
        /// (comma-separated or repeated).
        #[arg(long, value_delimiter = ',')]
        grant: Vec<String>,
        /// Show the manifest and requested grants without installing.
        #[arg(long)]
        dry_run: bool,
        #[arg(long)]
        json: bool,
    },
    /// List installed plugins: version, hash, hooks, grants, state and recent faults.
    #[command(after_help = "Example:\n  verbund plugin list")]
    List {
        #[arg(long)]
        json: bool,
    },
    /// Show one plugin in full, with its effective limits.
    #[command(after_help = "Example:\n  verbund plugin show hello")]
    Show {
        name: String,
        #[arg(long)]
        json: bool,
    },
    /// Enable a plugin (also one the server disabled after faults).
    #[command(after_help = "Example:\n  verbund plugin enable hello")]
    Enable { name: String },
    /// Disable a plugin: its hooks stop running.
    #[command(after_help = "Example:\n  verbund plugin disable hello")]
    Disable { name: String },
    /// Remove a plugin and its component.
    #[command(after_help = "Example:\n  verbund plugin remove hello")]
    Remove { name: String },
    /// Set per-plugin limits and settings.
    #[command(
        after_help = "Limits are HOOK.KEY=VALUE with HOOK one of describe, validate, on-transition, export and KEY one of fuel, wall_ms, memory_mib, host_bytes, output_bytes. Settings are KEY=VALUE, read by the plugin with config(key).\n\nExamples:\n  verbund plugin configure hello --limit validate.wall_ms=50 --limit export.memory_mib=128\n  verbund plugin configure newsletter-export --set website=https://www.example.org\n  verbund plugin configure style-check --required true   # no unchecked story while it is off"
    )]
    Configure {
        name: String,
        /// A limit override HOOK.KEY=VALUE (repeatable); replaces all earlier overrides.
        #[arg(long = "limit")]
        limits: Vec<String>,
        /// A setting KEY=VALUE (repeatable); replaces all earlier settings.
        #[arg(long = "set")]
        settings: Vec<String>,
        /// `true`: its validators and guards must run; while it is off, writes of the types
        /// they check are refused (503) instead of going unchecked. `false` undoes it.
        #[arg(long)]
        required: Option<bool>,
    },
    /// Make a new plugin from a template: a Rust crate or a Python package, anywhere.
    #[command(
        after_help = "Writes NAME/ with a working validate hook, a native test (Rust) and a README; build it with `plugins/build --dir NAME` from a Verbund checkout, then install NAME/NAME.wasm.\n\nExamples:\n  verbund plugin new kalender-export                 # Rust\n  verbund plugin new hausstil --lang python\n  verbund plugin new kalender-export --sdk ~/verbund/plugins/sdk"
    )]
    New {
        /// The plugin's name: lower case letters, digits and hyphens, e.g. `kalender-export`.
        name: String,
        /// `rust` (default) or `python`.
        #[arg(long, default_value = "rust")]
        lang: String,
        /// The folder to create (default: ./NAME).
        #[arg(long)]
        dir: Option<PathBuf>,
        /// A Verbund checkout's `plugins/` folder (SDKs and contract); found by itself when this
        /// binary was built from one. Also VERBUND_PLUGINS_DIR.
        #[arg(long, env = "VERBUND_PLUGINS_DIR")]
        plugins: Option<PathBuf>,
    },
    /// Run a plugin's export and write its files into a directory.
    #[command(
        after_help = "Example:\n  verbund plugin export hello summary --out ausgabe/\n  verbund plugin export newsletter-export issue --param since=2026-11-01 --out newsletter/"
    )]
    Export {
        plugin: String,
        export: String,
        /// A parameter KEY=VALUE (repeatable).
        #[arg(long = "param")]
        params: Vec<String>,
        /// The directory for the files.
        #[arg(long)]
        out: PathBuf,
    },
}

fn pairs(items: &[String], what: &str) -> anyhow::Result<Vec<(String, String)>> {
    items
        .iter()
        .map(|p| {
            p.split_once('=')
                .map(|(k, v)| (k.trim().to_string(), v.to_string()))
                .ok_or_else(|| {
                    anyhow::Error::new(exit::Usage(format!("{what} {p:?} is not KEY=VALUE")))
                })
        })
        .collect()
}

fn print_plugin(p: &Value) {
    println!(
        "{} {} — {}",
        output::paint("1", p["name"].as_str().unwrap_or("")),
        p["version"].as_str().unwrap_or(""),
        p["description"].as_str().unwrap_or("")
    );
    println!(
        "  contract {}, {} bytes, sha256 {}",
        p["contract"].as_str().unwrap_or(""),
        p["size"],
        p["hash"].as_str().unwrap_or("")
    );
    let list = |v: &Value| -> String {
        let items: Vec<String> = v
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|x| x.as_str().map(String::from))
            .collect();
        if items.is_empty() {
            "none".into()
        } else {
            items.join(", ")
        }
    };
    println!("  hooks: {}", list(&p["hooks"]));
    for w in p["workflows"].as_array().into_iter().flatten() {
        println!(
            "  governs the workflow of {} (states: {})",
            w["content_type"].as_str().unwrap_or(""),
            w["states"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|s| s["name"].as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    for e in p["exports"].as_array().into_iter().flatten() {
        println!(
            "  export {}: {}",
            e["name"].as_str().unwrap_or(""),
            e["description"].as_str().unwrap_or("")
        );
    }
}

fn grant_lines(requested: &[Grant]) {
    if requested.is_empty() {
        println!("  asks for no read access");
    }
    for g in requested {
        println!(
            "  asks for {}{}",
            g.label,
            if g.personal {
                output::paint("31;1", "  ← PERSONAL DATA (names, e-mail addresses …)")
            } else {
                String::new()
            }
        );
    }
}

struct Grant {
    label: String,
    personal: bool,
}

fn requested(p: &Value) -> Vec<Grant> {
    p["requested"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|g| {
            let ty = g["content_type"].as_str().unwrap_or("");
            let personal = g["personal_data"].as_bool().unwrap_or(false);
            Grant {
                label: if personal {
                    format!("read:{ty}+personal")
                } else {
                    format!("read:{ty}")
                },
                personal,
            }
        })
        .collect()
}

/// `verbund plugin new`: a plugin folder from a template.
fn new_plugin(
    name: &str,
    lang: &str,
    dir: Option<PathBuf>,
    plugins: Option<PathBuf>,
) -> anyhow::Result<u8> {
    if name.is_empty()
        || name.len() > 64
        || !name.starts_with(|c: char| c.is_ascii_lowercase())
        || !name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    {
        anyhow::bail!(
            "the plugin name {name:?} must start with a letter and hold only lower case letters, digits and hyphens, e.g. kalender-export"
        );
    }
    let plugins = match plugins {
        Some(p) => p,
        None => {
            let built_from = Path::new(env!("CARGO_MANIFEST_DIR")).join("../plugins");
            if built_from.join("wit/plugin.wit").is_file() {
                built_from
            } else {
                anyhow::bail!(
                    "where is a Verbund checkout's plugins/ folder (SDKs and contract)? Give it with --plugins PATH or VERBUND_PLUGINS_DIR"
                )
            }
        }
    };
    let plugins = plugins
        .canonicalize()
        .with_context(|| format!("no folder {}", plugins.display()))?;
    anyhow::ensure!(
        plugins.join("wit/plugin.wit").is_file(),
        "{} is not a Verbund plugins/ folder (no wit/plugin.wit)",
        plugins.display()
    );
    let dir = dir.unwrap_or_else(|| PathBuf::from(name));
    anyhow::ensure!(
        !dir.exists(),
        "{} exists already; choose another name or --dir",
        dir.display()
    );
    let ty: String = name
        .split('-')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let mut c = p.chars();
            c.next()
                .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                .unwrap_or_default()
        })
        .collect();
    let build = plugins.join("build").display().to_string();
    let fill = |t: &str| {
        t.replace("{{name}}", name)
            .replace("{{Type}}", &ty)
            .replace("{{build}}", &build)
            .replace("{{sdk}}", &plugins.join("sdk").display().to_string())
    };
    let files: Vec<(PathBuf, String)> = match lang {
        "rust" => vec![
            (
                dir.join("Cargo.toml"),
                fill(include_str!("../../templates/plugin-rust/Cargo.toml")),
            ),
            (
                dir.join("src/lib.rs"),
                fill(include_str!("../../templates/plugin-rust/lib.rs")),
            ),
        ],
        "python" => vec![(
            dir.join("app.py"),
            fill(include_str!("../../templates/plugin-python/app.py")),
        )],
        other => anyhow::bail!("--lang must be rust or python, not {other:?}"),
    };
    for (path, text) in &files {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("could not create {}", parent.display()))?;
        }
        std::fs::write(path, text)
            .with_context(|| format!("could not write {}", path.display()))?;
        println!("wrote {}", path.display());
    }
    let shown = dir.display();
    println!("next:");
    if lang == "rust" {
        println!(
            "  (cd {shown} && cargo test)                 # the native test, with the SDK's test host"
        );
    }
    println!("  {build} --dir {shown}      # -> {shown}/{name}.wasm");
    println!("  verbund plugin install {shown}/{name}.wasm --grant read:story");
    Ok(exit::OK)
}

pub fn run(args: PluginArgs) -> anyhow::Result<u8> {
    if let PluginCommand::New {
        name,
        lang,
        dir,
        plugins,
    } = args.command
    {
        return new_plugin(&name, &lang, dir, plugins);
    }
    let client = Client::from_args(&args.remote)?;
    match args.command {
        PluginCommand::New { .. } => unreachable!("handled above"),
        PluginCommand::Install {
            file,
            grant,
            dry_run,
            json,
        } => {
            let bytes = std::fs::read(&file)
                .with_context(|| format!("could not read {}", file.display()))?;
            let mut query = String::new();
            for g in &grant {
                query.push_str(&format!("&grant={}", enc(g)));
            }
            // First what it asks for, then (unless a dry run) the install itself.
            let preview = client.send_bytes(
                reqwest::Method::POST,
                &format!("/api/v1/admin/plugins?dry_run=true{query}"),
                bytes.clone(),
                "application/wasm",
            )?;
            let report = if dry_run {
                preview
            } else {
                client.send_bytes(
                    reqwest::Method::POST,
                    &format!("/api/v1/admin/plugins?dry_run=false{query}"),
                    bytes,
                    "application/wasm",
                )?
            };
            let r = &report["data"];
            if json {
                output::json(r)?;
                return Ok(exit::OK);
            }
            let p = &r["plugin"];
            print_plugin(p);
            grant_lines(&requested(p));
            if let Some(from) = r["upgraded_from"].as_str() {
                println!("  upgrade from version {from}");
                for g in r["requests_added"].as_array().into_iter().flatten() {
                    println!("    now also asks for {}", g.as_str().unwrap_or(""));
                }
                for g in r["requests_removed"].as_array().into_iter().flatten() {
                    println!(
                        "    no longer asks for {} (dropped)",
                        g.as_str().unwrap_or("")
                    );
                }
            }
            let granted: Vec<String> = p["granted"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|g| {
                    let ty = g["content_type"].as_str().unwrap_or("");
                    if g["personal_data"].as_bool().unwrap_or(false) {
                        format!("read:{ty}+personal")
                    } else {
                        format!("read:{ty}")
                    }
                })
                .collect();
            let granted_text = if granted.is_empty() {
                "nothing".to_string()
            } else {
                granted.join(", ")
            };
            // What it asks for and did not get: its hooks will not see those entries (a
            // validator of an ungranted type never runs), so say so, and how to fix it.
            let missing: Vec<String> = requested(p)
                .into_iter()
                .map(|g| g.label)
                .filter(|l| !granted.contains(l))
                .collect();
            if !missing.is_empty() {
                let name = p["name"].as_str().unwrap_or("");
                let hooks = joined(&p["hooks"], ", ");
                eprintln!(
                    "warning: {name} asks for {} but was not granted it; its hooks ({hooks}) will not see those entries (a validator or guard of an ungranted type never runs). Grant it with: verbund plugin install {} --grant {}",
                    missing.join(", "),
                    file.display(),
                    missing.join(",")
                );
            }
            if dry_run {
                println!("dry run: nothing installed; it would be granted {granted_text}");
            } else {
                println!(
                    "installed {} {}; granted: {granted_text}",
                    p["name"].as_str().unwrap_or(""),
                    p["version"].as_str().unwrap_or("")
                );
            }
            Ok(exit::OK)
        }
        PluginCommand::List { json } => {
            let res = client.get("/api/v1/admin/plugins")?;
            let items = res["data"].as_array().cloned().unwrap_or_default();
            if json {
                output::json(&Value::Array(items))?;
                return Ok(exit::OK);
            }
            if items.is_empty() {
                println!(
                    "no plugins installed (install one with `verbund plugin install FILE.wasm`)"
                );
                return Ok(exit::OK);
            }
            let rows: Vec<Vec<String>> = items
                .iter()
                .map(|p| {
                    let mut state = if p["enabled"].as_bool().unwrap_or(false) {
                        "enabled".to_string()
                    } else if p["hooks"]
                        .as_array()
                        .is_some_and(|h| h.iter().any(|h| h == "validate"))
                        && !p["required"].as_bool().unwrap_or(false)
                    {
                        // Its checks are skipped: say so where the admin looks.
                        "disabled (checks skipped)".to_string()
                    } else {
                        "disabled".to_string()
                    };
                    if p["required"].as_bool().unwrap_or(false) {
                        state.push_str(", required");
                    }
                    vec![
                        p["name"].as_str().unwrap_or("").to_string(),
                        p["version"].as_str().unwrap_or("").to_string(),
                        state,
                        p["faults"].to_string(),
                        p["hash"].as_str().unwrap_or("").chars().take(12).collect(),
                        joined(&p["hooks"], ","),
                        joined(&p["grants"]["granted"], ","),
                    ]
                })
                .collect();
            output::table(
                &[
                    "NAME", "VERSION", "STATE", "FAULTS", "HASH", "HOOKS", "GRANTS",
                ],
                &rows,
                None,
            );
            for p in &items {
                if let Some(r) = p["disabled_reason"].as_str() {
                    println!("{}: {r}", p["name"].as_str().unwrap_or(""));
                }
            }
            Ok(exit::OK)
        }
        PluginCommand::Show { name, json } => {
            let res = client.get(&format!("/api/v1/admin/plugins/{}", enc(&name)))?;
            let p = &res["data"];
            if json {
                output::json(p)?;
                return Ok(exit::OK);
            }
            print_plugin(p);
            grant_lines(&requested(p));
            println!("  granted: {}", joined(&p["grants"]["granted"], ", "));
            println!(
                "  {}{}",
                if p["enabled"].as_bool().unwrap_or(false) {
                    "enabled"
                } else {
                    "disabled"
                },
                p["disabled_reason"]
                    .as_str()
                    .map(|r| format!(": {r}"))
                    .unwrap_or_default()
            );
            println!("  faults in the last minute: {}", p["faults"]);
            if p["required"].as_bool().unwrap_or(false) {
                println!("  required: while it is off, writes of the types it checks are refused");
            }
            let usage = p["usage"].as_array().cloned().unwrap_or_default();
            if usage.is_empty() {
                println!("  calls since the server started: none");
            }
            for u in &usage {
                println!(
                    "  calls of {} since the server started: {} ({} faults), p50 {:.2} ms, p99 {:.2} ms",
                    u["hook"].as_str().unwrap_or(""),
                    u["calls"],
                    u["faults"],
                    u["p50_ms"].as_f64().unwrap_or(0.0),
                    u["p99_ms"].as_f64().unwrap_or(0.0)
                );
            }
            if let Some(l) = p["effective_limits"].as_object() {
                for (hook, v) in l {
                    println!(
                        "  limits of {hook}: fuel {}, {} ms, {} MiB memory, {} bytes from the host, {} bytes of output",
                        v["fuel"],
                        v["wall_ms"],
                        v["memory_mib"],
                        v["host_bytes"],
                        v["output_bytes"]
                    );
                }
            }
            Ok(exit::OK)
        }
        PluginCommand::Enable { name } => toggle(&client, &name, "enable"),
        PluginCommand::Disable { name } => toggle(&client, &name, "disable"),
        PluginCommand::Remove { name } => {
            client.send(
                reqwest::Method::DELETE,
                &format!("/api/v1/admin/plugins/{}", enc(&name)),
                None,
                None,
            )?;
            println!("removed plugin {name}");
            Ok(exit::OK)
        }
        PluginCommand::Configure {
            name,
            limits,
            settings,
            required,
        } => {
            let mut body = serde_json::Map::new();
            if let Some(r) = required {
                body.insert("required".into(), Value::Bool(r));
            }
            if !limits.is_empty() {
                let mut by_hook: serde_json::Map<String, Value> = serde_json::Map::new();
                for (k, v) in pairs(&limits, "--limit")? {
                    let Some((hook, key)) = k.split_once('.') else {
                        return Err(anyhow::Error::new(exit::Usage(format!(
                            "--limit {k}={v}: write HOOK.KEY=VALUE, e.g. validate.wall_ms=50"
                        ))));
                    };
                    let n: u64 = v.parse().map_err(|_| {
                        anyhow::Error::new(exit::Usage(format!(
                            "--limit {k}={v}: the value must be a whole number"
                        )))
                    })?;
                    by_hook.entry(hook.to_string()).or_insert_with(|| json!({}))[key] = json!(n);
                }
                body.insert("limits".into(), Value::Object(by_hook));
            }
            if !settings.is_empty() {
                let cfg: serde_json::Map<String, Value> = pairs(&settings, "--set")?
                    .into_iter()
                    .map(|(k, v)| (k, Value::String(v)))
                    .collect();
                body.insert("config".into(), Value::Object(cfg));
            }
            if body.is_empty() {
                return Err(anyhow::Error::new(exit::Usage(
                    "give --limit HOOK.KEY=VALUE, --set KEY=VALUE or --required true|false".into(),
                )));
            }
            client.send(
                reqwest::Method::PATCH,
                &format!("/api/v1/admin/plugins/{}", enc(&name)),
                Some(&Value::Object(body)),
                None,
            )?;
            println!(
                "configured plugin {name}; `verbund plugin show {name}` shows the limits now in force"
            );
            Ok(exit::OK)
        }
        PluginCommand::Export {
            plugin,
            export,
            params,
            out,
        } => {
            let params: serde_json::Map<String, Value> = pairs(&params, "--param")?
                .into_iter()
                .map(|(k, v)| (k, Value::String(v)))
                .collect();
            let res = client.send(
                reqwest::Method::POST,
                &format!("/api/v1/manage/exports/{}/{}", enc(&plugin), enc(&export)),
                Some(&Value::Object(params)),
                None,
            )?;
            let n = write_artifacts(&res, &out)?.len();
            if n == 0 {
                println!("the export produced no files");
            }
            Ok(exit::OK)
        }
    }
}

/// Writes the artifacts of an export answer into `out`; returns (path, bytes) of each.
pub fn write_artifacts(
    res: &Value,
    out: &std::path::Path,
) -> anyhow::Result<Vec<(PathBuf, Vec<u8>)>> {
    std::fs::create_dir_all(out).with_context(|| format!("could not create {}", out.display()))?;
    let mut written = Vec::new();
    for a in res["data"]["artifacts"].as_array().into_iter().flatten() {
        let name = a["name"].as_str().unwrap_or("artifact");
        // Only a plain file name: a plugin cannot write outside `out`.
        let safe: String = name
            .chars()
            .map(|c| if c == '/' || c == '\\' { '_' } else { c })
            .collect();
        let safe = safe.trim_start_matches('.').to_string();
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(a["base64"].as_str().unwrap_or(""))
            .context("the server sent an artifact that is not base64")?;
        let path = out.join(if safe.is_empty() {
            "artifact".into()
        } else {
            safe
        });
        // Artifacts may hold personal data (a newsletter's recipients): owner only.
        std::io::Write::write_all(
            &mut verbund_core::keys::private_file(&path, false)
                .with_context(|| format!("could not write {}", path.display()))?,
            &bytes,
        )
        .with_context(|| format!("could not write {}", path.display()))?;
        println!(
            "wrote {} ({} bytes, {})",
            path.display(),
            bytes.len(),
            a["media_type"].as_str().unwrap_or("")
        );
        written.push((path, bytes));
    }
    Ok(written)
}

fn toggle(client: &Client, name: &str, verb: &str) -> anyhow::Result<u8> {
    client.send(
        reqwest::Method::POST,
        &format!("/api/v1/admin/plugins/{}/{verb}", enc(name)),
        None,
        None,
    )?;
    println!("{verb}d plugin {name}");
    Ok(exit::OK)
}

/// The strings of a JSON array joined with `sep` (empty for anything else).
fn joined(v: &Value, sep: &str) -> String {
    v.as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect::<Vec<_>>()
        .join(sep)
}
