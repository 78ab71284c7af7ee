//! `verbund asset …`: the media library on a running server — upload, list, show, edit,
//! delete — and the upload of local files named in an entry's asset fields.

use std::path::{Path, PathBuf};

use anyhow::Context;
use serde_json::{Map, Value, json};

use crate::client::{Client, RemoteArgs};
use crate::doc::TypeInfo;
use crate::{exit, output};

#[derive(Debug, clap::Args)]
pub struct AssetArgs {
    #[command(flatten)]
    remote: RemoteArgs,
    #[command(subcommand)]
    command: AssetCommand,
}

#[derive(Debug, clap::Subcommand)]
enum AssetCommand {
    /// Upload a file (JPEG, PNG, GIF, WebP or PDF) and print its id. Location data and other
    /// metadata are removed from the stored file.
    #[command(
        after_help = "Examples:\n  verbund asset upload logo.png --alt \"Logo der Saalebyte Systemhaus GmbH\"\n  verbund asset upload sommerfest.jpg --alt \"Gäste beim Sommerfest im Hof\" --credit \"Foto: Maria Schulz\" --license \"CC BY 4.0\"\n  verbund asset upload programm.pdf"
    )]
    Upload {
        file: PathBuf,
        /// Alternative text (what the image shows), in --locale.
        #[arg(long)]
        alt: Option<String>,
        /// The locale of --alt.
        #[arg(long, default_value = "de")]
        locale: String,
        /// The image is purely decorative and needs no alt text.
        #[arg(long)]
        decorative: bool,
        #[arg(long)]
        caption: Option<String>,
        /// Who made it, e.g. "Foto: Maria Schulz".
        #[arg(long)]
        credit: Option<String>,
        /// Under which licence it may be used, e.g. "CC BY 4.0".
        #[arg(long)]
        license: Option<String>,
        /// Print the asset as JSON.
        #[arg(long)]
        json: bool,
    },
    /// List the assets (oldest first).
    #[command(
        after_help = "Examples:\n  verbund asset list\n  verbund asset list --kind image --search sommerfest\n  verbund asset list --unused"
    )]
    List {
        /// image or file.
        #[arg(long)]
        kind: Option<String>,
        /// Text in the file name, alt texts, caption or credit.
        #[arg(long)]
        search: Option<String>,
        /// Only assets no entry uses.
        #[arg(long)]
        unused: bool,
        #[arg(long)]
        json: bool,
    },
    /// Show an asset: its metadata, where it is used and its URLs.
    #[command(
        after_help = "Examples:\n  verbund asset show 01J…\n  verbund asset show 01J… --json | jq .urls.srcset"
    )]
    Show {
        id: String,
        #[arg(long)]
        json: bool,
    },
    /// Change an asset's metadata (the file itself never changes).
    #[command(
        after_help = "Examples:\n  verbund asset edit 01J… --alt \"Podium der Mitgliederversammlung\"\n  verbund asset edit 01J… --alt \"Panel at the members' meeting\" --locale en\n  verbund asset edit 01J… --focal 0.3,0.4 --crop 0,0.1,1,0.8\n  verbund asset edit 01J… --consent-person \"Anna Beispiel\" --consent-email anna@example.org --consent-date 2026-09-12 --consent-scope \"Website und Newsletter\""
    )]
    Edit {
        id: String,
        /// Alternative text in --locale.
        #[arg(long)]
        alt: Option<String>,
        /// Remove the alt text in --locale.
        #[arg(long, conflicts_with = "alt")]
        no_alt: bool,
        #[arg(long, default_value = "de")]
        locale: String,
        /// Mark as decorative (true) or not (false).
        #[arg(long)]
        decorative: Option<bool>,
        #[arg(long)]
        caption: Option<String>,
        #[arg(long)]
        credit: Option<String>,
        #[arg(long)]
        license: Option<String>,
        #[arg(long)]
        filename: Option<String>,
        /// The point that stays in view when renditions cut the image: X,Y as fractions (0–1).
        #[arg(long, value_name = "X,Y")]
        focal: Option<String>,
        /// Show only this part (fractions of width and height): X,Y,W,H. The original is kept.
        #[arg(long, value_name = "X,Y,W,H", conflicts_with = "no_crop")]
        crop: Option<String>,
        /// Remove the crop.
        #[arg(long)]
        no_crop: bool,
        /// Who is shown and agreed to the use of the photo.
        #[arg(long)]
        consent_person: Option<String>,
        #[arg(long)]
        consent_email: Option<String>,
        /// When they agreed (YYYY-MM-DD).
        #[arg(long)]
        consent_date: Option<String>,
        /// For what use, e.g. "Website und Newsletter".
        #[arg(long)]
        consent_scope: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Delete an asset that no entry uses (its file goes when no other asset has the same bytes).
    #[command(after_help = "Example:\n  verbund asset delete 01J…")]
    Delete { id: String },
}

fn enc(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.~".contains(c) {
                c.to_string()
            } else {
                let mut b = [0u8; 4];
                c.encode_utf8(&mut b)
                    .bytes()
                    .map(|x| format!("%{x:02X}"))
                    .collect()
            }
        })
        .collect()
}

fn fractions(s: &str, n: usize, what: &str) -> anyhow::Result<Vec<f64>> {
    let parts: Vec<f64> = s
        .split(',')
        .map(|p| p.trim().parse::<f64>())
        .collect::<Result<_, _>>()
        .map_err(|_| {
            anyhow::Error::new(exit::Usage(format!(
                "{what} takes {n} numbers separated by commas, got {s:?}"
            )))
        })?;
    if parts.len() != n {
        return Err(anyhow::Error::new(exit::Usage(format!(
            "{what} takes {n} numbers separated by commas, got {s:?}"
        ))));
    }
    Ok(parts)
}

/// Uploads a local file and returns the asset record.
pub fn upload(client: &Client, file: &Path, meta: &[(&str, String)]) -> anyhow::Result<Value> {
    let bytes =
        std::fs::read(file).with_context(|| format!("could not read {}", file.display()))?;
    let name = file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "upload".into());
    let mut query = format!("filename={}", enc(&name));
    for (k, v) in meta {
        query.push_str(&format!("&{k}={}", enc(v)));
    }
    let res = client
        .send_bytes(
            reqwest::Method::POST,
            &format!("/api/v1/manage/assets?{query}"),
            bytes,
            "application/octet-stream",
        )
        .with_context(|| format!("{} was not uploaded", file.display()))?;
    Ok(res["data"].clone())
}

fn is_asset_id(s: &str) -> bool {
    s.len() == 26
        && s.bytes()
            .all(|b| b.is_ascii_digit() || b.is_ascii_uppercase())
}

/// Replaces local file paths in an entry's asset fields by the ids of the uploaded files, so
/// that an editor can write `image: ./fotos/sommerfest.jpg`. `base` is where relative paths
/// start (the file's folder, or the working directory).
pub fn upload_local_files(
    client: &Client,
    info: &TypeInfo,
    body: &mut Value,
    base: &Path,
) -> anyhow::Result<()> {
    let Some(props) = info.schema["properties"].as_object() else {
        return Ok(());
    };
    let Some(obj) = body.as_object_mut() else {
        return Ok(());
    };
    for (name, prop) in props {
        if prop["x-verbund"]["asset"].as_str().is_none() {
            continue;
        }
        let replace = |v: &mut Value| -> anyhow::Result<()> {
            let Some(s) = v.as_str() else {
                return Ok(());
            };
            if is_asset_id(s) {
                return Ok(());
            }
            let path = base.join(s);
            if !path.is_file() {
                return Ok(());
            }
            let asset = upload(client, &path, &[])?;
            let id = asset["id"].as_str().unwrap_or("").to_string();
            eprintln!(
                "uploaded {} as asset {id}{}",
                path.display(),
                if asset["alt"].as_object().is_none_or(|m| m.is_empty()) {
                    format!(
                        " (give it an alt text before publishing: verbund asset edit {id} --alt \"…\")"
                    )
                } else {
                    String::new()
                }
            );
            *v = Value::String(id);
            Ok(())
        };
        match obj.get_mut(name) {
            Some(Value::Array(items)) => {
                for item in items {
                    replace(item)?;
                }
            }
            Some(v) => replace(v)?,
            None => {}
        }
    }
    Ok(())
}

fn size(bytes: u64) -> String {
    if bytes >= 1 << 20 {
        format!("{:.1} MB", bytes as f64 / (1 << 20) as f64)
    } else {
        format!("{} kB", bytes.div_ceil(1024))
    }
}

fn print_asset(a: &Value, base_url: &str) {
    let dims = match (a["width"].as_u64(), a["height"].as_u64()) {
        (Some(w), Some(h)) => format!(", {w}×{h}"),
        _ => String::new(),
    };
    println!(
        "asset {} · {} · {}{dims}, {} · version {}",
        a["id"].as_str().unwrap_or(""),
        a["filename"].as_str().unwrap_or(""),
        a["media_type"].as_str().unwrap_or(""),
        size(a["bytes"].as_u64().unwrap_or(0)),
        a["version"]
    );
    if let Some(alt) = a["alt"].as_object() {
        for (l, t) in alt {
            println!("  alt ({l}): {}", t.as_str().unwrap_or(""));
        }
    }
    if a["kind"] == "image" && a["alt"].as_object().is_none_or(|m| m.is_empty()) {
        if a["decorative"] == true {
            println!("  decorative (no alt text needed)");
        } else {
            println!(
                "  no alt text: entries showing it cannot be published until it has one (--alt)"
            );
        }
    }
    for k in ["caption", "credit", "license"] {
        if let Some(s) = a[k].as_str() {
            println!("  {k}: {s}");
        }
    }
    if let Some(c) = a["consent"].as_object() {
        println!(
            "  consent: {} ({}) on {} for {}",
            c.get("person").and_then(Value::as_str).unwrap_or(""),
            c.get("email")
                .and_then(Value::as_str)
                .unwrap_or("no e-mail"),
            c.get("given_at").and_then(Value::as_str).unwrap_or(""),
            c.get("scope").and_then(Value::as_str).unwrap_or("")
        );
    }
    if !a["focal"].is_null() {
        println!("  focal point: {}", a["focal"]);
    }
    if !a["crop"].is_null() {
        println!("  crop: {}", a["crop"]);
    }
    if let Some(removed) = a["sanitised"].as_array().filter(|r| !r.is_empty()) {
        let r: Vec<&str> = removed.iter().filter_map(Value::as_str).collect();
        println!("  removed on upload: {}", r.join("; "));
    }
    let used: Vec<String> = a["used_by"]
        .as_array()
        .map(|u| {
            u.iter()
                .map(|r| {
                    format!(
                        "{} {}",
                        r["type"].as_str().unwrap_or(""),
                        r["id"].as_str().unwrap_or("")
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    println!(
        "  used by: {}",
        if used.is_empty() {
            "nothing".into()
        } else {
            used.join(", ")
        }
    );
    println!(
        "  {}: {base_url}{}",
        if a["public"] == true {
            "public"
        } else {
            "not public yet (no published entry shows it)"
        },
        a["urls"]["url"].as_str().unwrap_or("")
    );
}

pub fn run(args: AssetArgs) -> anyhow::Result<u8> {
    let client = Client::from_args(&args.remote)?;
    match args.command {
        AssetCommand::Upload {
            file,
            alt,
            locale,
            decorative,
            caption,
            credit,
            license,
            json,
        } => {
            let mut meta = vec![("locale", locale)];
            for (k, v) in [
                ("alt", alt),
                ("caption", caption),
                ("credit", credit),
                ("license", license),
            ] {
                if let Some(v) = v {
                    meta.push((k, v));
                }
            }
            if decorative {
                meta.push(("decorative", "true".into()));
            }
            let a = upload(&client, &file, &meta)?;
            if json {
                output::json(&a)?;
            } else {
                print_asset(&a, &client.url);
            }
            Ok(exit::OK)
        }
        AssetCommand::List {
            kind,
            search,
            unused,
            json,
        } => {
            let mut all = Vec::new();
            let mut cursor: Option<String> = None;
            loop {
                let mut q = vec!["limit=200".to_string()];
                if let Some(k) = &kind {
                    q.push(format!("kind={}", enc(k)));
                }
                if let Some(s) = &search {
                    q.push(format!("q={}", enc(s)));
                }
                if unused {
                    q.push("unused=true".into());
                }
                if let Some(c) = &cursor {
                    q.push(format!("cursor={}", enc(c)));
                }
                let mut page = client.get(&format!("/api/v1/manage/assets?{}", q.join("&")))?;
                if let Some(items) = page["data"].as_array_mut() {
                    all.append(items);
                }
                cursor = page["meta"]["next_cursor"].as_str().map(String::from);
                if cursor.is_none() {
                    break;
                }
            }
            if json {
                output::json(&Value::Array(all))?;
                return Ok(exit::OK);
            }
            if all.is_empty() {
                eprintln!("no assets");
                return Ok(exit::OK);
            }
            let rows: Vec<Vec<String>> = all
                .iter()
                .map(|a| {
                    vec![
                        a["id"].as_str().unwrap_or("").to_string(),
                        a["filename"].as_str().unwrap_or("").to_string(),
                        match (a["width"].as_u64(), a["height"].as_u64()) {
                            (Some(w), Some(h)) => format!("{w}×{h}"),
                            _ => a["media_type"].as_str().unwrap_or("").to_string(),
                        },
                        size(a["bytes"].as_u64().unwrap_or(0)),
                        a["used_by"].as_array().map_or(0, Vec::len).to_string(),
                        a["alt"]["de"]
                            .as_str()
                            .unwrap_or(if a["decorative"] == true {
                                "(dekorativ)"
                            } else {
                                "–"
                            })
                            .to_string(),
                    ]
                })
                .collect();
            output::table(
                &["ID", "FILE", "SIZE", "BYTES", "USED", "ALT (de)"],
                &rows,
                None,
            );
            Ok(exit::OK)
        }
        AssetCommand::Show { id, json } => {
            let a = client.get(&format!("/api/v1/manage/assets/{}", enc(&id)))?["data"].take();
            if json {
                output::json(&a)?;
            } else {
                print_asset(&a, &client.url);
            }
            Ok(exit::OK)
        }
        AssetCommand::Edit {
            id,
            alt,
            no_alt,
            locale,
            decorative,
            caption,
            credit,
            license,
            filename,
            focal,
            crop,
            no_crop,
            consent_person,
            consent_email,
            consent_date,
            consent_scope,
            json,
        } => {
            let mut patch = Map::new();
            if let Some(a) = alt {
                patch.insert("alt".into(), json!({ locale.clone(): a }));
            }
            if no_alt {
                patch.insert("alt".into(), json!({ locale.clone(): null }));
            }
            if let Some(d) = decorative {
                patch.insert("decorative".into(), json!(d));
            }
            for (k, v) in [
                ("caption", caption),
                ("credit", credit),
                ("license", license),
                ("filename", filename),
            ] {
                if let Some(v) = v {
                    patch.insert(k.into(), json!(v));
                }
            }
            if let Some(f) = focal {
                let p = fractions(&f, 2, "--focal")?;
                patch.insert("focal".into(), json!({"x": p[0], "y": p[1]}));
            }
            if let Some(c) = crop {
                let p = fractions(&c, 4, "--crop")?;
                patch.insert(
                    "crop".into(),
                    json!({"x": p[0], "y": p[1], "w": p[2], "h": p[3]}),
                );
            }
            if no_crop {
                patch.insert("crop".into(), Value::Null);
            }
            let consent: Map<String, Value> = [
                ("person", consent_person),
                ("email", consent_email),
                ("given_at", consent_date),
                ("scope", consent_scope),
            ]
            .into_iter()
            .filter_map(|(k, v)| v.map(|v| (k.to_string(), json!(v))))
            .collect();
            if !consent.is_empty() {
                patch.insert("consent".into(), Value::Object(consent));
            }
            if patch.is_empty() {
                return Err(anyhow::Error::new(exit::Usage(
                    "nothing to change: give --alt, --decorative, --caption, --credit, --license, --focal, --crop or --consent-…".into(),
                )));
            }
            let current = client.get(&format!("/api/v1/manage/assets/{}", enc(&id)))?;
            let version = current["data"]["version"].as_u64().unwrap_or(0);
            let a = client.send(
                reqwest::Method::PATCH,
                &format!("/api/v1/manage/assets/{}", enc(&id)),
                Some(&Value::Object(patch)),
                Some(version),
            )?["data"]
                .take();
            if json {
                output::json(&a)?;
            } else {
                print_asset(&a, &client.url);
            }
            Ok(exit::OK)
        }
        AssetCommand::Delete { id } => {
            let current = client.get(&format!("/api/v1/manage/assets/{}", enc(&id)))?;
            let version = current["data"]["version"].as_u64().unwrap_or(0);
            client.send(
                reqwest::Method::DELETE,
                &format!("/api/v1/manage/assets/{}", enc(&id)),
                None,
                Some(version),
            )?;
            println!("deleted asset {id}");
            Ok(exit::OK)
        }
    }
}
