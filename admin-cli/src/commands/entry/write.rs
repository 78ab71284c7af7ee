//! Writing entries: `entry new`, `edit` (through `$EDITOR` or a file) and `delete`.

use super::*;

/// The entry id and version a file written by the CLI was based on, from its header comment
/// (`# story 01J… · version 3 · draft`).
pub(super) fn based_on(text: &str) -> Option<(String, u64)> {
    text.lines()
        .take(40)
        .filter_map(|l| l.trim_start().strip_prefix('#'))
        .find_map(|c| {
            let mut parts = c.split(" · ");
            let id = parts.next()?.split_whitespace().nth(1)?.to_string();
            let v = parts
                .next()?
                .trim()
                .strip_prefix("version ")?
                .parse()
                .ok()?;
            Some((id, v))
        })
}

pub(super) fn read_file(path: &std::path::Path, info: &TypeInfo) -> anyhow::Result<Value> {
    let format = Format::of_path(path)?;
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("could not read {}", path.display()))?;
    doc::parse(Some(info), format, &text)
        .with_context(|| format!("{} is not valid", path.display()))
}

pub(super) fn saved(ty: &str, e: &Value, verb: &str, json: bool) -> anyhow::Result<u8> {
    if json {
        output::json(e)?;
    } else {
        println!(
            "{verb} {ty} {} „{}“ (version {}, {})",
            e["id"].as_str().unwrap_or(""),
            title_of(e),
            e["version"],
            e["state"].as_str().unwrap_or("")
        );
        println!("{}", live_status(ty, e));
    }
    Ok(exit::OK)
}

pub(super) fn new(
    client: &Client,
    ty: &str,
    file: Option<PathBuf>,
    json: bool,
) -> anyhow::Result<u8> {
    let info = type_info(client, ty)?;
    let base = file
        .as_deref()
        .and_then(std::path::Path::parent)
        .map(std::path::Path::to_path_buf)
        .unwrap_or_default();
    let post = |mut body: Value| -> anyhow::Result<Value> {
        crate::commands::asset::upload_local_files(client, &info, &mut body, &base)?;
        fields::send_entry(
            client,
            &info,
            reqwest::Method::POST,
            &format!("/api/v1/manage/{}", enc(ty)),
            body,
            None,
        )
    };
    match file {
        Some(path) => saved(ty, &post(read_file(&path, &info)?)?, "created", json),
        None => match editor::round_trip(&info, &format!("{ty}-neu"), &doc::template(&info), post)?
        {
            Outcome::Saved(e) => saved(ty, &e, "created", json),
            Outcome::Unchanged => {
                eprintln!("The template was left unchanged; nothing was created.");
                Ok(exit::OK)
            }
        },
    }
}

pub(super) fn edit(
    client: &Client,
    ty: &str,
    id: &str,
    file: Option<PathBuf>,
    json: bool,
) -> anyhow::Result<u8> {
    let info = type_info(client, ty)?;
    let current = fetch(client, ty, id)?;
    let real_id = current["id"].as_str().unwrap_or(id).to_string();
    let version = current["version"].as_u64().unwrap_or(0);
    let base = file
        .as_deref()
        .and_then(std::path::Path::parent)
        .map(std::path::Path::to_path_buf)
        .unwrap_or_default();
    let put = |mut body: Value| -> anyhow::Result<Value> {
        crate::commands::asset::upload_local_files(client, &info, &mut body, &base)?;
        fields::send_entry(
            client,
            &info,
            reqwest::Method::PUT,
            &format!("/api/v1/manage/{}/{}", enc(ty), enc(&real_id)),
            body,
            Some(version),
        )
    };
    match file {
        Some(path) => {
            // A file the CLI wrote (a kept draft, `entry show` output) names the version it was
            // based on: send it with that version, so that a colleague's change made since is
            // never overwritten (the server answers with a conflict instead).
            let text = std::fs::read_to_string(&path)
                .with_context(|| format!("could not read {}", path.display()))?;
            let mut body = read_file(&path, &info)?;
            crate::commands::asset::upload_local_files(client, &info, &mut body, &base)?;
            let base = match based_on(&text) {
                Some((file_id, _)) if file_id != real_id => {
                    return Err(anyhow::Error::new(exit::Usage(format!(
                        "{} was written for {ty} {file_id}, not for {real_id}; send it to that entry",
                        path.display()
                    ))));
                }
                Some((_, v)) => v,
                None => version,
            };
            let sent = fields::send_entry(
                client,
                &info,
                reqwest::Method::PUT,
                &format!("/api/v1/manage/{}/{}", enc(ty), enc(&real_id)),
                body,
                Some(base),
            );
            match sent {
                Ok(v) => saved(ty, &v, "saved", json),
                Err(e) if base != version => Err(e.context(format!(
                    "{} is based on version {base}, but {ty} {real_id} is at version {version} now: someone changed it meanwhile. Nothing was overwritten. Run `verbund entry diff {ty} {real_id}` to see their change, then `verbund entry edit {ty} {real_id}` and apply yours again",
                    path.display()
                ))),
                Err(e) => Err(e),
            }
        }
        None => {
            let text = doc::render(
                &info,
                &doc::fields_of(&current, &info),
                &[header_of(ty, &current)],
            );
            match editor::round_trip(&info, &format!("{ty}-{real_id}"), &text, put)? {
                Outcome::Saved(e) => saved(ty, &e, "saved", json),
                Outcome::Unchanged => {
                    eprintln!("No changes; version {version} stays current.");
                    Ok(exit::OK)
                }
            }
        }
    }
}

pub(super) fn delete(client: &Client, ty: &str, id: &str, yes: bool) -> anyhow::Result<u8> {
    let e = fetch(client, ty, id)?;
    let real_id = e["id"].as_str().unwrap_or(id).to_string();
    if !yes {
        if !std::io::stdin().is_terminal() {
            return Err(anyhow::Error::new(exit::Usage(format!(
                "deleting {ty} {real_id} needs confirmation: add --yes"
            ))));
        }
        eprint!(
            "Delete {ty} {real_id} „{}“ with all {} version(s)? This cannot be undone. [y/N] ",
            title_of(&e),
            e["version"]
        );
        let mut answer = String::new();
        std::io::stdin().read_line(&mut answer)?;
        if !matches!(answer.trim(), "y" | "Y" | "yes" | "j" | "ja") {
            eprintln!("Nothing was deleted.");
            return Ok(exit::OK);
        }
    }
    client.send(
        reqwest::Method::DELETE,
        &format!("/api/v1/manage/{}/{}", enc(ty), enc(&real_id)),
        None,
        e["version"].as_u64(),
    )?;
    println!("deleted {ty} {real_id} „{}“", title_of(&e));
    Ok(exit::OK)
}

/// `entry revert TYPE ID --to N`: a new version with the fields of version N.
pub(super) fn revert(
    client: &Client,
    ty: &str,
    id: &str,
    to: u64,
    json: bool,
) -> anyhow::Result<u8> {
    let info = type_info(client, ty)?;
    let current = fetch(client, ty, id)?;
    let real_id = current["id"].as_str().unwrap_or(id).to_string();
    let version = current["version"].as_u64().unwrap_or(0);
    if to == version {
        println!("version {to} is the current version of {ty} {id} already; nothing to revert");
        return Ok(exit::OK);
    }
    let revs = super::read::versions(client, ty, &real_id)?;
    let Some(old) = revs.iter().find(|r| r["version"].as_u64() == Some(to)) else {
        return Err(anyhow::Error::new(crate::client::ServerError {
            status: 404,
            problem: json!({
                "detail": format!("{ty} {id} has no version {to}; it has versions 1 to {version} (`verbund entry revisions {ty} {id}`)")
            }),
        }));
    };
    let body = Value::Object(doc::fields_of(old, &info));
    let e = fields::send_entry(
        client,
        &info,
        reqwest::Method::PUT,
        &format!("/api/v1/manage/{}/{}", enc(ty), enc(&real_id)),
        body,
        Some(version),
    )?;
    saved(ty, &e, &format!("reverted to version {to}:"), json)
}
