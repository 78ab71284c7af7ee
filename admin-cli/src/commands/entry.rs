//! `verbund entry …`: editors' commands on entries over the HTTP API.

use std::io::IsTerminal;
use std::path::PathBuf;

use anyhow::Context;
use serde_json::{Value, json};

use crate::client::{Client, RemoteArgs};
use crate::doc::{self, Format, TypeInfo};
use crate::editor::{self, Outcome};
use crate::{exit, output};

#[derive(Debug, clap::Args)]
pub struct EntryArgs {
    #[command(flatten)]
    remote: RemoteArgs,
    #[command(subcommand)]
    command: EntryCommand,
}

/// An entry named on the command line: its type and its id or slug.
#[derive(Debug, clap::Args)]
pub struct EntryRef {
    /// The content type, e.g. story or member.
    #[arg(value_name = "TYPE")]
    ty: String,
    /// The entry's id or its slug.
    #[arg(value_name = "ID|SLUG")]
    id: String,
}

/// One step along an entry's lifecycle.
#[derive(Debug, clap::Args)]
pub struct Step {
    #[command(flatten)]
    entry: EntryRef,
    /// A comment kept with the step in the entry's history.
    #[arg(long)]
    comment: Option<String>,
    /// Take the step at this time (RFC 3339, e.g. 2026-12-24T08:00:00+01:00) instead of now.
    #[arg(long, value_name = "TIME")]
    at: Option<String>,
}

#[derive(Debug, clap::Subcommand)]
enum EntryCommand {
    /// List entries of a type as a table (id order).
    #[command(
        after_help = "Examples:\n  verbund entry list story --state draft\n  verbund entry list member --filter state_region=Sachsen --filter services=cloud\n  verbund entry list story --filter kind:in=news,interview --filter updated_at:gte=2026-11-01\n  verbund entry list event --json | jq '.[].title'"
    )]
    List {
        #[arg(value_name = "TYPE")]
        ty: String,
        /// Only entries in this state (draft, published, archived …).
        #[arg(long)]
        state: Option<String>,
        /// Only entries whose field has this value (for a list field: holds it); repeatable.
        /// FIELD:OP=VALUE uses another operator: ne, in (comma-separated), lt, lte, gt, gte,
        /// contains — the filter language of the API.
        #[arg(long, value_name = "FIELD[:OP]=VALUE")]
        filter: Vec<String>,
        /// At most this many entries.
        #[arg(long, default_value_t = 50)]
        limit: usize,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Show one entry by id or slug, as the document `entry edit` opens.
    #[command(
        after_help = "Examples:\n  verbund entry show story digitale-werkbank-im-mittelstand\n  verbund entry show member 01JD3… --json"
    )]
    Show {
        #[command(flatten)]
        entry: EntryRef,
        /// Print JSON (fields and metadata).
        #[arg(long)]
        json: bool,
    },
    /// Create a draft: in your editor from a template, or from a file (.md, .yaml or .json).
    #[command(
        after_help = "Examples:\n  verbund entry new story                     # opens $EDITOR on a template\n  verbund entry new story --file geschichte.md\n  verbund entry new member --file firma.yaml"
    )]
    New {
        #[arg(value_name = "TYPE")]
        ty: String,
        /// Read the entry from this file instead of opening the editor.
        #[arg(long)]
        file: Option<PathBuf>,
        /// Print the stored entry as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Change an entry in your editor (or from a file); saves a new version.
    #[command(
        after_help = "Examples:\n  EDITOR=nano verbund entry edit story digitale-werkbank-im-mittelstand\n  verbund entry edit story 01JD3… --file geschichte.md"
    )]
    Edit {
        #[command(flatten)]
        entry: EntryRef,
        /// Take the new fields from this file instead of opening the editor.
        #[arg(long)]
        file: Option<PathBuf>,
        /// Print the stored entry as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Delete an entry with all its versions (refused while other entries reference it).
    #[command(after_help = "Example:\n  verbund entry delete event 01JD3… --yes")]
    Delete {
        #[command(flatten)]
        entry: EntryRef,
        /// Do not ask for confirmation (needed when not on a terminal).
        #[arg(long, short = 'y')]
        yes: bool,
    },
    /// List the stored versions of an entry.
    #[command(
        after_help = "Example:\n  verbund entry revisions story digitale-werkbank-im-mittelstand"
    )]
    Revisions {
        #[command(flatten)]
        entry: EntryRef,
        #[arg(long)]
        json: bool,
    },
    /// Show what changed between two versions (default: the previous and the current one).
    #[command(
        after_help = "Examples:\n  verbund entry diff story digitale-werkbank-im-mittelstand\n  verbund entry diff story 01JD3… 1 3"
    )]
    Diff {
        #[command(flatten)]
        entry: EntryRef,
        /// The older version.
        v1: Option<u64>,
        /// The newer version (default: the current one).
        v2: Option<u64>,
        /// Print the two versions and the diff as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Publish an entry (its current version becomes the public one), now or at a set time.
    #[command(
        after_help = "Examples:\n  verbund entry publish story 01JD3…\n  verbund entry publish event fachforum-industrie-4-0-retrofit --at 2026-12-24T08:00:00+01:00"
    )]
    Publish(Step),
    /// Take a published entry off the website (back to draft).
    #[command(
        after_help = "Example:\n  verbund entry unpublish story 01JD3… --comment \"Zahlen veraltet\""
    )]
    Unpublish(Step),
    /// Archive an entry (it leaves the public site).
    #[command(after_help = "Example:\n  verbund entry archive event 01JD3…")]
    Archive(Step),
    /// Submit a draft for review (review workflow).
    #[command(
        after_help = "Example:\n  verbund entry submit story ausbildungsverbund-startet --comment \"Bitte bis Freitag\""
    )]
    Submit(Step),
    /// Approve an entry in review (reviewers; not your own — four-eyes).
    #[command(after_help = "Example:\n  verbund entry approve story ausbildungsverbund-startet")]
    Approve(Step),
    /// Send an entry back to its author with a comment saying what to change (reviewers).
    #[command(
        name = "request-changes",
        after_help = "Example:\n  verbund entry request-changes story ausbildungsverbund-startet --comment \"Bitte Quelle für die Zahlen ergänzen\""
    )]
    RequestChanges(Step),
    /// The timeline of an entry: creation, edits, transitions with comments, schedules.
    #[command(after_help = "Example:\n  verbund entry history story ausbildungsverbund-startet")]
    History {
        #[command(flatten)]
        entry: EntryRef,
        #[arg(long)]
        json: bool,
    },
    /// What waits for you: entries you may move toward publication now, as the plugin that
    /// governs their workflow decides (four eyes, the number of approvals).
    #[command(after_help = "Example:\n  verbund entry queue")]
    Queue {
        #[arg(long)]
        json: bool,
    },
}

fn title_of(e: &Value) -> String {
    for k in ["title", "name", "email"] {
        if let Some(s) = e[k].as_str() {
            return s.to_string();
        }
    }
    String::new()
}

pub fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn transition(client: &Client, step: &Step, name: &str) -> anyhow::Result<u8> {
    let entry = fetch(client, &step.entry.ty, &step.entry.id)?;
    let real_id = entry["id"].as_str().unwrap_or(&step.entry.id).to_string();
    let mut body = json!({ "transition": name });
    if let Some(c) = &step.comment {
        body["comment"] = json!(c);
    }
    if let Some(at) = &step.at {
        let t = chrono::DateTime::parse_from_rfc3339(at).map_err(|_| {
            anyhow::Error::new(exit::Usage(format!(
                "--at {at:?} is not a time like 2026-12-24T08:00:00+01:00"
            )))
        })?;
        body["at"] = json!(t.to_rfc3339());
    }
    let res = client.send(
        reqwest::Method::POST,
        &format!(
            "/api/v1/manage/{}/{}/transitions",
            enc(&step.entry.ty),
            enc(&real_id)
        ),
        Some(&body),
        None,
    )?;
    let e = &res["data"];
    if let Some(s) = e["scheduled"].as_object() {
        println!(
            "{} {} „{}“: {} is scheduled for {} (now {})",
            step.entry.ty,
            real_id,
            title_of(e),
            s.get("transition").and_then(Value::as_str).unwrap_or(name),
            short_time(s.get("at").unwrap_or(&Value::Null)),
            e["state"].as_str().unwrap_or("")
        );
    } else {
        println!(
            "{} {} „{}“ is now {} (version {})",
            step.entry.ty,
            real_id,
            title_of(e),
            e["state"].as_str().unwrap_or(""),
            e["version"]
        );
    }
    Ok(exit::OK)
}

fn history(client: &Client, ty: &str, id: &str, json: bool) -> anyhow::Result<u8> {
    let e = fetch(client, ty, id)?;
    let real_id = e["id"].as_str().unwrap_or(id);
    let res = client.get(&format!(
        "/api/v1/manage/{}/{}/history",
        enc(ty),
        enc(real_id)
    ))?;
    let items = res["data"].as_array().cloned().unwrap_or_default();
    if json {
        output::json(&Value::Array(items))?;
        return Ok(exit::OK);
    }
    println!("{}", output::paint("1", &title_of(&e)));
    println!("{}", output::paint("2", &header_of(ty, &e)));
    for h in &items {
        let when = short_time(&h["at"]);
        let who = h["actor"].as_str().unwrap_or("");
        let role = h["role"]
            .as_str()
            .map(|r| format!(" ({r})"))
            .unwrap_or_default();
        let (from, to) = (
            h["from_state"].as_str().unwrap_or(""),
            h["to_state"].as_str().unwrap_or(""),
        );
        let what = match h["kind"].as_str().unwrap_or("") {
            "create" => format!("created as {to}"),
            "edit" if from != to => format!("edited (version {}) → {to}", h["version"]),
            "edit" => format!("edited (version {})", h["version"]),
            "transition" => format!(
                "{}: {from} → {}",
                h["transition"].as_str().unwrap_or(""),
                output::paint("1", to)
            ),
            "schedule" => format!(
                "scheduled {} for {}",
                h["transition"].as_str().unwrap_or(""),
                short_time(&h["at_planned"])
            ),
            "schedule_failed" => format!(
                "scheduled {} dropped",
                h["transition"].as_str().unwrap_or("")
            ),
            other => other.to_string(),
        };
        println!("{when}  {who}{role}  {what}");
        if let Some(c) = h["comment"].as_str() {
            println!("                  „{c}“");
        }
    }
    if let Some(s) = e["scheduled"].as_object() {
        println!(
            "pending: {} at {}",
            s.get("transition").and_then(Value::as_str).unwrap_or(""),
            short_time(s.get("at").unwrap_or(&Value::Null))
        );
    }
    Ok(exit::OK)
}

fn queue(client: &Client, json: bool) -> anyhow::Result<u8> {
    let res = client.get("/api/v1/manage/review-queue")?;
    let items = res["data"].as_array().cloned().unwrap_or_default();
    if json {
        output::json(&Value::Array(items))?;
        return Ok(exit::OK);
    }
    if items.is_empty() {
        println!("nothing waits for you");
        return Ok(exit::OK);
    }
    let rows: Vec<Vec<String>> = items
        .iter()
        .map(|e| {
            vec![
                e["type"].as_str().unwrap_or("").to_string(),
                e["id"].as_str().unwrap_or("").to_string(),
                e["state"].as_str().unwrap_or("").to_string(),
                short_time(&e["updated_at"]),
                title_of(e),
            ]
        })
        .collect();
    output::table(&["TYPE", "ID", "STATE", "UPDATED", "TITLE"], &rows, Some(2));
    Ok(exit::OK)
}

pub fn run(args: EntryArgs) -> anyhow::Result<u8> {
    let client = Client::from_args(&args.remote)?;
    match args.command {
        EntryCommand::List {
            ty,
            state,
            filter,
            limit,
            json,
        } => list(&client, &ty, state, &filter, limit, json),
        EntryCommand::Show {
            entry: EntryRef { ty, id },
            json,
        } => show(&client, &ty, &id, json),
        EntryCommand::New { ty, file, json } => new(&client, &ty, file, json),
        EntryCommand::Edit {
            entry: EntryRef { ty, id },
            file,
            json,
        } => edit(&client, &ty, &id, file, json),
        EntryCommand::Delete {
            entry: EntryRef { ty, id },
            yes,
        } => delete(&client, &ty, &id, yes),
        EntryCommand::Revisions {
            entry: EntryRef { ty, id },
            json,
        } => revisions(&client, &ty, &id, json),
        EntryCommand::Diff {
            entry: EntryRef { ty, id },
            v1,
            v2,
            json,
        } => diff(&client, &ty, &id, v1, v2, json),
        EntryCommand::Publish(step) => transition(&client, &step, "publish"),
        EntryCommand::Unpublish(step) => transition(&client, &step, "unpublish"),
        EntryCommand::Archive(step) => transition(&client, &step, "archive"),
        EntryCommand::Submit(step) => transition(&client, &step, "submit"),
        EntryCommand::Approve(step) => transition(&client, &step, "approve"),
        EntryCommand::RequestChanges(step) => transition(&client, &step, "request_changes"),
        EntryCommand::History {
            entry: EntryRef { ty, id },
            json,
        } => history(&client, &ty, &id, json),
        EntryCommand::Queue { json } => queue(&client, json),
    }
}

/// The content type as the server describes it.
pub fn type_info(client: &Client, ty: &str) -> anyhow::Result<TypeInfo> {
    let res = client.get(&format!("/api/v1/schemas/{}", enc(ty)))?;
    Ok(TypeInfo::from_api(&res["data"]))
}

/// The current version of an entry, by id or slug.
fn fetch(client: &Client, ty: &str, id: &str) -> anyhow::Result<Value> {
    Ok(client.get(&format!("/api/v1/manage/{}/{}", enc(ty), enc(id)))?["data"].take())
}

fn list(
    client: &Client,
    ty: &str,
    state: Option<String>,
    filters: &[String],
    limit: usize,
    json: bool,
) -> anyhow::Result<u8> {
    let mut query = String::new();
    if let Some(s) = &state {
        query.push_str(&format!("&state={}", enc(s)));
    }
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
            "no {ty} entries{}",
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
                vec![
                    e["id"].as_str().unwrap_or("").to_string(),
                    state,
                    e["version"].to_string(),
                    e["locale"].as_str().unwrap_or("").to_string(),
                    short_time(&e["updated_at"]),
                    title_of(e),
                ]
            })
            .collect();
        output::table(
            &["ID", "STATE", "VER", "LOCALE", "UPDATED", "TITLE"],
            &rows,
            Some(1),
        );
        if cursor.is_some() {
            println!("(more entries: raise --limit)");
        }
    }
    Ok(exit::OK)
}

fn short_time(v: &Value) -> String {
    v.as_str()
        .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
        .map(|t| {
            t.with_timezone(&chrono::Local)
                .format("%Y-%m-%d %H:%M")
                .to_string()
        })
        .unwrap_or_default()
}

/// The entry id and version a file written by the CLI was based on, from its header comment
/// (`# story 01J… · version 3 · draft`).
fn based_on(text: &str) -> Option<(String, u64)> {
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

fn header_of(ty: &str, e: &Value) -> String {
    format!(
        "{ty} {} · version {} · {}{}",
        e["id"].as_str().unwrap_or(""),
        e["version"],
        e["state"].as_str().unwrap_or(""),
        e["locale"]
            .as_str()
            .map(|l| format!(" · locale {l}"))
            .unwrap_or_default()
    )
}

fn show(client: &Client, ty: &str, id: &str, json: bool) -> anyhow::Result<u8> {
    let e = fetch(client, ty, id)?;
    if json {
        output::json(&e)?;
        return Ok(exit::OK);
    }
    let info = type_info(client, ty)?;
    println!("{}", output::paint("1", &title_of(&e)));
    println!("{}", output::paint("2", &header_of(ty, &e)));
    println!();
    print!("{}", doc::render(&info, &doc::fields_of(&e, &info), &[]));
    Ok(exit::OK)
}

fn read_file(path: &std::path::Path, info: &TypeInfo) -> anyhow::Result<Value> {
    let format = Format::of_path(path)?;
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("could not read {}", path.display()))?;
    doc::parse(Some(info), format, &text)
        .with_context(|| format!("{} is not valid", path.display()))
}

fn saved(ty: &str, e: &Value, verb: &str, json: bool) -> anyhow::Result<u8> {
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
    }
    Ok(exit::OK)
}

fn new(client: &Client, ty: &str, file: Option<PathBuf>, json: bool) -> anyhow::Result<u8> {
    let info = type_info(client, ty)?;
    let post = |body: Value| -> anyhow::Result<Value> {
        Ok(client.send(
            reqwest::Method::POST,
            &format!("/api/v1/manage/{}", enc(ty)),
            Some(&body),
            None,
        )?["data"]
            .take())
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

fn edit(
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
    let put = |body: Value| -> anyhow::Result<Value> {
        Ok(client.send(
            reqwest::Method::PUT,
            &format!("/api/v1/manage/{}/{}", enc(ty), enc(&real_id)),
            Some(&body),
            Some(version),
        )?["data"]
            .take())
    };
    match file {
        Some(path) => {
            // A file the CLI wrote (a kept draft, `entry show` output) names the version it was
            // based on: send it with that version, so that a colleague's change made since is
            // never overwritten (the server answers with a conflict instead).
            let text = std::fs::read_to_string(&path)
                .with_context(|| format!("could not read {}", path.display()))?;
            let body = read_file(&path, &info)?;
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
            let sent = client.send(
                reqwest::Method::PUT,
                &format!("/api/v1/manage/{}/{}", enc(ty), enc(&real_id)),
                Some(&body),
                Some(base),
            );
            match sent {
                Ok(mut v) => saved(ty, &v["data"].take(), "saved", json),
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

fn delete(client: &Client, ty: &str, id: &str, yes: bool) -> anyhow::Result<u8> {
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

fn versions(client: &Client, ty: &str, id: &str) -> anyhow::Result<Vec<Value>> {
    let e = fetch(client, ty, id)?;
    let real_id = e["id"].as_str().unwrap_or(id);
    let res = client.get(&format!(
        "/api/v1/manage/{}/{}/revisions",
        enc(ty),
        enc(real_id)
    ))?;
    Ok(res["data"].as_array().cloned().unwrap_or_default())
}

fn revisions(client: &Client, ty: &str, id: &str, json: bool) -> anyhow::Result<u8> {
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

fn diff(
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
