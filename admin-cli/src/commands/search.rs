//! `verbund search …`: full-text search for editors (published entries and working copies),
//! and the search index of a running server (status, rebuild).

use super::entry::enc;
use crate::client::{Client, RemoteArgs};
use crate::{exit, output};

#[derive(Debug, clap::Args)]
#[command(
    args_conflicts_with_subcommands = true,
    after_help = "Examples:\n  verbund search \"Cloud Migration Halle\"\n  verbund search Datenschutz --type story,event --locale de\n  verbund search KI --filter topics=ki --published\n  verbund search status\n  verbund search rebuild --wait\n\nWords match in any inflection, ü/ue and ß/ss spelling and inside compounds; \"…\" is a phrase.\nWithout --published, working copies (drafts, entries in review, unpublished changes) that\nmatch are listed after the published hits, with their state."
)]
pub struct SearchArgs {
    #[command(flatten)]
    remote: RemoteArgs,
    #[command(subcommand)]
    command: Option<SearchCommand>,
    /// The words to search for; "…" for a phrase.
    #[arg(value_name = "QUERY")]
    query: Option<String>,
    /// Only these content types (comma-separated).
    #[arg(long = "type", value_delimiter = ',')]
    types: Vec<String>,
    /// Only entries in this locale (e.g. de, en).
    #[arg(long)]
    locale: Option<String>,
    /// Facet filters FIELD=VALUE[,VALUE] (repeatable), e.g. topics=cloud.
    #[arg(long = "filter", value_name = "FIELD=VALUES")]
    filters: Vec<String>,
    /// Hits to show (1 to 50).
    #[arg(long, default_value_t = 20)]
    limit: usize,
    /// Only what the website finds: no working copies.
    #[arg(long)]
    published: bool,
    #[arg(long)]
    json: bool,
}

#[derive(Debug, clap::Subcommand)]
enum SearchCommand {
    /// The search index of the server (admin): documents, where it is in the change feed.
    #[command(after_help = "Examples:\n  verbund search status\n  verbund search status --json")]
    Status {
        #[arg(long)]
        json: bool,
    },
    /// Rebuild the search index of every node from the published content (admin).
    #[command(
        after_help = "Examples:\n  verbund search rebuild\n  verbund search rebuild --wait\n\nEvery node builds a new index beside the old one, which answers meanwhile."
    )]
    Rebuild {
        /// Wait until this server's index is rebuilt.
        #[arg(long)]
        wait: bool,
    },
}

/// HTML of a highlight as terminal text: marks in bold, entities decoded, tags dropped.
fn terminal_text(html: &str) -> String {
    let (on, off) = if output::color() {
        ("\u{1b}[1m", "\u{1b}[0m")
    } else {
        ("", "")
    };
    let marked = html.replace("<mark>", on).replace("</mark>", off);
    marked
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
        .replace('\n', " ")
}

pub fn run(args: SearchArgs) -> anyhow::Result<u8> {
    let client = Client::from_args(&args.remote)?;
    match args.command {
        Some(SearchCommand::Status { json }) => {
            let v = client.get("/api/v1/admin/search")?;
            if json {
                output::json(&v)?;
                return Ok(exit::OK);
            }
            let d = &v["data"];
            println!(
                "search index: {} documents, in step with change {} of {}{}",
                d["documents"],
                d["seq"],
                d["last_seq"],
                if d["building"] == true {
                    " (rebuilding now)"
                } else {
                    ""
                }
            );
            println!(
                "  generation {}, {} segments, {:.1} MB on disk",
                d["generation"],
                d["segments"],
                d["bytes"].as_f64().unwrap_or(0.0) / 1e6
            );
            if let Some(ms) = d["build_ms"].as_u64() {
                println!(
                    "  last rebuilt {} in {:.1} s",
                    output::local_time(&d["built_at"], "%Y-%m-%d %H:%M:%S %:z"),
                    ms as f64 / 1000.0
                );
            }
            Ok(exit::OK)
        }
        Some(SearchCommand::Rebuild { wait }) => {
            let v = client.send(
                reqwest::Method::POST,
                "/api/v1/admin/search/rebuild",
                None,
                None,
            )?;
            let generation = v["data"]["generation"].as_u64().unwrap_or(0);
            println!("asked every node to rebuild its search index (generation {generation})");
            if wait {
                let started = std::time::Instant::now();
                loop {
                    std::thread::sleep(std::time::Duration::from_millis(250));
                    let s = client.get("/api/v1/admin/search")?;
                    if s["data"]["generation"].as_u64() >= Some(generation)
                        && s["data"]["building"] == false
                    {
                        println!(
                            "rebuilt: {} documents in {:.1} s",
                            s["data"]["documents"],
                            started.elapsed().as_secs_f64()
                        );
                        break;
                    }
                }
            }
            Ok(exit::OK)
        }
        None => {
            let Some(query) = args.query else {
                anyhow::bail!(
                    "give the words to search for, e.g. verbund search \"Cloud Migration\" (or: verbund search status | rebuild)"
                );
            };
            let mut path = format!(
                "/api/v1/{}search?q={}&limit={}",
                if args.published { "" } else { "manage/" },
                enc(&query),
                args.limit
            );
            if !args.types.is_empty() {
                path.push_str(&format!("&type={}", enc(&args.types.join(","))));
            }
            if let Some(l) = &args.locale {
                path.push_str(&format!("&locale={}", enc(l)));
            }
            for f in &args.filters {
                let Some((field, values)) = f.split_once('=') else {
                    anyhow::bail!("--filter {f:?}: write FIELD=VALUE, e.g. --filter topics=cloud");
                };
                path.push_str(&format!("&filter[{}]={}", enc(field), enc(values)));
            }
            let v = client.get(&path)?;
            if args.json {
                output::json(&v)?;
                return Ok(exit::OK);
            }
            let hits = v["data"].as_array().cloned().unwrap_or_default();
            if hits.is_empty() {
                println!("nothing found for {query:?}");
                return Ok(exit::OK);
            }
            let rows: Vec<Vec<String>> = hits
                .iter()
                .map(|h| {
                    vec![
                        h["type"].as_str().unwrap_or("").to_string(),
                        h["state"].as_str().unwrap_or("published").to_string(),
                        h["locale"].as_str().unwrap_or("").to_string(),
                        h["slug"]
                            .as_str()
                            .unwrap_or(h["id"].as_str().unwrap_or(""))
                            .to_string(),
                        format!(
                            "{} — {}",
                            terminal_text(h["title_html"].as_str().unwrap_or("")),
                            terminal_text(h["snippet"].as_str().unwrap_or(""))
                        ),
                    ]
                })
                .collect();
            output::table(
                &["TYPE", "STATE", "LOCALE", "SLUG", "TITLE — MATCH"],
                &rows,
                Some(1),
            );
            let meta = &v["meta"];
            let mut facets = Vec::new();
            for (name, values) in meta["facets"].as_object().into_iter().flatten() {
                let list: Vec<String> = values
                    .as_array()
                    .into_iter()
                    .flatten()
                    .take(6)
                    .map(|f| format!("{} {}", f["value"].as_str().unwrap_or(""), f["count"]))
                    .collect();
                if !list.is_empty() {
                    facets.push(format!("{name}: {}", list.join(", ")));
                }
            }
            println!(
                "{} published hits{}",
                meta["total"],
                if meta["next_cursor"].is_string() {
                    " (more with --limit or --json's next_cursor)"
                } else {
                    ""
                }
            );
            for f in facets {
                println!("  {f}");
            }
            if meta["drafts_complete"] == false {
                println!("  working copies: only the first 20,000 were looked through");
            }
            Ok(exit::OK)
        }
    }
}
