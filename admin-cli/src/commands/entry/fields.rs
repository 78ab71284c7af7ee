//! What the CLI adds to an entry's fields before sending them and to the server's answer:
//! references written as slugs become ids, and field errors say in the editor's words what a
//! field expects.

use serde_json::{Value, json};
use verbund_core::content::is_valid_id;

use super::*;
use crate::client::ServerError;

/// A reference that could not be resolved: where, and what to tell the editor.
pub(super) struct Unresolved {
    pointer: String,
    message: String,
}

/// Replaces references written as slugs (`members: [saalebyte-systemhaus]`) by the ids of
/// the entries they name (the original's id when the slug is a translation's). Values that
/// name nothing are left as they are and returned, to be explained with the server's errors.
pub(super) fn resolve_refs(
    client: &Client,
    info: &TypeInfo,
    body: &mut Value,
) -> anyhow::Result<Vec<Unresolved>> {
    let mut unresolved = Vec::new();
    let Some(props) = info.schema["properties"].as_object() else {
        return Ok(unresolved);
    };
    let Some(obj) = body.as_object_mut() else {
        return Ok(unresolved);
    };
    let mut known: std::collections::HashMap<(&str, String), String> = Default::default();
    for (field, prop) in props {
        let Some(target) = prop["x-verbund"]["ref"].as_str() else {
            continue;
        };
        let mut slots: Vec<(String, &mut Value)> = match obj.get_mut(field) {
            Some(Value::Array(items)) => items
                .iter_mut()
                .enumerate()
                .map(|(i, v)| (format!("/{field}/{i}"), v))
                .collect(),
            Some(v @ Value::String(_)) => vec![(format!("/{field}"), v)],
            _ => Vec::new(),
        };
        for (pointer, slot) in &mut slots {
            let Some(text) = slot.as_str().map(str::trim).map(String::from) else {
                continue;
            };
            if is_valid_id(&text) || text.is_empty() {
                continue;
            }
            // The same slug twice (in two fields, or listed twice) is looked up once.
            if let Some(id) = known.get(&(target, text.clone())) {
                **slot = json!(id);
                continue;
            }
            match client.get(&format!("/api/v1/manage/{}/{}", enc(target), enc(&text))) {
                Ok(found) => {
                    let e = &found["data"];
                    let id = e["translation_of"]
                        .as_str()
                        .or_else(|| e["id"].as_str())
                        .unwrap_or_default()
                        .to_string();
                    **slot = json!(id);
                    known.insert((target, text), id);
                }
                Err(err)
                    if err
                        .downcast_ref::<ServerError>()
                        .is_some_and(|s| s.status == 404) =>
                {
                    unresolved.push(Unresolved {
                        pointer: pointer.clone(),
                        message: format!(
                            "expects the id or slug of a {target}; no {target} has the slug {text:?} (`verbund entry list {target}` shows them)"
                        ),
                    });
                }
                Err(err) => return Err(err),
            }
        }
    }
    Ok(unresolved)
}

/// The schema of the value at `pointer` (through `properties` and `items`).
fn schema_at<'a>(schema: &'a Value, pointer: &str) -> Option<&'a Value> {
    let mut s = schema;
    for part in pointer.trim_start_matches('/').split('/') {
        if part.is_empty() {
            continue;
        }
        s = if part.parse::<usize>().is_ok() && s.get("items").is_some() {
            &s["items"]
        } else {
            s.get("properties")?.get(part)?
        };
    }
    Some(s)
}

/// Says what a field of the wrong shape expects: the keys an object takes (required ones
/// marked), or that a list is wanted.
fn shape_hint(info: &TypeInfo, pointer: &str) -> Option<String> {
    let s = schema_at(&info.schema, pointer)?;
    let props = s["properties"].as_object()?;
    let required: Vec<&str> = s["required"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let keys: Vec<String> = props
        .keys()
        .map(|k| {
            if required.contains(&k.as_str()) {
                format!("{k} (required)")
            } else {
                k.clone()
            }
        })
        .collect();
    let example: Vec<String> = props
        .keys()
        .filter(|k| required.contains(&k.as_str()))
        .map(|k| format!("  {k}: …"))
        .collect();
    Some(format!(
        "with the keys {}{}",
        keys.join(", "),
        if example.is_empty() {
            String::new()
        } else {
            format!(
                ", written as\n{}:\n{}",
                pointer.trim_start_matches('/'),
                example.join("\n")
            )
        }
    ))
}

/// The server's refusal with each field error in the editor's words: unresolved slugs named
/// as such, objects with the keys they take.
pub(super) fn explain(
    info: &TypeInfo,
    unresolved: &[Unresolved],
    err: anyhow::Error,
) -> anyhow::Error {
    let Some(se) = err.downcast_ref::<ServerError>() else {
        return err;
    };
    if !matches!(se.status, 400 | 422) || !se.problem["errors"].is_array() {
        return err;
    }
    let mut problem = se.problem.clone();
    let status = se.status;
    if let Some(errors) = problem["errors"].as_array_mut() {
        for e in errors.iter_mut() {
            let pointer = e["pointer"].as_str().unwrap_or("").to_string();
            if let Some(u) = unresolved.iter().find(|u| u.pointer == pointer) {
                e["message"] = json!(u.message);
                continue;
            }
            let message = e["message"].as_str().unwrap_or("").to_string();
            if (message.starts_with("must be of type \"object\"")
                || message.starts_with("must be of type object"))
                && let Some(hint) = shape_hint(info, &pointer)
            {
                e["message"] = json!(format!("{message}; an object {hint}"));
            }
        }
    }
    anyhow::Error::new(ServerError { status, problem })
}

/// Sends an entry's fields (POST or PUT), with slugs resolved and errors explained.
pub(super) fn send_entry(
    client: &Client,
    info: &TypeInfo,
    method: reqwest::Method,
    path: &str,
    mut body: Value,
    version: Option<u64>,
) -> anyhow::Result<Value> {
    let unresolved = resolve_refs(client, info, &mut body)?;
    match client.send(method, path, Some(&body), version) {
        Ok(mut v) => Ok(v["data"].take()),
        Err(e) => Err(explain(info, &unresolved, e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_object_field_error_names_its_keys() {
        let info = TypeInfo::from_api(&json!({
            "name": "event",
            "schema": {"properties": {"venue": {
                "type": "object",
                "required": ["name", "city"],
                "properties": {"name": {}, "street": {}, "city": {}}
            }}}
        }));
        let hint = shape_hint(&info, "/venue").unwrap();
        assert!(
            hint.contains("name (required), street, city (required)"),
            "{hint}"
        );
        assert!(hint.contains("venue:\n  name: …\n  city: …"), "{hint}");
    }
}
