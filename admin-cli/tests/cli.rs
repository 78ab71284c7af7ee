//! The binary's own contract: every command explains itself with an example.

use std::process::Command;

fn verbund(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_verbund"))
        .args(args)
        .output()
        .expect("run verbund")
}

#[test]
fn every_command_has_help_with_an_example() {
    for cmd in ["serve", "import"] {
        let out = verbund(&[cmd, "--help"]);
        assert!(out.status.success());
        let help = String::from_utf8(out.stdout).unwrap();
        assert!(
            help.contains("Example:"),
            "verbund {cmd} --help has no example:\n{help}"
        );
    }
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
