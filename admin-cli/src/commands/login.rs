//! `verbund login`: check a token against a server and save it as a profile.

use crate::client::{Client, Profile, load_profiles, save_profiles};
use crate::exit;

#[derive(Debug, clap::Args)]
pub struct LoginArgs {
    /// The server, e.g. http://127.0.0.1:8080.
    #[arg(long, env = "VERBUND_URL")]
    url: String,
    /// The API token (it is stored in the profile file, readable only by you, and never printed).
    #[arg(long, env = "VERBUND_TOKEN", hide_env_values = true)]
    token: String,
    /// The profile name.
    #[arg(long, default_value = "default")]
    profile: String,
}

pub fn run(args: LoginArgs) -> anyhow::Result<u8> {
    let client = Client::new(&args.url, &args.token)?;
    let me = client.get("/api/v1/auth/whoami")?;
    let mut profiles = load_profiles()?;
    profiles.insert(
        args.profile.clone(),
        Profile {
            url: client.url.clone(),
            token: args.token,
        },
    );
    let path = save_profiles(&profiles)?;
    println!(
        "logged in to {} as {}{} (token {}); saved as profile {:?} in {}",
        client.url,
        me["data"]["name"]
            .as_str()
            .map(|n| format!("{n}, "))
            .unwrap_or_default(),
        me["data"]["role"].as_str().unwrap_or("?"),
        me["data"]["token_id"].as_str().unwrap_or("?"),
        args.profile,
        path.display()
    );
    Ok(exit::OK)
}
