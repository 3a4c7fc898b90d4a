//! `serve` and `preview`: the collector and the live preview, each on 127.0.0.1 unless
//! told otherwise.

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::Path;
use std::process::ExitCode;

use anyhow::Context as _;

use canvass::token::{Key, TokenError};

use super::Global;

#[derive(Debug, clap::Args)]
pub struct PreviewArgs {
    /// The port (0 picks a free one).
    #[arg(long, default_value_t = 7878)]
    port: u16,
}

#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// The address to listen on; port 0 picks a free port. The first line printed is
    /// the address bound.
    #[arg(long, default_value = "127.0.0.1:8080")]
    bind: SocketAddr,
    /// A reverse proxy (address or CIDR range, repeatable) whose X-Forwarded-For names
    /// the client, for the open link's per-client limit.
    #[arg(long, value_name = "ADDRESS", value_parser = address_range)]
    trust_proxy: Vec<ipnet::IpNet>,
    #[command(flatten)]
    retry: super::alerts::AlertRetry,
}

/// An address (`127.0.0.1`, `::1`) or a CIDR range (`10.0.0.0/8`).
fn address_range(text: &str) -> Result<ipnet::IpNet, String> {
    text.parse::<ipnet::IpNet>()
        .or_else(|_| text.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
        .map_err(|_| format!("`{text}` is neither an IP address nor a CIDR range"))
}

pub fn preview(global: &Global, args: PreviewArgs) -> anyhow::Result<ExitCode> {
    let root = global.root()?;
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async {
        let preview = canvass::preview::Preview::bind(&root, args.port).await?;
        let addr = preview.addr()?;
        println!("preview at http://{addr}/ (Ctrl-C stops it)");
        preview.run().await?;
        anyhow::Ok(())
    })?;
    Ok(ExitCode::SUCCESS)
}

/// Runs the collector until interrupted; answers are committed before each reply, so
/// stopping at any moment loses nothing that was acknowledged.
pub fn serve(global: &Global, args: ServeArgs) -> anyhow::Result<ExitCode> {
    let root = global.root()?;
    let previous_key = match std::env::var(canvass::privacy::PREVIOUS_KEY_ENV) {
        Ok(text) => Some(Key::from_base64(&text).context(canvass::privacy::PREVIOUS_KEY_ENV)?),
        Err(_) => None,
    };
    let options = canvass::serve::ServeOptions {
        trusted_proxies: args.trust_proxy,
        previous_key,
        alert_retry: args.retry.policy(),
        ..Default::default()
    };
    let bind = args.bind;
    let app = canvass::serve::App::open(&root, serving_key(&root, bind)?, options)?;
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(bind)
            .await
            .with_context(|| format!("cannot listen on {bind}"))?;
        println!("listening on http://{}", listener.local_addr()?);
        let _ = std::io::stdout().flush();
        tokio::select! {
            result = app.run(listener) => result?,
            _ = tokio::signal::ctrl_c() => {}
        }
        anyhow::Ok(())
    })?;
    Ok(ExitCode::SUCCESS)
}

/// `CANVASS_KEY`, or on a loopback address without it the development key that signs the
/// outbox's links, so that a local trial answers its own test e-mails.
fn serving_key(root: &Path, bind: SocketAddr) -> anyhow::Result<Key> {
    match Key::from_env() {
        Err(TokenError::NoKey) if bind.ip().is_loopback() => {
            let state = root.join(canvass::workspace::STATE_DIR);
            let (key, _) =
                Key::from_env_or_dev(&state).context("cannot read the development key")?;
            eprintln!(
                "warning: CANVASS_KEY is not set, so {bind} serves with the development key \
                 that signs the outbox's links; set CANVASS_KEY before serving anyone else"
            );
            Ok(key)
        }
        result => Ok(result?),
    }
}
