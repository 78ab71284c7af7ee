//! The binary's own contract: every command explains itself with an example.

use std::process::Command;

fn verbund(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_verbund"))
        .args(args)
        .output()
        .expect("run verbund")
}

/// The subcommands `verbund <path> --help` lists.
fn subcommands(path: &[String]) -> Vec<String> {
    let mut args: Vec<&str> = path.iter().map(String::as_str).collect();
    args.push("--help");
    let out = verbund(&args);
    assert!(out.status.success(), "verbund {args:?} failed");
    let help = String::from_utf8(out.stdout).unwrap();
    help.lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| !l.trim().is_empty())
        .filter_map(|l| l.split_whitespace().next().map(String::from))
        .filter(|c| c != "help")
        .collect()
}

#[test]
fn every_command_has_help_with_an_example() {
    let mut todo: Vec<Vec<String>> = vec![vec![]];
    let mut leaves = 0;
    while let Some(path) = todo.pop() {
        let subs = subcommands(&path);
        if subs.is_empty() {
            let mut args: Vec<&str> = path.iter().map(String::as_str).collect();
            args.push("--help");
            let help = String::from_utf8(verbund(&args).stdout).unwrap();
            assert!(
                help.contains("Example:") || help.contains("Examples:"),
                "verbund {} --help has no example:\n{help}",
                path.join(" ")
            );
            leaves += 1;
        }
        for s in subs {
            let mut p = path.clone();
            p.push(s);
            todo.push(p);
        }
    }
    assert!(leaves >= 20, "only {leaves} commands found");
}

#[test]
fn a_data_dir_of_another_format_is_refused_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("VERBUND_FORMAT"), "verbund-data-format 7\n").unwrap();
    let out = verbund(&[
        "import",
        "-",
        "--type",
        "story",
        "--data",
        dir.path().to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("format version 7"), "{err}");
    assert!(err.contains("use a Verbund release"), "{err}");
}

#[test]
fn an_unknown_type_is_a_not_found_exit_code() {
    let dir = tempfile::tempdir().unwrap();
    let out = verbund(&[
        "import",
        "-",
        "--type",
        "kochrezept",
        "--data",
        dir.path().to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(3));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("unknown content type \"kochrezept\""), "{err}");
}
