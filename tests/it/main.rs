//! The integration tests: one test binary (linking the library, Slint included, once
//! instead of once per file), with one `support` module of shared helpers. Each module is
//! one area; run one with `cargo test --features failpoints --test it <module>::`.
//!
//! Tests that start a Slint backend run in a child process of their own (see
//! [`support::own_process`]): Slint allows one event-loop backend per process.
//!
//! The `gui_*` modules (and the GUI parts of `crash`) need the default `gui` feature;
//! without it the rest still builds and runs, against a binary that has no GUI.

mod support;

mod cli;
mod client;
mod config_example;
mod day_close;
// SIGKILLs the real binary at failpoints, so it needs a build that has them.
#[cfg(feature = "failpoints")]
mod crash;
mod engine;
#[cfg(feature = "gui")]
mod gui_cashier;
#[cfg(feature = "gui")]
mod gui_cli;
#[cfg(feature = "gui")]
mod gui_day_close;
#[cfg(feature = "gui")]
mod gui_demo_mark;
#[cfg(feature = "gui")]
mod gui_hub_link;
#[cfg(feature = "gui")]
mod gui_kiosk;
#[cfg(feature = "gui")]
mod gui_kiosk_manager;
#[cfg(feature = "gui")]
mod gui_manager;
#[cfg(feature = "gui")]
mod gui_manager_products;
#[cfg(feature = "gui")]
mod gui_manual_outcome;
#[cfg(feature = "gui")]
mod gui_receipts;
#[cfg(feature = "gui")]
mod gui_reconciliation;
#[cfg(feature = "gui")]
mod gui_registration;
#[cfg(feature = "gui")]
mod gui_scan;
#[cfg(feature = "gui")]
mod gui_screens;
#[cfg(feature = "gui")]
mod gui_store_view;
#[cfg(feature = "gui")]
mod gui_unresolved;
mod hub;
mod hub_entry_code;
mod hub_faults;
mod hub_replication;
mod journal;
#[cfg(feature = "gui")]
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
