//! Exit codes scripts can rely on, and how errors are printed.
//!
//! 0 ok, 1 error, 2 usage, 3 not found, 4 conflict, 5 validation.

use std::process::ExitCode;

use verbund_core::content::ContentError;

pub const OK: u8 = 0;
pub const ERROR: u8 = 1;
pub const NOT_FOUND: u8 = 3;
pub const CONFLICT: u8 = 4;
pub const VALIDATION: u8 = 5;

/// A mistake in how a command was called (exit code 2).
#[derive(Debug)]
pub struct Usage(pub String);

impl std::fmt::Display for Usage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Usage {}

/// Prints the error with its whole cause chain and returns the matching exit code.
pub fn report(e: &anyhow::Error) -> ExitCode {
    eprintln!("error: {e}");
    for cause in e.chain().skip(1) {
        eprintln!("  caused by: {cause}");
    }
    if let Some(
        verbund_core::auth::AuthError::UnknownRole(_)
        | verbund_core::auth::AuthError::BadRequest(_),
    ) = e.downcast_ref::<verbund_core::auth::AuthError>()
    {
        return ExitCode::from(2);
    }
    if e.downcast_ref::<Usage>().is_some() {
        return ExitCode::from(2);
    }
    if let Some(server) = e.downcast_ref::<crate::client::ServerError>() {
        return ExitCode::from(match server.status {
            404 => NOT_FOUND,
            409 | 428 => CONFLICT,
            422 => VALIDATION,
            400 => 2,
            _ => ERROR,
        });
    }
    let code = match e.downcast_ref::<ContentError>() {
        Some(ContentError::NotFound { .. } | ContentError::UnknownType { .. }) => NOT_FOUND,
        Some(
            ContentError::VersionConflict { .. }
            | ContentError::Referenced { .. }
            | ContentError::InvalidTransition { .. },
        ) => CONFLICT,
        Some(ContentError::Invalid { .. }) => VALIDATION,
        _ => ERROR,
    };
    ExitCode::from(code)
}
