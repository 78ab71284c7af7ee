//! `verbund newsletter export`: one newsletter issue through the `newsletter-export` plugin.

use std::path::PathBuf;

use serde_json::{Value, json};

use crate::client::{Client, RemoteArgs};
use crate::exit;

#[derive(Debug, clap::Args)]
pub struct NewsletterArgs {
    #[command(flatten)]
    remote: RemoteArgs,
    #[command(subcommand)]
    command: NewsletterCommand,
}

#[derive(Debug, clap::Subcommand)]
enum NewsletterCommand {
    /// Build an issue from the stories published and the events of a period: HTML, text,
    /// the recipients (CSV, with each one's unsubscribe link) and a sample e-mail.
    #[command(
        after_help = "Examples:\n  verbund newsletter export --since 2026-11-01 --out newsletter-november/\n  verbund newsletter export --since 2026-11-01 --until 2026-11-30 --topics cloud,it-sicherheit --out ausgabe/\n  verbund newsletter export --since 2026-11-01 --locale en --out issue-en/"
    )]
    Export {
        /// First day of the period (YYYY-MM-DD).
        #[arg(long)]
        since: String,
        /// Last day of the period (default: today).
        #[arg(long)]
        until: Option<String>,
        /// Only items on these topics (comma-separated topic slugs).
        #[arg(long)]
        topics: Option<String>,
        /// The language: stories and events in it, for the subscribers who chose it
        /// (default de).
        #[arg(long)]
        locale: Option<String>,
        /// The directory for the files.
        #[arg(long)]
        out: PathBuf,
        /// The export plugin to use.
        #[arg(long, default_value = "newsletter-export")]
        plugin: String,
    },
}

pub fn run(args: NewsletterArgs) -> anyhow::Result<u8> {
    let client = Client::from_args(&args.remote)?;
    match args.command {
        NewsletterCommand::Export {
            since,
            until,
            topics,
            locale,
            out,
            plugin,
        } => {
            let mut params = json!({ "since": since });
            if let Some(u) = until {
                params["until"] = json!(u);
            }
            if let Some(t) = topics {
                params["topics"] = json!(t);
            }
            if let Some(l) = locale {
                params["locale"] = json!(l);
            }
            let res = client.send(
                reqwest::Method::POST,
                &format!(
                    "/api/v1/manage/exports/{}/issue",
                    crate::commands::entry::enc(&plugin)
                ),
                Some(&params),
                None,
            )?;
            let written = crate::commands::plugin::write_artifacts(&res, &out)?;
            let summary: Value = written
                .iter()
                .find(|(p, _)| p.file_name().is_some_and(|n| n == "summary.json"))
                .and_then(|(_, b)| serde_json::from_slice(b).ok())
                .unwrap_or(Value::Null);
            println!(
                "newsletter {} – {}: {} items ({} stories, {} events), {} recipients",
                summary["since"].as_str().unwrap_or(""),
                summary["until"].as_str().unwrap_or(""),
                summary["items"],
                summary["stories"],
                summary["events"],
                summary["recipients"]
            );
            Ok(exit::OK)
        }
    }
}
