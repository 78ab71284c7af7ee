//! `verbund token create`: issue an API token on a stopped server's data dir.

use anyhow::Context;
use verbund_core::auth::{AuditRecord, Role, parse_duration};

use crate::DataArgs;
use crate::exit;

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
}

pub fn run(cmd: TokenCommand) -> anyhow::Result<u8> {
    match cmd {
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
                issued
                    .info
                    .expires_at
                    .map_or_else(|| "never".to_string(), |t| t.to_rfc3339())
            );
            Ok(exit::OK)
        }
    }
}
