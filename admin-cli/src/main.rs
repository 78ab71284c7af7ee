//! `verbund`: the server and the editors' and admins' command line.
//!
//! This file parses arguments and dispatches; each command lives in `commands/<verb>.rs` and
//! calls into `verbund-core`.

mod client;
mod commands;
mod doc;
mod editor;
mod exit;
mod output;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "verbund",
    version,
    about = "Verbund: a headless CMS for networks of organisations"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// Options shared by the commands that work directly on a data dir.
#[derive(Debug, Clone, clap::Args)]
pub struct DataArgs {
    /// The data dir (created on first use).
    #[arg(long, env = "VERBUND_DATA", default_value = "verbund-data")]
    pub data: PathBuf,
    /// A directory of content-type schemas; defaults to ./schemas if it exists, else the
    /// schemas built into this binary.
    #[arg(long, env = "VERBUND_SCHEMAS")]
    pub schemas: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Start the HTTP server on a data dir.
    #[command(
        after_help = "Example:\n  verbund serve --demo\n  verbund serve --data /srv/verbund --listen 0.0.0.0:8080"
    )]
    Serve(commands::serve::ServeArgs),
    /// Import entries from an NDJSON file straight into a data dir (server stopped).
    #[command(
        after_help = "Each line is one entry: its fields, plus optional \"id\", \"locale\", \"state\" (\"draft\" or \"published\"), \"published_at\" and \"translation_of\".\n\nExample:\n  verbund import stories.ndjson --data verbund-data --type story"
    )]
    Import(commands::import::ImportArgs),
    /// Check a token against a server and save it as a profile.
    #[command(after_help = "Example:\n  verbund login --url http://127.0.0.1:8080 --token vb_…")]
    Login(commands::login::LoginArgs),
    /// Work with entries on a running server.
    Entry(commands::entry::EntryArgs),
    /// Manage API tokens on a data dir (server stopped).
    #[command(subcommand)]
    Token(commands::token::TokenCommand),
    /// Check the audit log.
    #[command(subcommand)]
    Audit(commands::audit::AuditCommand),
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("VERBUND_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,tower_http=warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let result = match cli.command {
        Command::Serve(args) => commands::serve::run(args),
        Command::Import(args) => commands::import::run(args),
        Command::Token(cmd) => commands::token::run(cmd),
        Command::Login(args) => commands::login::run(args),
        Command::Entry(args) => commands::entry::run(args),
        Command::Audit(cmd) => commands::audit::run(cmd),
    };
    match result {
        Ok(code) => code.into(),
        Err(e) => exit::report(&e),
    }
}
