//! The embedded Alipay sandbox: a simulator of Alipay's side of the in-store protocol.
//!
//! It exists so that the terminal, its payment engine and their tests can run the whole Order
//! Code flow (and the Entry Code and User-presented variants) without an Alipay contract, and
//! so that the failures a real network produces (`U` answers, timeouts, dropped responses,
//! lost notifications) can be produced on demand.
//!
//! Layering: the sandbox shares the wire types and the signing rules with [`crate::ams`], so a
//! disagreement between the two sides about a field name or a signed byte shows up in tests,
//! but it keeps its own ledger (SQLite) and never touches the terminal's journal or engine;
//! from the terminal's point of view it is just another Alipay gateway.
//!
//! Pieces, by concern:
//! * [`options`]: what can be configured, and the defaults.
//! * [`ledger`]: SQLite storage of payments, refunds, registrations and the notification
//!   outbox, plus the time-driven transitions (expiry, registration approval).
//! * `gateway`: HTTP, verification of requests, signing of answers, fault application.
//! * `payments`, `refunds`, `registrations`: the business rules of each API.
//! * `wallet`: the customer's phone page that "scans" an order code and pays it, or confirms
//!   or declines a User-presented payment.
//! * `payment_code`: the demo customer's payment codes (User-presented) and the payments
//!   waiting for their confirmation.
//! * `notifier`: signed `notifyPayment` / `notifyRegistrationStatus` with Alipay's resend
//!   schedule.
//! * [`faults`] and `control`: fault injection and the loopback-only control endpoint.
//! * [`reports`]: Alipay's daily reconciliation files (transactions, settlement items and
//!   summary) under `DATA_DIR/sftp/`, on demand and after each day's cut-off.
//! * [`embedded`]: the in-process form the app starts when `gateway = "sandbox"`.

pub mod embedded;
pub mod faults;
pub mod ledger;
pub mod options;
pub mod reports;

mod answer;
mod clock;
mod control;
mod gateway;
mod ids;
mod notifier;
mod payment_code;
mod payments;
mod refunds;
mod registrations;
mod server;
mod wallet;

pub use control::is_loopback_peer;
pub use gateway::parse_request;
pub use options::{ClientRegistration, SandboxOptions};
pub use payments::DECLINED_CODE;
pub use server::{RunningSandbox, start};
pub use wallet::WALLET_USER_AGENT;

use std::path::PathBuf;

/// File names the sandbox writes into its data directory.
pub const ALIPAY_PRIVATE_KEY_FILE: &str = "alipay_private_key.pem";
pub const ALIPAY_PUBLIC_KEY_FILE: &str = "alipay_public_key.pem";
pub const LEDGER_FILE: &str = "sandbox.sqlite";

/// Why the sandbox could not start (or a client registration could not be read). Each message
/// names the file or flag to fix.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    /// A rejected [`SandboxOptions`] value (a flag or a fault rule); the text says which.
    #[error("{0}")]
    Options(String),
    /// A key file in the sandbox folder whose partner file holds another key: someone may have
    /// uploaded that public key, so it is not silently replaced.
    #[error(
        "{} is not the public half of {}; remove the public file to have it written again",
        public.display(),
        private.display()
    )]
    KeyPairMismatch { public: PathBuf, private: PathBuf },
    /// A public key file whose private key is gone: generating a new pair would orphan it.
    #[error(
        "{} exists but {} does not; restore the private key or remove the public one",
        public.display(),
        private.display()
    )]
    PrivateKeyMissing { public: PathBuf, private: PathBuf },
    /// The OS gave no randomness for the control token.
    #[error("no random control token: {0}")]
    Random(#[source] getrandom::Error),
    /// The HTTP client notifications (and the demo customer) are sent with could not be built.
    #[error("cannot set up HTTP for notifications: {0}")]
    HttpClient(#[source] reqwest::Error),
    /// [`embedded::EmbeddedSandbox::pay_as_customer`] was given something that is not a URL,
    /// so it cannot be one of this sandbox's order codes.
    #[error("the order code {0:?} is not a sandbox wallet URL")]
    NotAWalletCode(String),
    /// The demo customer's request to the wallet page got no answer.
    #[error("the demo customer could not reach the wallet page: {0}")]
    Customer(#[source] reqwest::Error),
    /// The wallet page refused the demo payment (expired, cancelled, already paid, unknown).
    #[error("the sandbox wallet refused the demo payment (HTTP {status} {error}): {message}")]
    WalletRefused {
        status: u16,
        /// The wallet's code: `expired`, `cancelled`, `already_paid`, `not_found`, ...; or
        /// `not_waiting` (HTTP 404) when the demo customer does not find a User-presented
        /// payment on their payment-code page.
        error: String,
        message: String,
    },
    #[error("cannot use the data directory {path}: {reason}")]
    DataDir { path: PathBuf, reason: String },
    #[error(transparent)]
    Key(#[from] crate::ams::keys::KeyError),
    #[error(transparent)]
    Ledger(#[from] ledger::LedgerError),
    #[error("cannot listen on {addr}: {reason}")]
    Listen { addr: String, reason: String },
    #[error("sandbox start-up was interrupted: {0}")]
    Interrupted(String),
}
