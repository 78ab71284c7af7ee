//! The `$EDITOR` round trip of `entry new` and `entry edit`.
//!
//! The entry is written to a draft file and the editor opened on it. After the editor closes,
//! the file is read, parsed and sent; if the document is broken or the server refuses it, the
//! editor opens again with the errors as comments at the top. Nothing is lost: whenever the
//! loop ends without saving (the editor failed, the file was left unchanged after an error, the
//! server is unreachable or reports a conflict), the draft stays on disk and its path is
//! printed. A saved entry removes its draft.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use serde_json::Value;

use crate::client::ServerError;
use crate::doc::{self, Format, TypeInfo};

const ERRORS_START: &str = "# ┌ Verbund could not save this entry:";
const ERRORS_END: &str =
    "# └ Fix it, save and close the editor. To stop, close it without changes; the draft is kept.";

/// How the round trip ended.
pub enum Outcome {
    /// The server stored the entry; its answer.
    Saved(Value),
    /// The editor was closed without a change: nothing to save.
    Unchanged,
}

/// The directory drafts are kept in (beside the profiles file).
pub fn drafts_dir() -> anyhow::Result<PathBuf> {
    let profiles = crate::client::profiles_path()?;
    Ok(profiles
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
        .join("drafts"))
}

/// Opens the editor on `initial` and sends what comes back with `submit` until the server
/// accepts it.
pub fn round_trip(
    info: &TypeInfo,
    draft_name: &str,
    initial: &str,
    mut submit: impl FnMut(Value) -> anyhow::Result<Value>,
) -> anyhow::Result<Outcome> {
    let dir = drafts_dir()?;
    // Drafts may hold unpublished text and personal data: only their owner reads them.
    verbund_core::keys::private_dir(&dir)
        .with_context(|| format!("could not create the drafts folder {}", dir.display()))?;
    let stamp = chrono::Utc::now().format("%Y%m%d-%H%M%S");
    let path = dir.join(format!("{draft_name}-{stamp}.{}", info.extension()));
    std::io::Write::write_all(
        &mut verbund_core::keys::private_file(&path, false)
            .with_context(|| format!("could not write the draft {}", path.display()))?,
        initial.as_bytes(),
    )
    .with_context(|| format!("could not write the draft {}", path.display()))?;
    let format = Format::of_path(&path)?;
    let mut shown = initial.to_string();
    let mut had_errors = false;
    loop {
        run_editor(&path)?;
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("could not read the draft {}", path.display()))?;
        if text == shown {
            if had_errors {
                bail!(
                    "the entry was not saved: the draft was left unchanged after the errors.\n  Your draft is kept at {}\n  Fix it and send it with `verbund entry new {} --file {}` (or `entry edit … --file`).",
                    path.display(),
                    info.name,
                    path.display()
                );
            }
            let _ = std::fs::remove_file(&path);
            return Ok(Outcome::Unchanged);
        }
        let clean = strip_errors(&text);
        let errors: Vec<String> = match doc::parse(Some(info), format, &clean) {
            Err(e) => vec![format!("{e:#}")],
            Ok(value) => match submit(value) {
                Ok(saved) => {
                    let _ = std::fs::remove_file(&path);
                    return Ok(Outcome::Saved(saved));
                }
                Err(e) => match e.downcast_ref::<ServerError>() {
                    Some(se) if se.status == 422 || se.status == 400 => field_errors(se),
                    _ => {
                        return Err(e.context(format!(
                            "the entry was not saved; your draft is kept at {}",
                            path.display()
                        )));
                    }
                },
            },
        };
        had_errors = true;
        shown = with_errors(&clean, &errors);
        std::fs::write(&path, &shown)
            .with_context(|| format!("could not write the draft {}", path.display()))?;
        eprintln!(
            "The entry has {} problem(s); the editor opens again with them at the top.",
            errors.len()
        );
    }
}

fn field_errors(se: &ServerError) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(errors) = se.problem["errors"].as_array() {
        for e in errors {
            let pointer = e["pointer"]
                .as_str()
                .filter(|p| !p.is_empty())
                .unwrap_or("/");
            out.push(format!(
                "{}: {}",
                pointer.trim_start_matches('/'),
                e["message"].as_str().unwrap_or("")
            ));
        }
    }
    if out.is_empty() {
        out.push(se.to_string());
    }
    out
}

/// Puts the errors as comments at the top (inside the front matter of a Markdown document).
fn with_errors(text: &str, errors: &[String]) -> String {
    let mut block = String::from(ERRORS_START);
    block.push('\n');
    for e in errors {
        for line in e.lines() {
            block.push_str("# │ ");
            block.push_str(line);
            block.push('\n');
        }
    }
    block.push_str(ERRORS_END);
    block.push('\n');
    if let Some(rest) = text.strip_prefix("---\n") {
        format!("---\n{block}{rest}")
    } else {
        format!("{block}{text}")
    }
}

/// Removes an error block written by [`with_errors`].
fn strip_errors(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut inside = false;
    for line in text.split_inclusive('\n') {
        let t = line.trim_end();
        if t == ERRORS_START {
            inside = true;
            continue;
        }
        if inside {
            if t.starts_with("# └") {
                inside = false;
            }
            continue;
        }
        out.push_str(line);
    }
    out
}

/// Runs `$VISUAL` or `$EDITOR` (default `vi`) on the file; the command may carry arguments
/// (`code --wait`).
fn run_editor(path: &Path) -> anyhow::Result<()> {
    let editor = std::env::var("VISUAL")
        .ok()
        .filter(|s| !s.trim().is_empty())
        .or_else(|| {
            std::env::var("EDITOR")
                .ok()
                .filter(|s| !s.trim().is_empty())
        })
        .unwrap_or_else(|| "vi".into());
    let status = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("{editor} \"$1\""))
        .arg("verbund-editor")
        .arg(path)
        .status()
        .with_context(|| format!("could not start the editor {editor:?}; set EDITOR"))?;
    if !status.success() {
        bail!(
            "the editor {editor:?} ended with {status}; nothing was saved.\n  Your draft is kept at {}",
            path.display()
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_blocks_go_inside_the_front_matter_and_come_out_again() {
        let doc = "---\ntitle: x\n---\n\nText\n";
        let with = with_errors(doc, &["title: zu kurz".into(), "teaser: fehlt".into()]);
        assert!(with.starts_with("---\n# ┌ Verbund"), "{with}");
        assert!(with.contains("# │ title: zu kurz\n"));
        assert_eq!(strip_errors(&with), doc);
        let twice = with_errors(&strip_errors(&with), &["neu".into()]);
        assert_eq!(twice.matches("┌").count(), 1);
    }
}
