//! alipay-pos: a point-of-sale terminal for Alipay and Alipay+ in-store payments.
//!
//! The crate is layered so that each layer only looks down:
//! `cli` and `gui` sit on top; `ams` speaks Alipay's wire protocol and knows nothing of
//! storage or screens; `money` and `config` are the base everything shares.
//!
//! `gui` (Slint) exists only with the default cargo feature `gui`; nothing below it may
//! depend on it, so `--no-default-features` builds the command line, the sandbox and the
//! engine without Slint.

pub mod admin;
pub mod ams;
pub mod checkout;
pub mod cli;
pub mod config;
pub mod failpoint;
#[cfg(feature = "gui")]
pub mod gui;
pub mod hub;
pub mod hub_link;
pub mod journal;
pub mod local_time;
pub mod locale;
pub mod logging;
pub mod money;
pub mod private_fs;
pub mod receipt;
pub mod reconcile;
pub mod request_ids;
pub mod sandbox;
pub mod scanner;
pub mod service_manager;
pub mod terminal;
#[cfg(any(test, feature = "test-support"))]
pub mod testing;
