//! `verbund mail`: the mail queue of a running server (admin): a test mail, the queue, retries.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::entry::enc;
use crate::client::{Client, RemoteArgs};
use crate::exit;

#[derive(Debug, clap::Args)]
pub struct MailArgs {
    #[command(flatten)]
    remote: RemoteArgs,
    #[command(subcommand)]
    command: MailCommand,
}

#[derive(Debug, clap::Subcommand)]
enum MailCommand {
    /// Send a test mail and wait for the SMTP server's answer (up to --wait seconds).
    #[command(
        after_help = "Examples:\n  verbund mail test redaktion@cluster-it.example\n  verbund mail test ich@example.org --wait 60"
    )]
    Test {
        /// The address to send to.
        address: String,
        /// How long to wait for the result, in seconds.
        #[arg(long, default_value_t = 30)]
        wait: u64,
    },
    /// The mail queue: counts by state and the newest mails (failed ones with the server's
    /// reply).
    #[command(
        after_help = "Examples:\n  verbund mail queue\n  verbund mail queue --state failed\n  verbund mail queue --issue 2026-11-01_2026-11-30_de --limit 200 --json"
    )]
    Queue {
        /// Only mails in this state: queued, sending, sent, failed, unknown, skipped.
        #[arg(long)]
        state: Option<String>,
        /// Only the mails of this newsletter issue.
        #[arg(long)]
        issue: Option<String>,
        /// How many mails to show (1–500).
        #[arg(long, default_value_t = 20)]
        limit: u32,
        /// Print the answer as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Send a failed or unknown mail again.
    #[command(after_help = "Example:\n  verbund mail retry 01JDQ3M9W7ZC5V6X2Y8N4K1B0A")]
    Retry {
        /// The mail's id (from `verbund mail queue`).
        id: String,
    },
}

pub fn run(args: MailArgs) -> anyhow::Result<u8> {
    let client = Client::from_args(&args.remote)?;
    match args.command {
        MailCommand::Test { address, wait } => {
            let res = client.send(
                reqwest::Method::POST,
                "/api/v1/admin/mail/test",
                Some(&json!({ "to": address })),
                None,
            )?;
            let id = res["data"]["id"].as_str().unwrap_or_default().to_string();
            let started = Instant::now();
            loop {
                let m = client.get(&format!("/api/v1/admin/mail/{}", enc(&id)))?;
                let m = &m["data"];
                let reply = m["last_reply"].as_str().unwrap_or("");
                match m["state"].as_str().unwrap_or("") {
                    "sent" => {
                        println!("sent to {address}: {reply}");
                        return Ok(exit::OK);
                    }
                    "failed" => {
                        println!("failed: {reply}");
                        return Ok(exit::ERROR);
                    }
                    "queued" if m["attempts"].as_u64().unwrap_or(0) > 0 => {
                        println!(
                            "not delivered yet ({reply}); the server tries again at {} — see `verbund mail queue`",
                            m["next_attempt_at"].as_str().unwrap_or("?")
                        );
                        return Ok(exit::ERROR);
                    }
                    _ => {}
                }
                if started.elapsed() > Duration::from_secs(wait) {
                    println!(
                        "mail {id} is still {} after {wait} s; see `verbund mail queue`",
                        m["state"].as_str().unwrap_or("?")
                    );
                    return Ok(exit::ERROR);
                }
                std::thread::sleep(Duration::from_millis(200));
            }
        }
        MailCommand::Queue {
            state,
            issue,
            limit,
            json,
        } => {
            let mut q = format!("/api/v1/admin/mail?limit={limit}");
            if let Some(s) = state {
                q.push_str(&format!("&state={}", enc(&s)));
            }
            if let Some(i) = issue {
                q.push_str(&format!("&issue={}", enc(&i)));
            }
            let res = client.get(&q)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&res)?);
                return Ok(exit::OK);
            }
            let meta = &res["meta"];
            println!(
                "Mails go to {} (from {})",
                meta["transport"].as_str().unwrap_or("?"),
                meta["from"].as_str().unwrap_or("?")
            );
            let counts: Vec<String> = meta["counts"]
                .as_object()
                .map(|o| {
                    o.iter()
                        .filter(|(_, n)| n.as_u64() != Some(0))
                        .map(|(s, n)| format!("{n} {s}"))
                        .collect()
                })
                .unwrap_or_default();
            println!(
                "Queue: {}",
                if counts.is_empty() {
                    "empty".to_string()
                } else {
                    counts.join(", ")
                }
            );
            let empty = Vec::new();
            let list = res["data"].as_array().unwrap_or(&empty);
            if list.is_empty() {
                return Ok(exit::OK);
            }
            println!();
            for m in list {
                print_mail(m);
            }
            Ok(exit::OK)
        }
        MailCommand::Retry { id } => {
            let res = client.send(
                reqwest::Method::POST,
                &format!("/api/v1/admin/mail/{}/retry", enc(&id)),
                None,
                None,
            )?;
            println!("queued again: {}", res["data"]["to"].as_str().unwrap_or(""));
            Ok(exit::OK)
        }
    }
}

fn print_mail(m: &Value) {
    let when = m["sent_at"]
        .as_str()
        .or(m["next_attempt_at"].as_str())
        .or(m["created_at"].as_str())
        .unwrap_or("");
    println!(
        "{}  {:<8} {:<7} {}  {}  ({} attempts, {})",
        m["id"].as_str().unwrap_or(""),
        m["state"].as_str().unwrap_or(""),
        m["kind"].as_str().unwrap_or(""),
        m["to"].as_str().unwrap_or(""),
        m["subject"].as_str().unwrap_or(""),
        m["attempts"],
        when
    );
    if let Some(r) = m["last_reply"].as_str()
        && !matches!(m["state"].as_str(), Some("sent"))
    {
        println!("    {r}");
    }
}
