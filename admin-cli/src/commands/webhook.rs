//! `verbund webhook …`: webhook endpoints on a running server (admin) — add, list, show, test,
//! the delivery log, replays, secret rotation, enabling and removal.

use serde_json::{Map, Value, json};

use crate::client::{Client, RemoteArgs};
use crate::{exit, output};

#[derive(Debug, clap::Args)]
pub struct WebhookArgs {
    #[command(flatten)]
    remote: RemoteArgs,
    #[command(subcommand)]
    command: WebhookCommand,
}

#[derive(Debug, clap::Subcommand)]
enum WebhookCommand {
    /// Add an endpoint; prints its id and its signing secret (shown only this once).
    #[command(
        after_help = "Event types: entry.created, entry.updated, entry.published, entry.unpublished,\n  entry.transitioned, entry.scheduled, entry.deleted, asset.created, asset.updated,\n  asset.deleted, plugin.faulted; patterns entry.*, asset.*, *.\n\nExamples:\n  verbund webhook add https://build.example.org/hooks/verbund --events entry.published,entry.unpublished --types story,event\n  verbund webhook add https://partner.example.org/verbund --events 'entry.*' --locales en --header 'X-Build-Token: geheim'\n\nThe receiver checks each delivery's webhook-signature with the secret (Standard Webhooks;\nlibraries for many languages: pip install standardwebhooks, npm install standardwebhooks)."
    )]
    Add {
        /// Where deliveries go: https://… (http:// only to allow-listed addresses).
        #[arg(value_name = "URL")]
        target: String,
        /// Event types or patterns, comma-separated.
        #[arg(
            long,
            value_delimiter = ',',
            default_value = "entry.published,entry.unpublished"
        )]
        events: Vec<String>,
        /// Only entry events of these content types (comma-separated; default all).
        #[arg(long, value_delimiter = ',')]
        types: Vec<String>,
        /// Only entry events in these locales (comma-separated; default all).
        #[arg(long, value_delimiter = ',')]
        locales: Vec<String>,
        /// A header sent with every delivery, as "Name: value".
        #[arg(long)]
        header: Option<String>,
        /// A note to recognise the endpoint by.
        #[arg(long)]
        description: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// List the endpoints.
    #[command(after_help = "Example:\n  verbund webhook list")]
    List {
        #[arg(long)]
        json: bool,
    },
    /// Show an endpoint and its latest deliveries.
    #[command(after_help = "Example:\n  verbund webhook show 01J…")]
    Show {
        id: String,
        #[arg(long)]
        json: bool,
    },
    /// Send a signed test event now and show how the receiver answered.
    #[command(after_help = "Example:\n  verbund webhook test 01J…")]
    Test {
        id: String,
        #[arg(long)]
        json: bool,
    },
    /// The delivery log: each delivery with its attempts, newest first.
    #[command(
        after_help = "Examples:\n  verbund webhook deliveries 01J…\n  verbund webhook deliveries 01J… --limit 200 --json"
    )]
    Deliveries {
        id: String,
        #[arg(long, default_value_t = 20)]
        limit: usize,
        #[arg(long)]
        json: bool,
    },
    /// Send one delivery again, or every change after a sequence number (--since).
    #[command(
        after_help = "Examples:\n  verbund webhook replay 01J… 01J…(delivery)\n  verbund webhook replay 01J… --since 1200"
    )]
    Replay {
        id: String,
        /// The delivery to send again (see `verbund webhook deliveries`).
        #[arg(required_unless_present = "since", conflicts_with = "since")]
        delivery: Option<String>,
        /// Send every change after this sequence number of the change feed again.
        #[arg(long)]
        since: Option<u64>,
    },
    /// Give an endpoint a new secret; the old one keeps signing for 24 hours.
    #[command(
        name = "rotate-secret",
        after_help = "Example:\n  verbund webhook rotate-secret 01J…"
    )]
    RotateSecret { id: String },
    /// Enable an endpoint again (after it was disabled by an admin, a 410 or days of failures).
    #[command(
        after_help = "Example:\n  verbund webhook enable 01J…\n  verbund webhook replay 01J… --since 1200   # what it missed"
    )]
    Enable { id: String },
    /// Stop deliveries to an endpoint (pending ones are cancelled).
    #[command(after_help = "Example:\n  verbund webhook disable 01J…")]
    Disable { id: String },
    /// Remove an endpoint with its pending deliveries and its log.
    #[command(after_help = "Example:\n  verbund webhook remove 01J…")]
    Remove { id: String },
}

fn header_of(text: &str) -> anyhow::Result<Value> {
    let Some((name, value)) = text.split_once(':') else {
        return Err(anyhow::Error::new(exit::Usage(format!(
            "--header takes \"Name: value\", got {text:?}"
        ))));
    };
    Ok(json!({"name": name.trim(), "value": value.trim()}))
}

fn time(v: &Value) -> String {
    output::local_time(v, "%Y-%m-%d %H:%M:%S %:z")
}

fn print_endpoint(w: &Value) {
    println!(
        "webhook {} · {} · {}",
        w["id"].as_str().unwrap_or(""),
        w["url"].as_str().unwrap_or(""),
        if w["enabled"] == true {
            "enabled"
        } else {
            "DISABLED"
        }
    );
    if let Some(d) = w["description"].as_str() {
        println!("  {d}");
    }
    let list = |k: &str, all: &str| {
        let items: Vec<&str> = w[k]
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        if items.is_empty() {
            all.to_string()
        } else {
            items.join(", ")
        }
    };
    println!("  events: {}", list("events", "none"));
    println!("  content types: {}", list("types", "all"));
    println!("  locales: {}", list("locales", "all"));
    if let Some(h) = w["header"].as_str() {
        println!("  sends the header {h} (value hidden)");
    }
    if let Some(r) = w["disabled_reason"].as_str() {
        println!("  {r}");
    }
    if !w["failing_since"].is_null() {
        println!("  failing since {}", time(&w["failing_since"]));
    }
    if !w["previous_secret_until"].is_null() {
        println!(
            "  the previous secret signs too until {}",
            time(&w["previous_secret_until"])
        );
    }
}

fn last_attempt(d: &Value) -> String {
    match d["attempts"].as_array().and_then(|a| a.last()) {
        Some(a) => {
            let what = match (a["status"].as_u64(), a["error"].as_str()) {
                (Some(s), _) => format!("HTTP {s}"),
                (None, Some(e)) => output::cut(e, 60),
                _ => String::new(),
            };
            format!("{what} in {} ms", a["latency_ms"])
        }
        None => "not yet tried".into(),
    }
}

fn print_deliveries(list: &[Value]) {
    if list.is_empty() {
        eprintln!("no deliveries yet");
        return;
    }
    let rows: Vec<Vec<String>> = list
        .iter()
        .map(|d| {
            vec![
                d["id"].as_str().unwrap_or("").to_string(),
                time(&d["created_at"]),
                d["event"].as_str().unwrap_or("").to_string(),
                d["seq"].to_string(),
                d["state"].as_str().unwrap_or("").to_string(),
                d["attempts"].as_array().map_or(0, Vec::len).to_string(),
                last_attempt(d),
            ]
        })
        .collect();
    output::table(
        &[
            "DELIVERY",
            "CREATED",
            "EVENT",
            "SEQ",
            "STATE",
            "TRIES",
            "LAST ATTEMPT",
        ],
        &rows,
        None,
    );
}

pub fn run(args: WebhookArgs) -> anyhow::Result<u8> {
    let client = Client::from_args(&args.remote)?;
    let base = "/api/v1/admin/webhooks";
    match args.command {
        WebhookCommand::Add {
            target,
            events,
            types,
            locales,
            header,
            description,
            json,
        } => {
            let mut body = Map::new();
            body.insert("url".into(), json!(target));
            body.insert("events".into(), json!(events));
            body.insert("types".into(), json!(types));
            body.insert("locales".into(), json!(locales));
            if let Some(h) = header {
                body.insert("header".into(), header_of(&h)?);
            }
            if let Some(d) = description {
                body.insert("description".into(), json!(d));
            }
            let res = client.send(
                reqwest::Method::POST,
                base,
                Some(&Value::Object(body)),
                None,
            )?;
            let w = &res["data"];
            if json {
                output::json(w)?;
            } else {
                print_endpoint(w);
                println!("  secret: {}", w["secret"].as_str().unwrap_or(""));
                eprintln!(
                    "The secret is not shown again: configure it in the receiver now. Try it: verbund webhook test {}",
                    w["id"].as_str().unwrap_or("")
                );
            }
            Ok(exit::OK)
        }
        WebhookCommand::List { json } => {
            let res = client.get(base)?;
            let list = res["data"].as_array().cloned().unwrap_or_default();
            if json {
                return output::json(&Value::Array(list)).map(|_| exit::OK);
            }
            if list.is_empty() {
                eprintln!("no webhooks; add one with `verbund webhook add URL --events …`");
                return Ok(exit::OK);
            }
            let rows: Vec<Vec<String>> = list
                .iter()
                .map(|w| {
                    vec![
                        w["id"].as_str().unwrap_or("").to_string(),
                        if w["enabled"] == true {
                            "enabled"
                        } else {
                            "disabled"
                        }
                        .to_string(),
                        w["url"].as_str().unwrap_or("").to_string(),
                        w["events"]
                            .as_array()
                            .map(|a| {
                                a.iter()
                                    .filter_map(Value::as_str)
                                    .collect::<Vec<_>>()
                                    .join(",")
                            })
                            .unwrap_or_default(),
                    ]
                })
                .collect();
            output::table(&["ID", "STATE", "URL", "EVENTS"], &rows, None);
            Ok(exit::OK)
        }
        WebhookCommand::Show { id, json } => {
            let w = client.get(&format!("{base}/{id}"))?["data"].clone();
            let d = client.get(&format!("{base}/{id}/deliveries?limit=10"))?["data"].clone();
            if json {
                let mut all = w.clone();
                all["deliveries"] = d;
                return output::json(&all).map(|_| exit::OK);
            }
            print_endpoint(&w);
            println!();
            print_deliveries(d.as_array().map(Vec::as_slice).unwrap_or_default());
            Ok(exit::OK)
        }
        WebhookCommand::Test { id, json } => {
            let d = client.send(
                reqwest::Method::POST,
                &format!("{base}/{id}/test"),
                None,
                None,
            )?["data"]
                .clone();
            if json {
                output::json(&d)?;
            } else {
                let a = d["attempts"].as_array().and_then(|a| a.last()).cloned();
                match a {
                    Some(a) => {
                        println!(
                            "test delivery {}: {}",
                            d["id"].as_str().unwrap_or(""),
                            last_attempt(&d)
                        );
                        if let Some(r) = a["response"].as_str() {
                            println!("  answer: {}", output::cut(r, 200));
                        }
                    }
                    None => println!(
                        "test delivery {} is queued but was not tried yet; see `verbund webhook deliveries {id}`",
                        d["id"].as_str().unwrap_or("")
                    ),
                }
            }
            let ok = d["state"] == "succeeded";
            Ok(if ok { exit::OK } else { exit::ERROR })
        }
        WebhookCommand::Deliveries { id, limit, json } => {
            let res = client.get(&format!(
                "{base}/{id}/deliveries?limit={}",
                limit.clamp(1, 200)
            ))?;
            let list = res["data"].as_array().cloned().unwrap_or_default();
            if json {
                return output::json(&Value::Array(list)).map(|_| exit::OK);
            }
            print_deliveries(&list);
            Ok(exit::OK)
        }
        WebhookCommand::Replay {
            id,
            delivery,
            since,
        } => {
            if let Some(since) = since {
                let res = client.send(
                    reqwest::Method::POST,
                    &format!("{base}/{id}/replay"),
                    Some(&json!({"since": since})),
                    None,
                )?;
                println!(
                    "queued {} deliveries of the changes after {since}",
                    res["data"]["queued"]
                );
            } else if let Some(d) = delivery {
                client.send(
                    reqwest::Method::POST,
                    &format!("{base}/{id}/deliveries/{d}/replay"),
                    None,
                    None,
                )?;
                println!("delivery {d} is sent again now (same webhook-id)");
            }
            Ok(exit::OK)
        }
        WebhookCommand::RotateSecret { id } => {
            let res = client.send(
                reqwest::Method::POST,
                &format!("{base}/{id}/rotate-secret"),
                None,
                None,
            )?;
            let w = &res["data"];
            println!("new secret: {}", w["secret"].as_str().unwrap_or(""));
            eprintln!(
                "Deliveries carry signatures with the old and the new secret until {}; switch the receiver before then.",
                time(&w["previous_secret_until"])
            );
            Ok(exit::OK)
        }
        WebhookCommand::Enable { id } => set_enabled(&client, &id, true),
        WebhookCommand::Disable { id } => set_enabled(&client, &id, false),
        WebhookCommand::Remove { id } => {
            client.send(reqwest::Method::DELETE, &format!("{base}/{id}"), None, None)?;
            println!("removed webhook {id} with its deliveries");
            Ok(exit::OK)
        }
    }
}

fn set_enabled(client: &Client, id: &str, enabled: bool) -> anyhow::Result<u8> {
    let res = client.send(
        reqwest::Method::PATCH,
        &format!("/api/v1/admin/webhooks/{id}"),
        Some(&json!({ "enabled": enabled })),
        None,
    )?;
    print_endpoint(&res["data"]);
    Ok(exit::OK)
}
