//! `verbund entry …`: editors' commands on entries over the HTTP API.

use std::io::IsTerminal;
use std::path::PathBuf;

use anyhow::Context;
use serde_json::{Value, json};

use crate::client::{Client, RemoteArgs};
use crate::doc::{self, Format, TypeInfo};
use crate::editor::{self, Outcome};
use crate::{exit, output};

mod fields;
mod read;
mod translate;
mod workflow;
mod write;

use read::{diff, list, revisions, show};
use workflow::{history, queue, transition};
use write::{delete, edit, new};

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
        after_help = "Examples:\n  verbund entry list story --state draft\n  verbund entry list story --locale en\n  verbund entry list member --filter state_region=Sachsen --filter services=cloud\n  verbund entry list story --filter kind:in=news,interview --filter updated_at:gte=2026-11-01\n  verbund entry list event --json | jq '.[].title'"
    )]
    List {
        #[arg(value_name = "TYPE")]
        ty: String,
        /// Only entries in this state (draft, published, archived …).
        #[arg(long)]
        state: Option<String>,
        /// Only entries in this locale (de, en …).
        #[arg(long)]
        locale: Option<String>,
        /// Only translations with a field whose original changed since it was translated.
        #[arg(long)]
        outdated: bool,
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
    /// Show one entry by id or slug, as the document `entry edit` opens (which takes it back
    /// with --file), with which version is public and which is the working copy.
    #[command(
        after_help = "Examples:\n  verbund entry show story digitale-werkbank-im-mittelstand\n  verbund entry show story digitale-werkbank-im-mittelstand --version 1\n  verbund entry show story digitale-werkbank-im-mittelstand --locale en\n  verbund entry show member 01JD3… --json\n  verbund entry show story digitale-werkbank-im-mittelstand > werkbank.md   # edit, then: verbund entry edit story digitale-werkbank-im-mittelstand --file werkbank.md"
    )]
    Show {
        #[command(flatten)]
        entry: EntryRef,
        /// An older version (see `entry revisions`) instead of the current one.
        #[arg(long, value_name = "N")]
        version: Option<u64>,
        /// The entry's version in this locale (its translation), e.g. en.
        #[arg(long, value_name = "LOCALE")]
        locale: Option<String>,
        /// Print JSON (fields and metadata).
        #[arg(long)]
        json: bool,
    },
    /// Make an older version current again: saves a new version with its fields (through the
    /// workflow, like an edit: a published entry's public version stays until published).
    #[command(
        after_help = "Examples:\n  verbund entry revisions story digitale-werkbank-im-mittelstand\n  verbund entry revert story digitale-werkbank-im-mittelstand --to 1"
    )]
    Revert {
        #[command(flatten)]
        entry: EntryRef,
        /// The version whose fields become current again.
        #[arg(long, value_name = "N")]
        to: u64,
        /// Print the stored entry as JSON.
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
    /// Translate an entry in your editor: a file with the translatable fields (the original's
    /// text beside each as a comment) opens; the other fields are taken from the original.
    /// A second run edits the translation, marking fields whose original changed.
    #[command(
        after_help = "Examples:\n  verbund entry translate story retrofit-giesserei-erzgebirge --to en\n  EDITOR=nano verbund entry translate event mitgliederversammlung-herbst-2026 --to en"
    )]
    Translate {
        #[command(flatten)]
        entry: EntryRef,
        /// The locale to translate into, e.g. en.
        #[arg(long, value_name = "LOCALE")]
        to: String,
        /// Print the stored translation as JSON.
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

pub fn run(args: EntryArgs) -> anyhow::Result<u8> {
    let client = Client::from_args(&args.remote)?;
    match args.command {
        EntryCommand::List {
            ty,
            state,
            locale,
            outdated,
            filter,
            limit,
            json,
        } => list(
            &client,
            &ty,
            read::Selection {
                state,
                locale,
                outdated,
            },
            &filter,
            limit,
            json,
        ),
        EntryCommand::Translate { entry, to, json } => {
            translate::translate(&client, &entry.ty, &entry.id, &to, json)
        }
        EntryCommand::Show {
            entry: EntryRef { ty, id },
            version,
            locale,
            json,
        } => show(&client, &ty, &id, read::Which { version, locale }, json),
        EntryCommand::Revert {
            entry: EntryRef { ty, id },
            to,
            json,
        } => write::revert(&client, &ty, &id, to, json),
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

/// A time of an answer in the local time zone, with its offset (`2026-12-07 08:10 +01:00`).
fn short_time(v: &Value) -> String {
    crate::output::local_time(v, "%Y-%m-%d %H:%M %:z")
}

/// Which version of an entry the public sees, and whether the current one is a working copy
/// not public yet (`None` for an entry that was never published).
fn live_status(ty: &str, e: &Value) -> String {
    let id = e["slug"]
        .as_str()
        .or_else(|| e["id"].as_str())
        .unwrap_or("");
    let version = e["version"].as_u64().unwrap_or(0);
    let state = e["state"].as_str().unwrap_or("");
    match e["published_version"].as_u64() {
        None => format!("not public: no version of it is on the website (state {state})"),
        Some(p) if p == version && state == "published" => {
            format!("public: version {p} is what the website shows")
        }
        Some(p) if p == version => {
            format!("not public: version {p} was public; the entry is {state} now")
        }
        Some(p) => format!(
            "public: version {p} is what the website shows; version {version} is a working copy (state {state}), not public until published (`verbund entry publish {ty} {id}`{})",
            if state == "published" {
                ""
            } else {
                " once it may be"
            }
        ),
    }
}

/// The public version in a table cell: `1`, `1 (2 pending)` or `–`.
fn public_cell(e: &Value) -> String {
    let version = e["version"].as_u64().unwrap_or(0);
    match e["published_version"].as_u64() {
        None => "–".into(),
        Some(p) if p == version && e["state"] == "published" => p.to_string(),
        Some(p) if p == version => "–".into(),
        Some(p) => format!("{p} ({version} pending)"),
    }
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
