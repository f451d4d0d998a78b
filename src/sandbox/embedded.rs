//! The sandbox as the app runs it when its configuration says `gateway = "sandbox"`.
//!
//! A fresh install then works with no Alipay contract and no key handling: the sandbox lives
//! under `data_dir/sandbox/`, generates Alipay's key pair *and* the app's merchant key pair
//! there once, registers the merchant key under the configured client id, and listens on an
//! ephemeral loopback port. The app only needs what [`EmbeddedSandbox`] hands back to build
//! its verified [`AmsClient`].
//!
//! Files under `data_dir/sandbox/`: `alipay_private_key.pem` (0600), `alipay_public_key.pem`,
//! `merchant_private_key.pem` (0600), `merchant_public_key.pem`, `sandbox.sqlite`.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};

use rsa::{PrivateKey, PublicKey};
use url::Url;

use super::options::{ClientRegistration, SandboxOptions};
use super::server::{RunningSandbox, load_or_create_key_pair};
use super::{SandboxError, server};
use crate::ams::client::{AmsClient, ClientSettings, RequestError};

/// The folder under the app's data directory.
pub const SANDBOX_DIR: &str = "sandbox";
pub const MERCHANT_PRIVATE_KEY_FILE: &str = "merchant_private_key.pem";
pub const MERCHANT_PUBLIC_KEY_FILE: &str = "merchant_public_key.pem";

/// A running in-process sandbox and everything the app needs to talk to it.
#[derive(Debug)]
pub struct EmbeddedSandbox {
    running: RunningSandbox,
    client_id: String,
    merchant_private_key: PrivateKey,
    dir: PathBuf,
}

impl EmbeddedSandbox {
    /// `http://127.0.0.1:<port>`: the gateway base URL for [`ClientSettings`].
    pub fn base_url(&self) -> &Url {
        self.running.base_url()
    }

    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    /// Where this computer reaches the sandbox. A sandbox listening on every network
    /// (`0.0.0.0` or `[::]`, see the terminal's `[sandbox] listen`) is called on loopback
    /// instead: the unspecified address is one to listen on, not to connect to (Windows
    /// refuses it).
    pub fn local_url(&self) -> Url {
        let bound = self.running.local_addr();
        if !bound.ip().is_unspecified() {
            return self.base_url().clone();
        }
        let loopback = if bound.is_ipv4() {
            IpAddr::from(Ipv4Addr::LOCALHOST)
        } else {
            IpAddr::from(Ipv6Addr::LOCALHOST)
        };
        let local = SocketAddr::new(loopback, bound.port());
        Url::parse(&format!("http://{local}")).unwrap_or_else(|_| self.base_url().clone())
    }

    /// Where a simulated customer pays `code_value` (an order code this sandbox issued): the
    /// code's wallet page on the sandbox's own local address. The codes carry the public URL
    /// (a LAN address, a port forward), which the terminal itself may not be able to reach.
    pub fn wallet_pay_url(&self, code_value: &str) -> Option<Url> {
        let code = Url::parse(code_value).ok()?;
        let mut url = self.local_url();
        url.set_path(&format!("{}/pay", code.path().trim_end_matches('/')));
        Some(url)
    }

    /// The app's merchant key, registered with the sandbox under [`Self::client_id`].
    pub fn merchant_private_key(&self) -> &PrivateKey {
        &self.merchant_private_key
    }

    /// The sandbox's "Alipay" public key, to verify answers and notifications with.
    pub fn alipay_public_key(&self) -> &PublicKey {
        self.running.alipay_public_key()
    }

    /// `data_dir/sandbox`.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Client settings pointing at this sandbox (the path prefix follows the client id, as
    /// for a real gateway; the sandbox serves both prefixes).
    pub fn client_settings(&self) -> ClientSettings {
        ClientSettings::new(self.base_url().clone(), self.client_id.clone())
    }

    /// A verified client for this sandbox.
    pub fn client(&self) -> Result<AmsClient, RequestError> {
        AmsClient::new(
            self.client_settings(),
            self.merchant_private_key.clone(),
            self.alipay_public_key().clone(),
        )
    }

    /// The running sandbox (addresses, extra client registrations).
    pub fn sandbox(&self) -> &RunningSandbox {
        &self.running
    }

    /// Stops the sandbox and waits until its ledger file is released.
    pub async fn shutdown(self) {
        self.running.shutdown().await;
    }
}

/// Starts the embedded sandbox with the default rules (see [`SandboxOptions::new`]).
pub async fn start(data_dir: &Path, client_id: &str) -> Result<EmbeddedSandbox, SandboxError> {
    start_with(data_dir, client_id, |_| {}).await
}

/// Like [`start`], with a chance to adjust the options first (windows, faults, time scale).
/// The data directory is always `data_dir/sandbox` and the app's merchant key is always
/// registered; the listen address defaults to `127.0.0.1:0`.
pub async fn start_with(
    data_dir: &Path,
    client_id: &str,
    adjust: impl FnOnce(&mut SandboxOptions),
) -> Result<EmbeddedSandbox, SandboxError> {
    let dir = data_dir.join(SANDBOX_DIR);
    let mut options = SandboxOptions::new(&dir);
    options.listen = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
    adjust(&mut options);
    options.data_dir = dir.clone();

    let key_dir = dir.clone();
    let merchant_private_key = tokio::task::spawn_blocking(move || {
        std::fs::create_dir_all(&key_dir).map_err(|e| SandboxError::DataDir {
            path: key_dir.clone(),
            reason: e.to_string(),
        })?;
        load_or_create_key_pair(
            &key_dir,
            MERCHANT_PRIVATE_KEY_FILE,
            MERCHANT_PUBLIC_KEY_FILE,
        )
    })
    .await
    .map_err(|e| SandboxError::Interrupted(e.to_string()))??;
    options.clients.retain(|c| c.client_id != client_id);
    options.clients.push(ClientRegistration {
        client_id: client_id.to_owned(),
        merchant_public_key: merchant_private_key.to_public_key(),
    });
    let running = server::start(options).await?;
    Ok(EmbeddedSandbox {
        running,
        client_id: client_id.to_owned(),
        merchant_private_key,
        dir,
    })
}
