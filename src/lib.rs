//! alipay-pos: a point-of-sale terminal for Alipay and Alipay+ in-store payments.
//!
//! The crate is layered so that each layer only looks down:
//! `cli` (and later the GUI) sits on top; `ams` speaks Alipay's wire protocol and knows
//! nothing of storage or screens; `money` and `config` are the base everything shares.

pub mod admin;
pub mod ams;
pub mod checkout;
pub mod cli;
pub mod config;
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
