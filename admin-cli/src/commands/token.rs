//! `verbund token create` (on a stopped server's data dir), `token list` and `token revoke`
//! (through a running server).

use anyhow::Context;
use verbund_core::auth::{AuditRecord, Role, parse_duration};

use serde_json::Value;

use crate::DataArgs;
use crate::client::{Client, RemoteArgs};
use crate::{exit, output};

#[derive(Debug, clap::Subcommand)]
pub enum TokenCommand {
    /// Create a token and print it (alone, on stdout). It is shown only this once.
    #[command(
        after_help = "Example:\n  verbund token create --data verbund-data --role admin --expires 90d --name \"Anna Wendt\" --email anna.wendt@example.org\n  export VERBUND_TOKEN=$(verbund token create --role editor --label redaktion --email jonas.beck@example.org)"
    )]
    Create {
        #[command(flatten)]
        data: DataArgs,
        /// admin, editor, reviewer or reader.
        #[arg(long)]
        role: String,
        /// How long the token is valid: e.g. 90d, 12h, 30m, or never.
        #[arg(long, default_value = "90d")]
        expires: String,
        /// A note for whom or what the token is.
        #[arg(long)]
        label: Option<String>,
        /// The name of the person the token belongs to.
        #[arg(long)]
        name: Option<String>,
        /// The person's e-mail address: tokens with the same address are one person (who
        /// cannot approve their own work with a second token).
        #[arg(long)]
        email: Option<String>,
    },
    /// List the tokens of a running server (admin): whose they are, role, expiry, last use.
    #[command(after_help = "Examples:\n  verbund token list\n  verbund token list --json")]
    List {
        #[command(flatten)]
        remote: RemoteArgs,
        /// Also the revoked and expired ones.
        #[arg(long)]
        all: bool,
        /// Print JSON for scripts.
        #[arg(long)]
        json: bool,
    },
    /// Revoke a token on a running server (admin): it stops working at once.
    #[command(after_help = "Example:\n  verbund token revoke 01JD3…")]
    Revoke {
        /// The token's id (from `verbund token list`).
        id: String,
        #[command(flatten)]
        remote: RemoteArgs,
    },
}

fn list(remote: &RemoteArgs, all: bool, json: bool) -> anyhow::Result<u8> {
    let client = Client::from_args(remote)?;
    let res = client.get("/api/v1/admin/tokens")?;
    let now = chrono::Utc::now();
    let items: Vec<Value> = res["data"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .filter(|t| {
            let expired = t["expires_at"]
                .as_str()
                .and_then(|e| chrono::DateTime::parse_from_rfc3339(e).ok())
                .is_some_and(|e| e < now);
            all || (t["revoked_at"].is_null() && !expired)
        })
        .collect();
    if json {
        output::json(&Value::Array(items))?;
        return Ok(exit::OK);
    }
    let time = |v: &Value| output::local_time(v, "%Y-%m-%d %H:%M %:z");
    let rows: Vec<Vec<String>> = items
        .iter()
        .map(|t| {
            let person = match (t["name"].as_str(), t["email"].as_str()) {
                (Some(n), Some(e)) => format!("{n} <{e}>"),
                (Some(n), None) => n.to_string(),
                (None, Some(e)) => e.to_string(),
                (None, None) => t["label"].as_str().unwrap_or("").to_string(),
            };
            let state = if !t["revoked_at"].is_null() {
                format!("revoked {}", time(&t["revoked_at"]))
            } else if t["expires_at"].is_null() {
                "never expires".into()
            } else {
                format!("expires {}", time(&t["expires_at"]))
            };
            vec![
                t["id"].as_str().unwrap_or("").to_string(),
                t["role"].as_str().unwrap_or("").to_string(),
                format!("vb_{}", t["prefix"].as_str().unwrap_or("")),
                state,
                time(&t["last_used_at"]),
                person,
            ]
        })
        .collect();
    output::table(
        &["ID", "ROLE", "PREFIX", "VALID", "LAST USED", "PERSON"],
        &rows,
        None,
    );
    Ok(exit::OK)
}

pub fn run(cmd: TokenCommand) -> anyhow::Result<u8> {
    match cmd {
        TokenCommand::List { remote, all, json } => list(&remote, all, json),
        TokenCommand::Revoke { id, remote } => {
            let client = Client::from_args(&remote)?;
            let res = client.send(
                reqwest::Method::DELETE,
                &format!("/api/v1/admin/tokens/{}", crate::commands::entry::enc(&id)),
                None,
                None,
            )?;
            let t = &res["data"];
            println!(
                "revoked token {} ({}, vb_{}{}); it no longer works",
                t["id"].as_str().unwrap_or(&id),
                t["role"].as_str().unwrap_or(""),
                t["prefix"].as_str().unwrap_or(""),
                t["name"]
                    .as_str()
                    .map(|n| format!(", {n}"))
                    .unwrap_or_default()
            );
            Ok(exit::OK)
        }
        TokenCommand::Create {
            data,
            role,
            expires,
            label,
            name,
            email,
        } => {
            let role = Role::parse(&role)?;
            let expires = parse_duration(&expires)?;
            let content = super::open(&data)?;
            let auth = content.auth();
            let mut a = AuditRecord::draft("cli", "token.create");
            a.detail = Some(format!("role {}", role.name()));
            let issued = auth
                .create_token_for(
                    role,
                    expires,
                    label,
                    verbund_core::auth::Person { name, email },
                    Some(a),
                )
                .context("could not store the token")?;
            println!("{}", issued.token);
            eprintln!(
                "token {} ({}, prefix vb_{}) expires {}; it is not shown again",
                issued.info.id,
                role.name(),
                issued.info.prefix,
                issued.info.expires_at.map_or_else(
                    || "never".to_string(),
                    |t| t
                        .with_timezone(&chrono::Local)
                        .format("%Y-%m-%d %H:%M %:z")
                        .to_string()
                )
            );
            Ok(exit::OK)
        }
    }
}
