//! The integration tests: one test binary (linking the library, Slint included, once
//! instead of once per file), with one `support` module of shared helpers. Each module is
//! one area; run one with `cargo test --features failpoints --test it <module>::`.
//!
//! Tests that start a Slint backend run in a child process of their own (see
//! [`support::own_process`]): Slint allows one event-loop backend per process.

mod support;

mod cli;
mod client;
mod config_example;
mod day_close;
// SIGKILLs the real binary at failpoints, so it needs a build that has them.
#[cfg(feature = "failpoints")]
mod crash;
mod engine;
mod gui_cashier;
mod gui_cli;
mod gui_day_close;
mod gui_demo_mark;
mod gui_kiosk;
mod gui_kiosk_manager;
mod gui_manager;
mod gui_manager_products;
mod gui_manual_outcome;
mod gui_receipts;
mod gui_reconciliation;
mod gui_registration;
mod gui_scan;
mod gui_screens;
mod gui_unresolved;
mod hub;
mod journal;
mod kiosk_service;
mod layers;

mod logging;
mod properties;
mod receipts;
mod reconcile;
mod reconcile_e2e;
mod registration;
mod sandbox_api;
mod sandbox_cli;
mod sandbox_lan;
mod sandbox_reports;
// Opens real paths as scanner devices; evdev exists on Linux only.
#[cfg(target_os = "linux")]
mod scanner;
mod sftp;
mod soak;
mod user_presented;
mod wallet_browser;
