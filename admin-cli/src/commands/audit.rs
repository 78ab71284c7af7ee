//! `verbund audit verify`: check the audit log's hash chain on a data dir.

use crate::DataArgs;
use crate::exit;

#[derive(Debug, clap::Subcommand)]
pub enum AuditCommand {
    /// Check that no audit record was changed, removed or cut off.
    #[command(after_help = "Example:\n  verbund audit verify --data verbund-data")]
    Verify {
        #[command(flatten)]
        data: DataArgs,
        /// Print the result as JSON ({"intact", "records", "problems"}).
        #[arg(long)]
        json: bool,
    },
}

pub fn run(cmd: AuditCommand) -> anyhow::Result<u8> {
    match cmd {
        AuditCommand::Verify { data, json } => {
            let content = super::open(&data)?;
            let report = content.auth().verify_audit()?;
            if json {
                crate::output::json(&serde_json::json!({
                    "intact": report.problems.is_empty(),
                    "records": report.records,
                    "problems": report.problems,
                }))?;
                return Ok(if report.problems.is_empty() {
                    exit::OK
                } else {
                    exit::ERROR
                });
            }
            if report.problems.is_empty() {
                println!(
                    "audit log intact: {} records, hash chain verified",
                    report.records
                );
                Ok(exit::OK)
            } else {
                for p in &report.problems {
                    eprintln!("audit log: {p}");
                }
                eprintln!(
                    "the audit log of {} has been tampered with ({} problems in {} records); restore it from a backup and investigate",
                    data.data.display(),
                    report.problems.len(),
                    report.records
                );
                Ok(exit::ERROR)
            }
        }
    }
}
