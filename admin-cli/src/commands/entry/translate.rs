//! `entry translate`: a translation through `$EDITOR`, the original's text beside each field.

use serde_json::Map;

use super::*;

/// The fields a translation has of its own: those marked translatable, and the slug.
fn translatable(info: &TypeInfo) -> Vec<String> {
    let slug = info.schema["x-verbund"]["slug"].as_str();
    info.schema["properties"]
        .as_object()
        .map(|props| {
            props
                .iter()
                .filter(|(name, p)| {
                    p["x-verbund"]["translatable"] == Value::Bool(true)
                        || Some(name.as_str()) == slug
                })
                .map(|(name, _)| name.clone())
                .collect()
        })
        .unwrap_or_default()
}

/// `# ` before every line of `text`.
fn commented(text: &str) -> String {
    text.lines()
        .map(|l| format!("#   {l}\n").replace("#   \n", "#\n"))
        .collect()
}

fn as_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => serde_yaml_ng::to_string(other).unwrap_or_default(),
    }
}

/// The document the translator edits: the translatable fields (the translation's text, or the
/// original's to start from), each with the original's text as a comment above it.
fn document(
    info: &TypeInfo,
    fields: &[String],
    original: &Value,
    translation: Option<&Value>,
    to: &str,
) -> String {
    let from = original["locale"].as_str().unwrap_or("de");
    let outdated: Vec<(String, Option<u64>)> = translation
        .and_then(|t| t["translation"]["outdated"].as_array())
        .into_iter()
        .flatten()
        .map(|o| {
            (
                o["field"].as_str().unwrap_or("").to_string(),
                o["translated_from"].as_u64(),
            )
        })
        .collect();
    let mut head = format!(
        "# {} {} → {to}: translation of „{}“ ({from}, version {})\n",
        info.name,
        original["id"].as_str().unwrap_or(""),
        title_of(original),
        original["version"]
    );
    head.push_str(&format!(
        "# Translate the fields below into {to}; the \"{from}:\" comments show the original.\n# Every other field (dates, references, pictures …) is taken from the original.\n"
    ));
    if let Some(t) = translation {
        head.push_str(&format!(
            "# Editing translation {} (version {}, {}).\n",
            t["id"].as_str().unwrap_or(""),
            t["version"],
            t["state"].as_str().unwrap_or("")
        ));
    }
    let source = translation.unwrap_or(original);
    let mut front = String::new();
    if !outdated.is_empty() {
        // A field whose translation needs no change is confirmed here; a changed one is
        // current once saved anyway.
        front.push_str(&format!(
            "# The fields marked ⚠ changed in the original. A field you change is up to date once\n# saved; list one that needs no change here to confirm it, e.g. [{}]:\ntranslation_current: []\n",
            outdated[0].0
        ));
    }
    let mut body = String::new();
    for f in fields {
        if original[f.as_str()].is_null() && source[f.as_str()].is_null() {
            // Nothing to translate.
            continue;
        }
        let note = outdated.iter().find(|(name, _)| name == f).map(|(_, v)| {
            format!(
                "# ⚠ outdated: the original changed since {} (it is at version {} now)\n",
                v.map_or("this field was translated".to_string(), |v| format!(
                    "version {v}, which this field was translated from"
                )),
                original["version"]
            )
        });
        let original_text = commented(&as_text(&original[f.as_str()]));
        let value = source[f.as_str()].clone();
        if Some(f) == info.body_field.as_ref() {
            front.push_str(&note.unwrap_or_default());
            front.push_str(&format!(
                "# {from}: ({f}, the text below the closing ---)\n{original_text}"
            ));
            body = as_text(&value);
            continue;
        }
        front.push_str(&note.unwrap_or_default());
        front.push_str(&format!("# {from}:\n{original_text}"));
        if value.is_null() {
            front.push_str(&format!("{f}:\n"));
        } else {
            let mut one = Map::new();
            one.insert(f.clone(), value);
            front.push_str(&serde_yaml_ng::to_string(&one).unwrap_or_default());
        }
    }
    match &info.body_field {
        Some(_) => format!("---\n{head}{front}---\n\n{}\n", body.trim_end()),
        None => format!("{head}{front}"),
    }
}

pub(super) fn translate(
    client: &Client,
    ty: &str,
    id: &str,
    to: &str,
    json: bool,
) -> anyhow::Result<u8> {
    if !verbund_core::content::is_locale(to) {
        return Err(anyhow::Error::new(exit::Usage(format!(
            "--to {to:?} is not a locale like en, de or de-AT"
        ))));
    }
    let info = type_info(client, ty)?;
    let named = fetch(client, ty, id)?;
    let original = match named["translation_of"].as_str() {
        Some(orig) => fetch(client, ty, orig)?,
        None => named,
    };
    let original_id = original["id"].as_str().unwrap_or(id).to_string();
    if original["locale"].as_str() == Some(to) {
        return Err(anyhow::Error::new(exit::Usage(format!(
            "{ty} {original_id} is the original, in {to} already; give --to another locale"
        ))));
    }
    let group = client.get(&format!(
        "/api/v1/manage/{}/{}/translations",
        enc(ty),
        enc(&original_id)
    ))?;
    let existing = group["data"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|t| t["locale"].as_str() == Some(to) && t["id"] != original["id"])
        .cloned();
    let fields = translatable(&info);
    if fields.is_empty() {
        return Err(anyhow::Error::new(exit::Usage(format!(
            "{ty} has no translatable fields (mark them in schemas/{ty}.json with \"x-verbund\": {{\"translatable\": true}})"
        ))));
    }
    let text = document(&info, &fields, &original, existing.as_ref(), to);
    let submit = |mut body: Value| -> anyhow::Result<Value> {
        let Some(obj) = body.as_object_mut() else {
            anyhow::bail!("the document must hold the fields");
        };
        obj.retain(|k, v| (fields.contains(k) || k == "translation_current") && !v.is_null());
        let res = match &existing {
            None => {
                obj.insert("locale".into(), Value::String(to.to_string()));
                obj.insert("translation_of".into(), Value::String(original_id.clone()));
                client.send(
                    reqwest::Method::POST,
                    &format!("/api/v1/manage/{}", enc(ty)),
                    Some(&body),
                    None,
                )?
            }
            Some(t) => client.send(
                reqwest::Method::PUT,
                &format!(
                    "/api/v1/manage/{}/{}",
                    enc(ty),
                    enc(t["id"].as_str().unwrap_or(""))
                ),
                Some(&body),
                t["version"].as_u64(),
            )?,
        };
        Ok(res["data"].clone())
    };
    let draft = format!("{ty}-{original_id}-{to}");
    match editor::round_trip(&info, &draft, &text, submit)? {
        Outcome::Saved(e) => {
            if json {
                output::json(&e)?;
            } else {
                println!(
                    "{} {to} translation {ty} {} of {original_id} „{}“ (version {}, {})",
                    if existing.is_some() {
                        "saved"
                    } else {
                        "created"
                    },
                    e["id"].as_str().unwrap_or(""),
                    title_of(&e),
                    e["version"],
                    e["state"].as_str().unwrap_or("")
                );
            }
            Ok(exit::OK)
        }
        Outcome::Unchanged => {
            eprintln!("No changes; nothing was saved.");
            Ok(exit::OK)
        }
    }
}
