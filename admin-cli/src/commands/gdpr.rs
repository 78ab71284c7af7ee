//! `verbund gdpr export|erase --email ADDR`: data-subject requests (DSGVO Art. 15 and 17)
//! through the server (admin token).

use std::io::IsTerminal;
use std::path::PathBuf;

use anyhow::Context;
use serde_json::json;

use crate::client::{Client, RemoteArgs};
use crate::{exit, output};

#[derive(Debug, clap::Args)]
pub struct GdprArgs {
    #[command(flatten)]
    remote: RemoteArgs,
    #[command(subcommand)]
    command: GdprCommand,
}

#[derive(Debug, clap::Subcommand)]
enum GdprCommand {
    /// Everything stored about a person (subscriptions with consent history, personal fields
    /// of other entries in every version), as JSON.
    #[command(
        after_help = "Examples:\n  verbund gdpr export --email anna.wendt@example.org\n  verbund gdpr export --email anna.wendt@example.org --out auskunft-wendt.json"
    )]
    Export {
        #[arg(long)]
        email: String,
        /// Write the JSON to this file instead of standard output.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Erase a person from current entries, every revision and the mail outbox.
    #[command(
        after_help = "Backups made before keep the data until they are deleted.\n\nExample:\n  verbund gdpr erase --email anna.wendt@example.org --yes"
    )]
    Erase {
        #[arg(long)]
        email: String,
        /// Do not ask for confirmation (needed when not on a terminal).
        #[arg(long, short = 'y')]
        yes: bool,
        #[arg(long)]
        json: bool,
    },
}

pub fn run(args: GdprArgs) -> anyhow::Result<u8> {
    let client = Client::from_args(&args.remote)?;
    match args.command {
        GdprCommand::Export { email, out } => {
            let res = client.send(
                reqwest::Method::POST,
                "/api/v1/admin/gdpr/export",
                Some(&json!({ "email": email })),
                None,
            )?;
            let text = serde_json::to_string_pretty(&res["data"])?;
            match out {
                Some(path) => {
                    std::io::Write::write_all(
                        &mut verbund_core::keys::private_file(&path, false)
                            .with_context(|| format!("could not write {}", path.display()))?,
                        text.as_bytes(),
                    )
                    .with_context(|| format!("could not write {}", path.display()))?;
                    println!(
                        "wrote everything stored about {email} to {} ({} entries)",
                        path.display(),
                        res["data"]["entries"].as_array().map_or(0, Vec::len)
                    );
                }
                None => println!("{text}"),
            }
            Ok(exit::OK)
        }
        GdprCommand::Erase { email, yes, json } => {
            if !yes {
                if !std::io::stdin().is_terminal() {
                    return Err(anyhow::Error::new(exit::Usage(
                        "erasing needs confirmation: add --yes".into(),
                    )));
                }
                eprint!("Erase everything stored about {email} (this cannot be undone)? [y/N] ");
                let mut answer = String::new();
                std::io::stdin().read_line(&mut answer)?;
                if !matches!(answer.trim(), "y" | "Y" | "yes" | "j" | "ja") {
                    eprintln!("Nothing was erased.");
                    return Ok(exit::OK);
                }
            }
            let res = client.send(
                reqwest::Method::POST,
                "/api/v1/admin/gdpr/erase",
                Some(&json!({ "email": email })),
                None,
            )?;
            let d = &res["data"];
            if json {
                output::json(d)?;
                return Ok(exit::OK);
            }
            let e = &d["erasure"];
            println!(
                "erased {email}: {} entries deleted ({} versions), personal fields removed from {} entries ({} versions), {} outbox mails deleted, {} photos deleted with their files",
                e["entries_deleted"],
                e["versions_deleted"],
                e["entries_cleaned"],
                e["versions_cleaned"],
                d["outbox_mails_deleted"],
                d["assets_deleted"]
            );
            println!("note: backups made before keep the data until they are deleted");
            Ok(exit::OK)
        }
    }
}
