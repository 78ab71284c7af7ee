//! Reading entries: `entry list`, `show`, `revisions` and `diff`.

use serde_json::Value;

use super::*;

/// What `entry list` selects besides the filters.
pub(super) struct Selection {
    pub state: Option<String>,
    pub locale: Option<String>,
    pub outdated: bool,
}

pub(super) fn list(
    client: &Client,
    ty: &str,
    sel: Selection,
    filters: &[String],
    limit: usize,
    json: bool,
) -> anyhow::Result<u8> {
    let mut query = String::new();
    if let Some(s) = &sel.state {
        query.push_str(&format!("&state={}", enc(s)));
    }
    if let Some(l) = &sel.locale {
        query.push_str(&format!("&locale={}", enc(l)));
    }
    if sel.outdated {
        query.push_str("&outdated=true");
    }
    let state = sel.state;
    for f in filters {
        let Some((field, value)) = f.split_once('=') else {
            return Err(anyhow::Error::new(exit::Usage(format!(
                "--filter {f:?} is not FIELD=VALUE or FIELD:OP=VALUE, e.g. --filter state_region=Sachsen or --filter member_since:lt=2015-01-01"
            ))));
        };
        match field.split_once(':') {
            Some((field, op)) => query.push_str(&format!(
                "&filter[{}][{}]={}",
                enc(field),
                enc(op),
                enc(value)
            )),
            None => query.push_str(&format!("&filter[{}]={}", enc(field), enc(value))),
        }
    }
    let mut items = Vec::new();
    let mut cursor: Option<String> = None;
    while items.len() < limit {
        let mut path = format!(
            "/api/v1/manage/{}?limit={}{query}",
            enc(ty),
            (limit - items.len()).min(100)
        );
        if let Some(c) = &cursor {
            path.push_str(&format!("&cursor={}", enc(c)));
        }
        let page = client.get(&path)?;
        items.extend(page["data"].as_array().cloned().unwrap_or_default());
        cursor = page["meta"]["next_cursor"].as_str().map(String::from);
        if cursor.is_none() {
            break;
        }
    }
    if json {
        output::json(&Value::Array(items))?;
    } else if items.is_empty() {
        println!(
            "no {}{ty} entries{}",
            if sel.outdated { "outdated " } else { "" },
            state.map(|s| format!(" in state {s}")).unwrap_or_default()
        );
    } else {
        let rows: Vec<Vec<String>> = items
            .iter()
            .map(|e| {
                let mut state = e["state"].as_str().unwrap_or("").to_string();
                if let Some(s) = e["scheduled"].as_object() {
                    state = format!(
                        "{state}, {} at {}",
                        s.get("transition").and_then(Value::as_str).unwrap_or(""),
                        short_time(s.get("at").unwrap_or(&Value::Null))
                    );
                }
                let mut title = title_of(e);
                if let Some(fields) = outdated_names(e) {
                    title = format!("{title}  [outdated: {fields}]");
                }
                vec![
                    e["id"].as_str().unwrap_or("").to_string(),
                    e["slug"].as_str().unwrap_or("").to_string(),
                    state,
                    e["version"].to_string(),
                    public_cell(e),
                    e["locale"].as_str().unwrap_or("").to_string(),
                    short_time(&e["updated_at"]),
                    title,
                ]
            })
            .collect();
        output::table(
            &[
                "ID", "SLUG", "STATE", "VER", "PUBLIC", "LOCALE", "UPDATED", "TITLE",
            ],
            &rows,
            Some(2),
        );
        if cursor.is_some() {
            println!("(more entries: raise --limit)");
        }
    }
    Ok(exit::OK)
}

/// Which version `entry show` prints.
pub(super) struct Which {
    pub version: Option<u64>,
    pub locale: Option<String>,
}

pub(super) fn show(
    client: &Client,
    ty: &str,
    id: &str,
    which: Which,
    json: bool,
) -> anyhow::Result<u8> {
    let mut e = fetch(client, ty, id)?;
    if let Some(locale) = &which.locale
        && e["locale"].as_str() != Some(locale)
    {
        let real_id = e["id"].as_str().unwrap_or(id).to_string();
        let group = client.get(&format!(
            "/api/v1/manage/{}/{}/translations",
            enc(ty),
            enc(&real_id)
        ))?;
        let all = group["data"].as_array().cloned().unwrap_or_default();
        match all.iter().find(|t| t["locale"].as_str() == Some(locale)) {
            Some(t) => e = t.clone(),
            None => {
                let have: Vec<&str> = all.iter().filter_map(|t| t["locale"].as_str()).collect();
                return Err(not_found(format!(
                    "{ty} {id} has no version in locale {locale}; it exists in {}. Create one with `verbund entry translate {ty} {id} --to {locale}`",
                    have.join(", ")
                )));
            }
        }
    }
    let current = e["version"].as_u64().unwrap_or(0);
    if let Some(v) = which.version.filter(|v| *v != current) {
        let real_id = e["id"].as_str().unwrap_or(id).to_string();
        let revs = versions(client, ty, &real_id)?;
        match revs.iter().find(|r| r["version"].as_u64() == Some(v)) {
            Some(r) => e = r.clone(),
            None => {
                return Err(not_found(format!(
                    "{ty} {id} has no version {v}; it has versions 1 to {current} (`verbund entry revisions {ty} {id}`)"
                )));
            }
        }
    }
    if json {
        output::json(&e)?;
        return Ok(exit::OK);
    }
    let info = type_info(client, ty)?;
    // Everything about the entry is a comment inside the document, so that the output can be
    // edited and sent back with `entry edit --file`.
    let mut notes = vec![header_of(ty, &e)];
    if e["version"].as_u64() == Some(current) {
        notes.push(live_status(ty, &e));
    } else {
        notes.push(format!(
            "an older version (the current one is {current}); `verbund entry revert {ty} {} --to {}` makes its fields current again",
            e["slug"].as_str().or(e["id"].as_str()).unwrap_or(id),
            e["version"]
        ));
    }
    if let Some(t) = e["translation"].as_object() {
        notes.push(format!(
            "translation of {} ({}, now version {})",
            t.get("original").and_then(Value::as_str).unwrap_or(""),
            t.get("original_locale")
                .and_then(Value::as_str)
                .unwrap_or(""),
            t.get("original_version").unwrap_or(&Value::Null)
        ));
        for o in t
            .get("outdated")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let from = match o["translated_from"].as_u64() {
                Some(v) => format!("translated from version {v}"),
                None => "never translated".into(),
            };
            notes.push(format!(
                "outdated: {} ({from}; the original changed since)",
                o["field"].as_str().unwrap_or("")
            ));
        }
    }
    print!("{}", doc::render(&info, &doc::fields_of(&e, &info), &notes));
    Ok(exit::OK)
}

fn not_found(detail: String) -> anyhow::Error {
    anyhow::Error::new(crate::client::ServerError {
        status: 404,
        problem: serde_json::json!({ "detail": detail }),
    })
}

pub(super) fn versions(client: &Client, ty: &str, id: &str) -> anyhow::Result<Vec<Value>> {
    let e = fetch(client, ty, id)?;
    let real_id = e["id"].as_str().unwrap_or(id);
    let res = client.get(&format!(
        "/api/v1/manage/{}/{}/revisions",
        enc(ty),
        enc(real_id)
    ))?;
    Ok(res["data"].as_array().cloned().unwrap_or_default())
}

pub(super) fn revisions(client: &Client, ty: &str, id: &str, json: bool) -> anyhow::Result<u8> {
    let revs = versions(client, ty, id)?;
    if json {
        output::json(&Value::Array(revs))?;
        return Ok(exit::OK);
    }
    let rows: Vec<Vec<String>> = revs
        .iter()
        .map(|r| {
            vec![
                r["version"].to_string(),
                r["state"].as_str().unwrap_or("").to_string(),
                short_time(&r["updated_at"]),
                title_of(r),
            ]
        })
        .collect();
    output::table(&["VERSION", "STATE", "SAVED", "TITLE"], &rows, Some(1));
    Ok(exit::OK)
}

pub(super) fn diff(
    client: &Client,
    ty: &str,
    id: &str,
    v1: Option<u64>,
    v2: Option<u64>,
    json: bool,
) -> anyhow::Result<u8> {
    let revs = versions(client, ty, id)?;
    let newest = revs.last().and_then(|r| r["version"].as_u64()).unwrap_or(1);
    let to = v2.unwrap_or(newest);
    let from = v1.unwrap_or(to.saturating_sub(1).max(1));
    let pick = |v: u64| -> anyhow::Result<&Value> {
        revs.iter()
            .find(|r| r["version"].as_u64() == Some(v))
            .ok_or_else(|| {
                anyhow::Error::new(crate::client::ServerError {
                    status: 404,
                    problem: serde_json::json!({
                        "detail": format!("{ty} {id} has no version {v}; it has versions 1 to {newest}")
                    }),
                })
            })
    };
    let (a, b) = (pick(from)?, pick(to)?);
    let info = type_info(client, ty)?;
    let ta = doc::render(&info, &doc::fields_of(a, &info), &[]);
    let tb = doc::render(&info, &doc::fields_of(b, &info), &[]);
    let text = similar::TextDiff::from_lines(&ta, &tb)
        .unified_diff()
        .context_radius(3)
        .header(&format!("version {from}"), &format!("version {to}"))
        .to_string();
    if json {
        output::json(&serde_json::json!({ "from": a, "to": b, "diff": text }))?;
        return Ok(exit::OK);
    }
    if ta == tb {
        println!("versions {from} and {to} have the same fields");
        return Ok(exit::OK);
    }
    for line in text.lines() {
        let shown = if line.starts_with("+++") || line.starts_with("---") {
            output::paint("1", line)
        } else if line.starts_with('+') {
            output::paint("32", line)
        } else if line.starts_with('-') {
            output::paint("31", line)
        } else if line.starts_with("@@") {
            output::paint("36", line)
        } else {
            line.to_string()
        };
        println!("{shown}");
    }
    Ok(exit::OK)
}

/// The outdated fields of a translation, comma-separated, if any.
pub(super) fn outdated_names(e: &Value) -> Option<String> {
    let names: Vec<&str> = e["translation"]["outdated"]
        .as_array()?
        .iter()
        .filter_map(|o| o["field"].as_str())
        .collect();
    (!names.is_empty()).then(|| names.join(", "))
}
