//! The editor's day (issue 24): the CLI behaves like a Unix tool (a closed pipe ends it quietly,
//! logs in a file carry no colour codes) and a mistyped profile is named.

use std::process::{Command, Stdio};
use std::time::Duration;

use verbund_tests::{TestApp, ok, run_cli, verbund_bin};

/// `verbund entry list story | true`: the reader is gone before the CLI writes. The CLI ends
/// like any Unix tool (SIGPIPE), without a panic message (it used to exit 101 with one).
#[test]
fn output_into_a_closed_pipe_ends_quietly() {
    let (server, tokens) = TestApp::demo_with_tokens(&["editor"]);
    let tmp = tempfile::tempdir().unwrap();
    let err = tmp.path().join("stderr.txt");
    for args in [
        "entry list story",
        "entry show story phishing-angriff-logistiker-halle",
    ] {
        let out = Command::new("bash")
            .arg("-c")
            .arg(format!(
                "\"$VB\" {args} 2>\"$ERR\" | true; echo ${{PIPESTATUS[0]}}"
            ))
            .env("VB", verbund_bin())
            .env("ERR", &err)
            .env("VERBUND_URL", &server.url)
            .env("VERBUND_TOKEN", &tokens["editor"])
            .env("VERBUND_CONFIG_DIR", tmp.path().join("config"))
            .output()
            .unwrap();
        let status = String::from_utf8_lossy(&out.stdout).trim().to_string();
        let stderr = std::fs::read_to_string(&err).unwrap_or_default();
        assert!(!stderr.contains("panicked"), "{args}: {stderr}");
        assert_ne!(status, "101", "{args}: {stderr}");
        assert!(
            status == "0" || status == "141",
            "{args}: exit {status}: {stderr}"
        );
    }
}

/// The server's log written to a file (not a terminal) has no ANSI colour codes.
#[test]
fn server_logs_in_a_file_have_no_colour_codes() {
    let tmp = tempfile::tempdir().unwrap();
    let log = tmp.path().join("server.log");
    let mut child =
        verbund_tests::with_store(&mut Command::new(verbund_bin()), &tmp.path().join("data"))
            .args(["serve", "--demo", "--listen", "127.0.0.1:0", "--data"])
            .arg(tmp.path().join("data"))
            .env("VERBUND_LOG", "debug")
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
    use std::io::BufRead;
    let stdout = child.stdout.take().unwrap();
    let url = std::io::BufReader::new(stdout)
        .lines()
        .map_while(Result::ok)
        .find_map(|l| {
            l.strip_prefix("Verbund is serving ")
                .map(|r| r.split_whitespace().next().unwrap_or("").to_string())
        })
        .expect("the server printed its address");
    let res = reqwest::blocking::get(format!("{url}api/v1/content/gibt-es-nicht")).unwrap();
    assert_eq!(res.status(), 404);
    std::thread::sleep(Duration::from_millis(300));
    let _ = child.kill();
    let _ = child.wait();
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains("DEBUG"), "the request was logged: {text}");
    assert!(
        !text.contains('\u{1b}'),
        "colour codes in the log file: {text:?}"
    );
}

/// `--profile` with a name that was never saved says so and names the saved ones.
#[test]
fn an_unknown_profile_is_named_with_the_known_ones() {
    let (server, tokens) = TestApp::demo_with_tokens(&["editor"]);
    let tmp = tempfile::tempdir().unwrap();
    let config = tmp.path().join("config");
    ok(&run_cli(
        &config,
        &server.url,
        &tokens["editor"],
        &[
            "login",
            "--profile",
            "arbeit",
            "--url",
            &server.url,
            "--token",
            &tokens["editor"],
        ],
        &[],
    ));
    let out = Command::new(verbund_bin())
        .args(["entry", "list", "story", "--profile", "nichtda"])
        .env("VERBUND_CONFIG_DIR", &config)
        .env_remove("VERBUND_URL")
        .env_remove("VERBUND_TOKEN")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("nichtda"), "{err}");
    assert!(err.contains("arbeit"), "{err}");
    // The saved one works.
    let out = Command::new(verbund_bin())
        .args(["entry", "list", "story", "--profile", "arbeit"])
        .env("VERBUND_CONFIG_DIR", &config)
        .env_remove("VERBUND_URL")
        .env_remove("VERBUND_TOKEN")
        .output()
        .unwrap();
    ok(&out);
}

/// The examples in `verbund entry list --help` work against the demo content (one used
/// fields members do not have).
#[test]
fn the_entry_list_help_examples_work() {
    let (server, tokens) = TestApp::demo_with_tokens(&["editor"]);
    let tmp = tempfile::tempdir().unwrap();
    let config = tmp.path().join("config");
    let help = ok(&run_cli(
        &config,
        &server.url,
        &tokens["editor"],
        &["entry", "list", "--help"],
        &[],
    ));
    let examples: Vec<&str> = help
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with("verbund entry list ") && !l.contains('|'))
        .collect();
    assert!(examples.len() >= 2, "{help}");
    for example in examples {
        let args: Vec<&str> = example.split_whitespace().skip(1).collect();
        let out = ok(&run_cli(
            &config,
            &server.url,
            &tokens["editor"],
            &args,
            &[],
        ));
        assert!(!out.starts_with("no "), "{example}: nothing found:\n{out}");
    }
}
