//! Alipay's global in-store API (AMS): signing, wire models and a verified client.
//!
//! Nothing in here knows about the journal, the checkout workflow or the screens, so the
//! sandbox (Alipay's side) and the terminal (the merchant's side) can share it.

pub mod client;
pub mod crypto;
pub mod diagnose;
pub mod keys;
pub mod models;
pub mod notification;
pub mod signing;
pub mod skew;
pub mod timefmt;
