//! `verbund export --out FILE [--type T]`: every current entry as NDJSON, from a running server.
//!
//! Each line carries its `"type"`, so `verbund import FILE` takes the file back as it is.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use serde_json::Value;

use crate::client::{Client, RemoteArgs, ServerError};
use crate::commands::entry::enc;
use crate::exit;

#[derive(Debug, clap::Args)]
pub struct ExportArgs {
    /// Only this content type (default: every type your token may read).
    #[arg(long = "type")]
    ty: Option<String>,
    /// The NDJSON file to write; `-` writes to standard output.
    #[arg(long)]
    out: PathBuf,
    #[command(flatten)]
    remote: RemoteArgs,
}

/// Orders types so that every type comes after the types its fields reference, so that an
/// import of the file finds each referenced entry already there.
fn referenced_first(client: &Client, names: Vec<String>) -> anyhow::Result<Vec<String>> {
    let mut deps = std::collections::BTreeMap::new();
    for name in &names {
        let schema = client.get(&format!("/api/v1/schemas/{}", enc(name)))?;
        let mut refs = std::collections::BTreeSet::new();
        collect_refs(&schema["data"]["schema"], &mut refs);
        refs.remove(name);
        deps.insert(name.clone(), refs);
    }
    let mut ordered: Vec<String> = Vec::new();
    while ordered.len() < names.len() {
        let before = ordered.len();
        for name in &names {
            if !ordered.contains(name)
                && deps[name]
                    .iter()
                    .all(|d| ordered.contains(d) || !deps.contains_key(d))
            {
                ordered.push(name.clone());
            }
        }
        if ordered.len() == before {
            // A cycle: the rest in name order.
            ordered.extend(
                names
                    .iter()
                    .filter(|n| !ordered.contains(n))
                    .cloned()
                    .collect::<Vec<_>>(),
            );
        }
    }
    Ok(ordered)
}

/// Every type named by an `x-verbund.ref` anywhere in a schema.
fn collect_refs(v: &Value, out: &mut std::collections::BTreeSet<String>) {
    match v {
        Value::Object(m) => {
            if let Some(r) = m.get("x-verbund").and_then(|x| x["ref"].as_str()) {
                out.insert(r.to_string());
            }
            m.values().for_each(|x| collect_refs(x, out));
        }
        Value::Array(a) => a.iter().for_each(|x| collect_refs(x, out)),
        _ => {}
    }
}

pub fn run(args: ExportArgs) -> anyhow::Result<u8> {
    let client = Client::from_args(&args.remote)?;
    let types: Vec<String> = match &args.ty {
        Some(t) => vec![t.clone()],
        None => referenced_first(
            &client,
            client.get("/api/v1/schemas")?["data"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|t| t["name"].as_str().map(String::from))
                .collect(),
        )?,
    };
    let to_stdout = args.out.as_os_str() == "-";
    let tmp = args.out.with_extension("ndjson.part");
    let mut out: Box<dyn Write> = if to_stdout {
        Box::new(std::io::stdout().lock())
    } else {
        Box::new(std::io::BufWriter::new(
            // An export may hold personal data (admins export contact persons): owner only.
            verbund_core::keys::private_file(&tmp, false)
                .with_context(|| format!("could not create {}", tmp.display()))?,
        ))
    };
    let mut total = 0;
    let mut summary = Vec::new();
    for ty in &types {
        let mut body = Vec::new();
        match client.download(&format!("/api/v1/export/{}", enc(ty)), &mut body) {
            Ok(_) => {}
            Err(e)
                if args.ty.is_none()
                    && e.downcast_ref::<ServerError>()
                        .is_some_and(|s| s.status == 403) =>
            {
                eprintln!(
                    "skipped {ty}: it holds personal data, which only an admin token exports"
                );
                continue;
            }
            Err(e) => return Err(e),
        }
        let mut n = 0;
        for line in body.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
            let mut v: Value =
                serde_json::from_slice(line).context("the server sent a line that is not JSON")?;
            if let Some(obj) = v.as_object_mut() {
                let mut with_type = serde_json::Map::new();
                with_type.insert("type".into(), Value::String(ty.clone()));
                with_type.extend(std::mem::take(obj));
                *obj = with_type;
            }
            serde_json::to_writer(&mut out, &v)?;
            out.write_all(b"\n")?;
            n += 1;
        }
        total += n;
        summary.push(format!("{n} {ty}"));
    }
    out.flush()?;
    drop(out);
    if !to_stdout {
        std::fs::rename(&tmp, &args.out)
            .with_context(|| format!("could not write {}", args.out.display()))?;
        println!(
            "exported {total} entries ({}) to {}",
            summary.join(", "),
            args.out.display()
        );
    }
    Ok(exit::OK)
}
