//! `verbund.toml`: the server's settings in a file, `verbund init` and `verbund config default`.
//!
//! Settings come in layers: built-in defaults, then the config file (`--config`, else
//! `$VERBUND_CONFIG`, else `./verbund.toml` when it exists), then environment variables, then
//! flags. Each layer overrides the one before.

use std::path::{Path, PathBuf};

use anyhow::Context;
use verbund_core::auth::{AuditRecord, Role};

use super::serve::ServeArgs;
use crate::exit;

/// The opening of `verbund.toml` as `config default` prints and `init` writes it; every
/// setting below it is generated from the flags of `verbund serve` (their help, flag,
/// environment variable and default), so the three cannot drift apart.
const CONFIG_INTRO: &str = "\
# Verbund server configuration (verbund.toml).
#
# `verbund serve` reads this file from --config, $VERBUND_CONFIG or ./verbund.toml.
# Environment variables (VERBUND_LISTEN, VERBUND_DATA …) override it, and flags of
# `verbund serve` override both. Remove the leading # of a line to change a setting.
# Relative paths are relative to this file's directory.
";

/// Settings a file does not hold: where the file is, and what only makes sense once.
const NOT_IN_FILE: [&str; 1] = ["config"];

/// The settings of `T` (a clap argument struct) a config file may hold, in declaration order.
fn settings<T: clap::Args>() -> Vec<clap::Arg> {
    T::augment_args(clap::Command::new("verbund"))
        .get_arguments()
        .filter(|a| !NOT_IN_FILE.contains(&a.get_id().as_str()))
        .cloned()
        .collect()
}

/// `T` with only its built-in defaults: no flags, no environment.
fn defaults<T: clap::Args + clap::FromArgMatches>() -> anyhow::Result<T> {
    let mut cmd = T::augment_args(clap::Command::new("verbund"));
    let ids: Vec<clap::Id> = cmd.get_arguments().map(|a| a.get_id().clone()).collect();
    for id in ids {
        cmd = cmd.mut_arg(id, |a| a.env(None));
    }
    let matches = cmd.try_get_matches_from(["verbund"])?;
    Ok(T::from_arg_matches(&matches)?)
}

/// The commented default configuration: the intro, then each setting with its help, its flag
/// and environment variable, and its default (commented out when it has none).
pub fn default_config<T>() -> anyhow::Result<String>
where
    T: clap::Args + clap::FromArgMatches + serde::Serialize,
{
    let values = toml::Table::try_from(defaults::<T>()?)?;
    let mut out = String::from(CONFIG_INTRO);
    for arg in settings::<T>() {
        let id = arg.get_id().as_str();
        let mut help = arg
            .get_long_help()
            .or(arg.get_help())
            .map(|h| h.to_string())
            .unwrap_or_default();
        if !help.ends_with('.') {
            help.push('.');
        }
        out.push('\n');
        for line in wrap(&help, 88) {
            out.push_str(&format!("# {line}\n"));
        }
        let mut how = vec![format!("--{}", arg.get_long().unwrap_or(id))];
        if let Some(env) = arg.get_env() {
            how.push(format!("${}", env.to_string_lossy()));
        }
        out.push_str(&format!("# (also {})\n", how.join(", ")));
        // A path in the file is relative to the file: only the data dir's default belongs
        // there (`init` puts the data dir beside the file); other paths stay commented out so
        // that they keep meaning what they mean on the command line.
        let active = !is_path(&arg) || id == "data";
        match values.get(id) {
            Some(v) if active => out.push_str(&format!("{id} = {v}\n")),
            Some(v) => out.push_str(&format!("#{id} = {v}\n")),
            None => out.push_str(&format!("#{id} = \"…\"  (not set)\n")),
        }
    }
    Ok(out)
}

/// Whether a setting takes a path (declared with a `value_hint`).
fn is_path(arg: &clap::Arg) -> bool {
    matches!(
        arg.get_value_hint(),
        clap::ValueHint::DirPath | clap::ValueHint::FilePath | clap::ValueHint::AnyPath
    )
}

/// Words of `text` in lines of at most `width` characters.
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    for para in text.split('\n') {
        let mut line = String::new();
        for word in para.split_whitespace() {
            if !line.is_empty() && line.chars().count() + 1 + word.chars().count() > width {
                lines.push(std::mem::take(&mut line));
            }
            if !line.is_empty() {
                line.push(' ');
            }
            line.push_str(word);
        }
        lines.push(line);
    }
    lines
}

/// Reads the config file named by `explicit`, else ./verbund.toml if present.
fn read(explicit: Option<&Path>) -> anyhow::Result<Option<(PathBuf, toml::Table)>> {
    let path = match explicit {
        Some(p) => p.to_path_buf(),
        None if Path::new("verbund.toml").is_file() => PathBuf::from("verbund.toml"),
        None => return Ok(None),
    };
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("could not read the config file {}", path.display()))?;
    let table: toml::Table = toml::from_str(&text).map_err(|e| invalid(&path, e))?;
    Ok(Some((path, table)))
}

fn invalid(path: &Path, e: impl std::fmt::Display) -> anyhow::Error {
    anyhow::anyhow!(
        "the config file {} is not valid: {e}\n  hint: `verbund config default` prints every setting with its explanation",
        path.display()
    )
}

/// Layers the config file (`explicit`, else ./verbund.toml) under `args`: a setting the
/// command line and the environment left at its default takes the file's value. Paths in the
/// file (settings whose flag takes a path) are relative to the file's directory. Returns the
/// file's path when one was read.
pub fn layer<T>(
    args: &mut T,
    matches: &clap::ArgMatches,
    explicit: Option<&Path>,
) -> anyhow::Result<Option<PathBuf>>
where
    T: clap::Args + serde::Serialize + serde::de::DeserializeOwned,
{
    let Some((path, file)) = read(explicit)? else {
        return Ok(None);
    };
    let defaulted = |id: &str| {
        matches!(
            matches.value_source(id),
            None | Some(clap::parser::ValueSource::DefaultValue)
        )
    };
    *args = merged(args, &path, file, defaulted)?;
    Ok(Some(path))
}

/// The built-in defaults of `T` with the settings of the file at `path`.
pub fn from_file<T>(path: &Path) -> anyhow::Result<T>
where
    T: clap::Args + clap::FromArgMatches + serde::Serialize + serde::de::DeserializeOwned,
{
    let defaults = defaults::<T>()?;
    match read(Some(path))? {
        Some((path, file)) => merged(&defaults, &path, file, |_| true),
        None => Ok(defaults),
    }
}

/// `args` with the values of `file` for every setting `defaulted` says was not given.
fn merged<T>(
    args: &T,
    path: &Path,
    file: toml::Table,
    defaulted: impl Fn(&str) -> bool,
) -> anyhow::Result<T>
where
    T: clap::Args + serde::Serialize + serde::de::DeserializeOwned,
{
    let known = settings::<T>();
    let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
    let mut table = toml::Table::try_from(args)?;
    for (key, mut value) in file {
        let Some(arg) = known.iter().find(|a| a.get_id().as_str() == key) else {
            let names: Vec<&str> = known.iter().map(|a| a.get_id().as_str()).collect();
            return Err(invalid(
                path,
                format!(
                    "unknown setting {key:?}; the settings are {}",
                    names.join(", ")
                ),
            ));
        };
        if !defaulted(&key) {
            continue;
        }
        if is_path(arg)
            && let toml::Value::String(p) = &value
            && Path::new(p).is_relative()
        {
            value = toml::Value::String(base.join(p).display().to_string());
        }
        table.insert(key, value);
    }
    table
        .try_into::<T>()
        .map_err(|e| invalid(path, e.to_string().trim_end().replace('\n', " ")))
}

#[derive(Debug, clap::Subcommand)]
pub enum ConfigCommand {
    /// Print the default configuration with an explanation of every setting.
    #[command(after_help = "Example:\n  verbund config default > verbund.toml")]
    Default,
}

pub fn run(cmd: ConfigCommand) -> anyhow::Result<u8> {
    match cmd {
        ConfigCommand::Default => {
            print!("{}", default_config::<ServeArgs>()?);
            Ok(exit::OK)
        }
    }
}

#[derive(Debug, clap::Args)]
pub struct InitArgs {
    /// The directory to set up: it gets verbund.toml and the data dir `verbund-data`.
    #[arg(default_value = ".")]
    dir: PathBuf,
}

pub fn init(args: InitArgs) -> anyhow::Result<u8> {
    std::fs::create_dir_all(&args.dir)
        .with_context(|| format!("could not create {}", args.dir.display()))?;
    let config = args.dir.join("verbund.toml");
    if config.exists() {
        println!("{} exists already; it was left as it is", config.display());
    } else {
        std::fs::write(&config, default_config::<ServeArgs>()?)
            .with_context(|| format!("could not write {}", config.display()))?;
        println!(
            "wrote {} (every setting explained inside)",
            config.display()
        );
    }
    let cfg = from_file::<ServeArgs>(&config)?;
    let data = cfg.data.data;
    let schemas = verbund_core::SchemaRegistry::load_default(cfg.data.schemas.as_deref())
        .context("could not load the content-type schemas")?;
    let content = verbund_core::open(&data, schemas)
        .with_context(|| format!("could not create the data dir {}", data.display()))?;
    let auth = content.auth();
    if !auth.list_tokens()?.is_empty() {
        println!(
            "the data dir {} has tokens already; no new one was made (create more with `verbund token create`)",
            data.display()
        );
        return Ok(exit::OK);
    }
    let mut a = AuditRecord::draft("cli", "token.create");
    a.detail = Some("role admin (init)".into());
    let issued = auth
        .create_token_for(
            Role::Admin,
            verbund_core::auth::parse_duration("365d")?,
            Some("first admin (verbund init)".into()),
            verbund_core::auth::Person::default(),
            Some(a),
        )
        .context("could not store the first token")?;
    println!("created the data dir {}", data.display());
    println!();
    println!("The first admin token (valid for a year, shown only this once; keep it safe):");
    println!("  {}", issued.token);
    println!();
    println!("Next:");
    println!("  verbund serve --config {}", config.display());
    println!(
        "  verbund login --url http://{} --token {}",
        cfg.listen, issued.token
    );
    Ok(exit::OK)
}

#[cfg(test)]
mod tests {
    use clap::{Args, FromArgMatches};

    use super::*;

    fn serve(argv: &[&str]) -> (ServeArgs, clap::ArgMatches) {
        let matches = ServeArgs::augment_args(clap::Command::new("serve"))
            .try_get_matches_from(argv)
            .unwrap();
        (ServeArgs::from_arg_matches(&matches).unwrap(), matches)
    }

    #[test]
    fn the_file_fills_what_flags_left_at_their_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("verbund.toml");
        std::fs::write(&file, "rate_limit = 3\nmax_body = 5\nsite = \"web\"\n").unwrap();
        let (mut args, matches) = serve(&["serve", "--rate-limit", "7"]);
        layer(&mut args, &matches, Some(&file)).unwrap();
        let t = toml::Table::try_from(&args).unwrap();
        assert_eq!(t["rate_limit"].as_integer(), Some(7), "the flag wins");
        assert_eq!(t["max_body"].as_integer(), Some(5), "the file fills in");
        assert_eq!(
            t["site"].as_str(),
            Some(dir.path().join("web").display().to_string().as_str()),
            "a path in the file is relative to the file"
        );
        assert_eq!(
            t["header_timeout"].as_integer(),
            Some(10),
            "the default stays"
        );
    }

    #[test]
    fn the_default_file_is_generated_from_the_flags_and_reads_back_as_the_defaults() {
        let text = default_config::<ServeArgs>().unwrap();
        let settings = settings::<ServeArgs>();
        for arg in &settings {
            let id = arg.get_id().as_str();
            assert!(
                text.contains(&format!("\n{id} = ")) || text.contains(&format!("\n#{id} = ")),
                "{id}"
            );
            if let Some(env) = arg.get_env() {
                assert!(text.contains(&*env.to_string_lossy()), "{id}");
            }
        }
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("verbund.toml");
        std::fs::write(&file, &text).unwrap();
        let from = from_file::<ServeArgs>(&file).unwrap();
        let mut want = toml::Table::try_from(defaults::<ServeArgs>().unwrap()).unwrap();
        want.insert(
            "data".into(),
            toml::Value::String(dir.path().join("verbund-data").display().to_string()),
        );
        assert_eq!(toml::Table::try_from(&from).unwrap(), want);
    }
}
