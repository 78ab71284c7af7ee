//! `verbund newsletter export`: one newsletter issue through the `newsletter-export` plugin;
//! `verbund newsletter send`: the same issue mailed to every confirmed recipient.

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
    /// Send an issue: one personalised mail per confirmed recipient (their own unsubscribe
    /// link), queued on the server and sent by it. Running the same command again (after a
    /// crash, or for people who confirmed since) sends only to those who did not get it yet.
    #[command(
        after_help = "Examples:\n  verbund newsletter send --since 2026-11-01 --until 2026-11-30 --dry-run\n  verbund newsletter send --since 2026-11-01 --until 2026-11-30\n  verbund newsletter send --since 2026-11-01 --until 2026-11-30 --topics cloud,it-sicherheit --locale en"
    )]
    Send {
        /// First day of the period (YYYY-MM-DD).
        #[arg(long)]
        since: String,
        /// Last day of the period (default: today).
        #[arg(long)]
        until: Option<String>,
        /// Only items on these topics (comma-separated topic slugs).
        #[arg(long)]
        topics: Option<String>,
        /// The language (default de): for the subscribers who chose it.
        #[arg(long)]
        locale: Option<String>,
        /// Only say what would be sent.
        #[arg(long)]
        dry_run: bool,
        /// Do not wait for the mails to be sent (the server sends them anyway).
        #[arg(long)]
        no_wait: bool,
        /// The export plugin to use.
        #[arg(long, default_value = "newsletter-export")]
        plugin: String,
    },
}

pub fn run(args: NewsletterArgs) -> anyhow::Result<u8> {
    let client = Client::from_args(&args.remote)?;
    match args.command {
        NewsletterCommand::Send {
            since,
            until,
            topics,
            locale,
            dry_run,
            no_wait,
            plugin,
        } => {
            let mut body = json!({ "since": since, "dry_run": dry_run, "plugin": plugin });
            if let Some(u) = until {
                body["until"] = json!(u);
            }
            if let Some(t) = topics {
                body["topics"] = json!(t);
            }
            if let Some(l) = locale {
                body["locale"] = json!(l);
            }
            let res = client.send(
                reqwest::Method::POST,
                "/api/v1/admin/newsletter/issues",
                Some(&body),
                None,
            )?;
            let st = &res["data"];
            let id = st["id"].as_str().unwrap_or_default().to_string();
            println!(
                "Issue {id}: \"{}\" ({} items), {} confirmed recipients",
                st["subject"].as_str().unwrap_or(""),
                st["items"],
                st["recipients"]
            );
            if dry_run {
                println!(
                    "dry run: {} would be sent now; {} got it already (sent), nothing was queued",
                    st["to_queue"], st["sent"]
                );
                return Ok(exit::OK);
            }
            println!(
                "queued {} mails now{}",
                st["newly_queued"],
                if st["newly_queued"] == st["recipients"] {
                    String::new()
                } else {
                    " (the others were queued by an earlier run)".to_string()
                }
            );
            if no_wait {
                println!("the server sends them; follow with `verbund mail queue --issue {id}`");
                return Ok(exit::OK);
            }
            follow(&client, &id)
        }
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

/// Shows the sending of an issue until nothing of it waits, then the final report.
fn follow(client: &Client, id: &str) -> anyhow::Result<u8> {
    let path = format!(
        "/api/v1/admin/newsletter/issues/{}",
        crate::commands::entry::enc(id)
    );
    let total = |st: &Value| {
        ["queued", "sending", "sent", "failed", "unknown", "skipped"]
            .iter()
            .map(|k| st[k].as_u64().unwrap_or(0))
            .sum::<u64>()
    };
    let done = |st: &Value| {
        ["sent", "failed", "unknown", "skipped"]
            .iter()
            .map(|k| st[k].as_u64().unwrap_or(0))
            .sum::<u64>()
    };
    let first = client.get(&path)?;
    let bar = crate::commands::import::progress_bar(total(&first["data"]), done(&first["data"]));
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{bar:30} {pos}/{len} mails · {per_sec} · ETA {eta}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let mut last = first;
    loop {
        let st = &last["data"];
        bar.set_length(total(st));
        bar.set_position(done(st));
        // Done, or only retries far ahead are left: report now instead of blocking for hours.
        if st["queued"] == st["retrying"] && st["sending"].as_u64() == Some(0) {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(300));
        last = client.get(&path)?;
    }
    bar.finish_and_clear();
    let st = &last["data"];
    println!(
        "done: {} sent, {} failed, {} skipped (unsubscribed meanwhile), {} unknown",
        st["sent"], st["failed"], st["skipped"], st["unknown"]
    );
    if st["retrying"].as_u64().unwrap_or(0) > 0 {
        println!(
            "{} wait for a retry after a temporary failure; the server keeps trying (`verbund mail queue --issue {id}`)",
            st["retrying"]
        );
    }
    let mut code = exit::OK;
    for state in ["failed", "unknown"] {
        if st[state].as_u64().unwrap_or(0) == 0 {
            continue;
        }
        code = exit::ERROR;
        let list = client.get(&format!(
            "/api/v1/admin/mail?issue={}&state={state}&limit=500",
            crate::commands::entry::enc(id)
        ))?;
        println!("{state}:");
        for m in list["data"].as_array().into_iter().flatten() {
            println!(
                "  {}  {}  {}",
                m["id"].as_str().unwrap_or(""),
                m["to"].as_str().unwrap_or(""),
                m["last_reply"].as_str().unwrap_or("")
            );
        }
    }
    if code != exit::OK {
        println!("`verbund mail retry ID` sends one again");
    }
    Ok(code)
}
