//! `sendlens serve`: the campaign pages in a browser and Pinpoint's
//! analytics API, from the workspace.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::Context;
use sendlens_serve::{Credentials, Options};
use sendlens_store::Workspace;

#[derive(clap::Args)]
pub struct Args {
    /// Address to listen on. Off loopback, a token is required.
    #[arg(long, default_value = "127.0.0.1:8080", value_name = "HOST:PORT")]
    pub bind: SocketAddr,
    /// Token pages ask for (sign in with any user name and the token as
    /// password, or send `Authorization: Bearer TOKEN`).
    #[arg(
        long,
        env = "SENDLENS_AUTH_TOKEN",
        value_name = "TOKEN",
        hide_env_values = true
    )]
    pub auth_token: Option<String>,
    /// A file whose first line is the token (instead of --auth-token).
    #[arg(long, value_name = "FILE", conflicts_with = "auth_token")]
    pub auth_token_file: Option<PathBuf>,
    /// Access key id that Pinpoint API requests must be signed with (AWS
    /// Signature Version 4) when the server is off loopback.
    #[arg(
        long,
        env = "SENDLENS_API_ACCESS_KEY_ID",
        value_name = "ID",
        requires = "api_secret_access_key"
    )]
    pub api_access_key_id: Option<String>,
    /// Its secret access key.
    #[arg(
        long,
        env = "SENDLENS_API_SECRET_ACCESS_KEY",
        value_name = "SECRET",
        hide_env_values = true,
        requires = "api_access_key_id"
    )]
    pub api_secret_access_key: Option<String>,
}

pub fn run(workspace: &Path, args: Args) -> anyhow::Result<()> {
    let ws = Workspace::open(workspace)?;
    let auth_token = match &args.auth_token_file {
        Some(file) => Some(
            std::fs::read_to_string(file)
                .with_context(|| format!("cannot read the token file {}", file.display()))?
                .lines()
                .next()
                .unwrap_or_default()
                .trim()
                .to_string(),
        ),
        None => args.auth_token,
    };
    let api_key = match (args.api_access_key_id, args.api_secret_access_key) {
        (Some(access_key_id), Some(secret_access_key)) => Some(Credentials {
            access_key_id,
            secret_access_key,
        }),
        _ => None,
    };
    let options = Options {
        bind: args.bind,
        auth_token,
        api_key,
    };
    super::runtime()?.block_on(sendlens_serve::serve(ws, options))
}
