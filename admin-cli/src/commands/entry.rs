//! `verbund entry …`: editors' commands on entries over the HTTP API.

use std::io::IsTerminal;
use std::path::PathBuf;

use anyhow::Context;
use serde_json::{Value, json};

use crate::client::{Client, RemoteArgs};
use crate::exit;

#[derive(Debug, clap::Args)]
pub struct EntryArgs {
    #[command(flatten)]
    remote: RemoteArgs,
    #[command(subcommand)]
    command: EntryCommand,
}

#[derive(Debug, clap::Subcommand)]
enum EntryCommand {
    /// List entries of a type, newest changes last.
    #[command(after_help = "Example:\n  verbund entry list story --state draft")]
    List {
        #[arg(value_name = "TYPE")]
        ty: String,
        /// Only entries in this state (draft, published, archived …).
        #[arg(long)]
        state: Option<String>,
        /// At most this many entries.
        #[arg(long, default_value_t = 50)]
        limit: usize,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Show one entry by id or slug.
    #[command(
        after_help = "Example:\n  verbund entry show story erfolgreiche-digitalisierung --json"
    )]
    Show {
        #[arg(value_name = "TYPE")]
        ty: String,
        id: String,
        #[arg(long)]
        json: bool,
    },
    /// Create a draft from a JSON file.
    #[command(after_help = "Example:\n  verbund entry new story --file neue-geschichte.json")]
    New {
        #[arg(value_name = "TYPE")]
        ty: String,
        #[arg(long)]
        file: PathBuf,
        #[arg(long)]
        json: bool,
    },
    /// Publish an entry (its current version becomes the public one).
    #[command(after_help = "Example:\n  verbund entry publish story 01JD3…")]
    Publish {
        #[arg(value_name = "TYPE")]
        ty: String,
        id: String,
    },
    /// Take a published entry back to draft.
    #[command(after_help = "Example:\n  verbund entry unpublish story 01JD3…")]
    Unpublish {
        #[arg(value_name = "TYPE")]
        ty: String,
        id: String,
    },
    /// Archive an entry (it leaves the public site).
    #[command(after_help = "Example:\n  verbund entry archive event 01JD3…")]
    Archive {
        #[arg(value_name = "TYPE")]
        ty: String,
        id: String,
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

fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn transition(client: &Client, ty: &str, id: &str, to: &str) -> anyhow::Result<u8> {
    let entry = client.get(&format!("/api/v1/manage/{}/{}", enc(ty), enc(id)))?;
    let real_id = entry["data"]["id"].as_str().unwrap_or(id).to_string();
    let res = client.send(
        reqwest::Method::POST,
        &format!("/api/v1/manage/{}/{}/transitions", enc(ty), enc(&real_id)),
        Some(&json!({ "to": to })),
        None,
    )?;
    let e = &res["data"];
    println!(
        "{} {} „{}“ is now {} (version {})",
        ty,
        real_id,
        title_of(e),
        e["state"].as_str().unwrap_or(to),
        e["version"]
    );
    Ok(exit::OK)
}

pub fn run(args: EntryArgs) -> anyhow::Result<u8> {
    let client = Client::from_args(&args.remote)?;
    match args.command {
        EntryCommand::List {
            ty,
            state,
            limit,
            json,
        } => {
            let mut items = Vec::new();
            let mut cursor: Option<String> = None;
            while items.len() < limit {
                let mut path = format!(
                    "/api/v1/manage/{}?limit={}",
                    enc(&ty),
                    (limit - items.len()).min(100)
                );
                if let Some(s) = &state {
                    path.push_str(&format!("&state={}", enc(s)));
                }
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
                println!("{}", serde_json::to_string_pretty(&items)?);
            } else if items.is_empty() {
                println!(
                    "no {ty} entries{}",
                    state.map(|s| format!(" in state {s}")).unwrap_or_default()
                );
            } else {
                let color =
                    std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
                println!(
                    "{:<26}  {:<10}  {:>3}  {:<6}  TITLE",
                    "ID", "STATE", "VER", "LOCALE"
                );
                for e in &items {
                    let st = e["state"].as_str().unwrap_or("");
                    let st_shown = if color && st == "published" {
                        format!("\x1b[32m{st:<10}\x1b[0m")
                    } else {
                        format!("{st:<10}")
                    };
                    println!(
                        "{:<26}  {}  {:>3}  {:<6}  {}",
                        e["id"].as_str().unwrap_or(""),
                        st_shown,
                        e["version"],
                        e["locale"].as_str().unwrap_or(""),
                        title_of(e)
                    );
                }
            }
            Ok(exit::OK)
        }
        EntryCommand::Show { ty, id, json } => {
            let e = client.get(&format!("/api/v1/manage/{}/{}", enc(&ty), enc(&id)))?;
            if json {
                println!("{}", serde_json::to_string_pretty(&e["data"])?);
            } else {
                let d = &e["data"];
                println!(
                    "{} — {} {} (version {}, {})",
                    title_of(d),
                    ty,
                    d["id"].as_str().unwrap_or(""),
                    d["version"],
                    d["state"].as_str().unwrap_or("")
                );
                println!("{}", serde_json::to_string_pretty(d)?);
            }
            Ok(exit::OK)
        }
        EntryCommand::New { ty, file, json } => {
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("could not read {}", file.display()))?;
            let body: Value = serde_json::from_str(&text)
                .with_context(|| format!("{} is not valid JSON", file.display()))?;
            let res = client.send(
                reqwest::Method::POST,
                &format!("/api/v1/manage/{}", enc(&ty)),
                Some(&body),
                None,
            )?;
            if json {
                println!("{}", serde_json::to_string_pretty(&res["data"])?);
            } else {
                println!(
                    "created {} {} „{}“ as a draft (version 1)",
                    ty,
                    res["data"]["id"].as_str().unwrap_or(""),
                    title_of(&res["data"])
                );
            }
            Ok(exit::OK)
        }
        EntryCommand::Publish { ty, id } => transition(&client, &ty, &id, "published"),
        EntryCommand::Unpublish { ty, id } => transition(&client, &ty, &id, "draft"),
        EntryCommand::Archive { ty, id } => transition(&client, &ty, &id, "archived"),
    }
}
