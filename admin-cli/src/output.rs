//! Human output: colour only on a terminal (never with `NO_COLOR`), tables fitted to the
//! terminal's width.

use std::io::IsTerminal;

/// Whether stdout gets colour.
pub fn color() -> bool {
    std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// Paints `text` with an ANSI colour code when colour is on.
pub fn paint(code: &str, text: &str) -> String {
    if color() {
        format!("\x1b[{code}m{text}\x1b[0m")
    } else {
        text.to_string()
    }
}

/// The width tables fit into: the terminal's, else `COLUMNS`, else unlimited.
pub fn width() -> usize {
    if std::io::stdout().is_terminal() {
        let (_, cols) = console::Term::stdout().size();
        if cols > 20 {
            return cols as usize;
        }
    }
    std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.parse().ok())
        .filter(|c| *c > 20)
        .unwrap_or(usize::MAX)
}

/// Prints a table; the last column is cut (with …) to fit the width.
pub fn table(headers: &[&str], rows: &[Vec<String>], state_col: Option<usize>) {
    let n = headers.len();
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate().take(n - 1) {
            widths[i] = widths[i].max(c.chars().count());
        }
    }
    let used: usize = widths[..n - 1].iter().map(|w| w + 2).sum();
    let last = width().saturating_sub(used).max(10);
    let line = |cells: &[String], header: bool| {
        let mut out = String::new();
        for (i, c) in cells.iter().enumerate() {
            if i + 1 == n {
                out.push_str(&cut(c, last));
            } else {
                let pad = widths[i] - c.chars().count();
                let shown = if header {
                    paint("1", c)
                } else if Some(i) == state_col {
                    paint(state_color(c), c)
                } else {
                    c.clone()
                };
                out.push_str(&shown);
                out.push_str(&" ".repeat(pad + 2));
            }
        }
        println!("{}", out.trim_end());
    };
    line(
        &headers.iter().map(|h| h.to_string()).collect::<Vec<_>>(),
        true,
    );
    for r in rows {
        line(r, false);
    }
}

fn state_color(state: &str) -> &'static str {
    match state {
        "published" | "approved" => "32",
        "draft" | "changes_requested" => "33",
        "in_review" | "scheduled" => "36",
        "archived" => "2",
        _ => "0",
    }
}

/// Cuts `s` to at most `max` characters, ending with … when cut.
pub fn cut(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(max.saturating_sub(1)).collect();
        t.push('…');
        t
    }
}

/// Prints JSON for scripts.
pub fn json(v: &serde_json::Value) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(v)?);
    Ok(())
}

/// An RFC 3339 time of an answer in the local time zone, formatted (`%Y-%m-%d %H:%M`); empty
/// when it is not a time.
pub fn local_time(v: &serde_json::Value, format: &str) -> String {
    v.as_str()
        .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
        .map(|t| t.with_timezone(&chrono::Local).format(format).to_string())
        .unwrap_or_default()
}
