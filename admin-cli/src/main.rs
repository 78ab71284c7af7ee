//! `verbund`: the server and the editors' and admins' command line.
//!
//! This file parses arguments and dispatches; each command lives in `commands/<verb>.rs` and
//! calls into `verbund-core`.

mod client;
mod commands;
mod editor;
mod exit;
mod output;

pub use verbund::doc;

use std::path::PathBuf;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

/// mimalloc instead of the system allocator: the server allocates per request, and the system
/// allocator was the largest single item in the profile of a cached read.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
#[derive(Debug, Clone, clap::Args, serde::Serialize, serde::Deserialize)]
pub struct DataArgs {
    /// The data dir: entries, revisions, indexes, tokens, audit log, plugins (created on
    /// first use). With --store, only this node's key file, compiled plugins and outbox.
    #[arg(long, env = "VERBUND_DATA", default_value = "verbund-data", value_hint = clap::ValueHint::DirPath)]
    pub data: PathBuf,
    /// A store shared by several nodes instead of the data dir: a PostgreSQL URL
    /// (postgres://verbund@db.example.org:5432/verbund; the password from PGPASSWORD rather
    /// than in the URL). Every node of an installation needs the same key file (DATA/verbund.key).
    #[arg(long, env = "VERBUND_STORE")]
    pub store: Option<String>,
    /// A directory of content-type schemas (JSON Schema 2020-12 with x-verbund keywords);
    /// without it ./schemas if it exists, else the schemas built into this binary.
    #[arg(long, env = "VERBUND_SCHEMAS", value_hint = clap::ValueHint::DirPath)]
    pub schemas: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Start the HTTP server on a data dir.
    #[command(
        after_help = "Example:\n  verbund serve --demo\n  verbund serve --data /srv/verbund --listen 0.0.0.0:8080"
    )]
    Serve(commands::serve::ServeArgs),
    /// Import entries from an NDJSON file, through the server (resumable) or into a data dir.
    #[command(
        after_help = "Each line is one entry: its fields, plus optional \"type\", \"id\", \"locale\", \"state\" (\"draft\", \"published\" or \"archived\"), \"published_at\" and \"translation_of\" — the lines `verbund export` writes. An interrupted import resumes where it stopped when you run the same command again.\n\nExamples:\n  verbund import mitglieder.ndjson --type member\n  verbund import sicherung.ndjson                       # lines name their type\n  verbund import stories.ndjson --type story --data verbund-data   # server stopped"
    )]
    Import(commands::import::ImportArgs),
    /// Export every current entry (or those of one type) to an NDJSON file.
    #[command(
        after_help = "Examples:\n  verbund export --out alles.ndjson\n  verbund export --type event --out veranstaltungen.ndjson"
    )]
    Export(commands::export::ExportArgs),
    /// Write a consistent backup of the whole data dir, online through the server.
    #[command(
        after_help = "Examples:\n  verbund backup --out verbund-2026-12-01.backup                # through the server\n  verbund backup --data verbund-data --out sicherung.backup      # server stopped"
    )]
    Backup(commands::backup::BackupArgs),
    /// Restore a backup into a data dir (checked before anything is replaced).
    #[command(
        after_help = "Examples:\n  verbund restore sicherung.backup --data verbund-data-neu\n  verbund restore sicherung.backup --data verbund-data --force   # keeps the old dir beside"
    )]
    Restore(commands::backup::RestoreArgs),
    /// Copy an installation's whole store into another engine (a data dir into PostgreSQL, or
    /// back), with every server on it stopped; both are compared record by record afterwards.
    #[command(
        after_help = "Examples:\n  verbund migrate --from verbund-data --to postgres://verbund@db.example.org/verbund\n  verbund migrate --from postgres://verbund@db.example.org/verbund --to verbund-data-neu --keys node/verbund.key\n\nCopied: entries, every revision, indexes, history, tokens, the audit chain, plugins and the change feed (with its sequence numbers). Not copied: compiled plugin code (compiled again on the first start). A copy that stopped half-way is started over by running the same command again; no server opens the destination before it is complete."
    )]
    Migrate(commands::migrate::MigrateArgs),
    /// Set up a directory: a commented verbund.toml, the data dir and the first admin token.
    #[command(after_help = "Example:\n  verbund init /srv/verbund")]
    Init(commands::config::InitArgs),
    /// Work with the configuration file.
    #[command(subcommand)]
    Config(commands::config::ConfigCommand),
    /// Print shell completions (bash, zsh, fish, elvish, powershell).
    #[command(
        after_help = "Examples:\n  verbund completions bash > ~/.local/share/bash-completion/completions/verbund\n  verbund completions zsh > ~/.zfunc/_verbund"
    )]
    Completions { shell: clap_complete::Shell },
    /// Check a token against a server and save it as a profile.
    #[command(after_help = "Example:\n  verbund login --url http://127.0.0.1:8080 --token vb_…")]
    Login(commands::login::LoginArgs),
    /// Work with entries on a running server.
    Entry(commands::entry::EntryArgs),
    /// The media library on a running server: upload, list, show, edit and delete assets
    /// (logos, photos, documents).
    Asset(commands::asset::AssetArgs),
    /// Install and manage sandboxed plugins on a running server (admin).
    Plugin(commands::plugin::PluginArgs),
    /// Webhooks on a running server (admin): endpoints that hear about publications and
    /// other changes, their delivery log and replays.
    Webhook(commands::webhook::WebhookArgs),
    /// Full-text search on a running server: published entries and working copies; the
    /// search index's status and rebuild (admin).
    Search(commands::search::SearchArgs),
    /// Newsletter issues (through the newsletter-export plugin): export the files, or send
    /// one mail per confirmed recipient (admin).
    Newsletter(commands::newsletter::NewsletterArgs),
    /// The mail queue on a running server (admin): a test mail, what is queued, sent and
    /// failed, retries.
    Mail(commands::mail::MailArgs),
    /// Data-subject requests: export or erase everything stored about a person (admin).
    Gdpr(commands::gdpr::GdprArgs),
    /// API tokens: create one on a data dir (server stopped); list and revoke them through a
    /// running server (admin).
    #[command(subcommand)]
    Token(commands::token::TokenCommand),
    /// Check the audit log.
    #[command(subcommand)]
    Audit(commands::audit::AuditCommand),
    /// The installation's secret keys (DATA/verbund.key): rotate or list them.
    #[command(subcommand)]
    Keys(commands::keys::KeysCommand),
}

/// Like other Unix tools, end quietly when the reader of our output is gone
/// (`verbund entry list story | head`): Rust's runtime ignores SIGPIPE, so printing to a closed
/// pipe would panic instead.
#[cfg(unix)]
#[allow(unsafe_code)]
fn restore_sigpipe() {
    // SAFETY: sets the default disposition of SIGPIPE early in `main`, before any other thread
    // exists; no handler runs Rust code.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

fn main() -> std::process::ExitCode {
    let matches = Cli::command().get_matches();
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    // The server keeps ignoring SIGPIPE: a closed stdout must not stop it.
    #[cfg(unix)]
    if !matches!(cli.command, Command::Serve(_)) {
        restore_sigpipe();
    }
    tracing_subscriber::fmt()
        .with_env_filter(
            // VERBUND_LOG first, then the usual RUST_LOG (e.g. RUST_LOG=verbund_core::plugin=debug).
            tracing_subscriber::EnvFilter::try_from_env("VERBUND_LOG")
                .or_else(|_| tracing_subscriber::EnvFilter::try_from_env("RUST_LOG"))
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,tantivy=warn")),
        )
        .with_writer(std::io::stderr)
        // Colour only on a terminal: a log file or journal gets plain text.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let result = match cli.command {
        Command::Serve(args) => commands::serve::run(
            args,
            matches.subcommand_matches("serve").unwrap_or(&matches),
        ),
        Command::Import(args) => commands::import::run(args),
        Command::Export(args) => commands::export::run(args),
        Command::Backup(args) => commands::backup::backup(args),
        Command::Restore(args) => commands::backup::restore(args),
        Command::Migrate(args) => commands::migrate::run(args),
        Command::Init(args) => commands::config::init(args),
        Command::Config(cmd) => commands::config::run(cmd),
        Command::Completions { shell } => {
            clap_complete::generate(
                shell,
                &mut Cli::command(),
                "verbund",
                &mut std::io::stdout(),
            );
            Ok(exit::OK)
        }
        Command::Token(cmd) => commands::token::run(cmd),
        Command::Login(args) => commands::login::run(args),
        Command::Entry(args) => commands::entry::run(args),
        Command::Asset(args) => commands::asset::run(args),
        Command::Webhook(args) => commands::webhook::run(args),
        Command::Search(args) => commands::search::run(args),
        Command::Plugin(args) => commands::plugin::run(args),
        Command::Newsletter(args) => commands::newsletter::run(args),
        Command::Mail(args) => commands::mail::run(args),
        Command::Gdpr(args) => commands::gdpr::run(args),
        Command::Audit(cmd) => commands::audit::run(cmd),
        Command::Keys(cmd) => commands::keys::run(cmd),
    };
    match result {
        Ok(code) => code.into(),
        Err(e) => exit::report(&e),
    }
}
