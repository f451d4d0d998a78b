//! Entry Code, hosted by the hub: the customer scans the store's static code, their
//! wallet opens `<public_url>/entry/<store>[/<counter>]`, the hub calls `pay` with
//! `EntryCode` and sends the wallet on to Alipay's cashier (`redirectActionForm`).
//!
//! The hub is the merchant server of this product, so it journals these payments itself,
//! in PostgreSQL, with a terminal's guarantees: the `paymentRequestId` is committed before
//! `pay` is sent (`store`), an unknown outcome is settled by `inquiryPayment` and, past the
//! payment's expiry, `cancel` (`resolver`), only a verified `S` with `paymentStatus`
//! `SUCCESS` counts as paid, and a restarted hub resumes every payment left open. The
//! finished result reaches the counter's terminal over its event stream.
//!
//! Pieces: `store` (the tables), `resolver` (pay, inquire, cancel), `page` (the HTML the
//! wallet shows, English and Chinese, no JavaScript), `routes` (the endpoints and their
//! tower layers: per-IP rate limit, body size, timeout, concurrency).

pub mod page;
pub mod printable;
pub mod resolver;
pub mod routes;
pub mod store;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use deadpool_postgres::Pool;
use tokio::sync::{Notify, watch};
use url::Url;

use crate::ams::client::AmsClient;

/// `paymentExpiryTime` of an Entry Code payment: the customer has this long in the wallet
/// (other-products.md: the contract's default, "3 minutes" on the product page).
pub const DEFAULT_PAYMENT_EXPIRY: Duration = Duration::from_secs(180);
/// How often an open payment is queried when no notification woke it (flows.md: every
/// 3-5 s for Entry Code's in-process answers).
pub const DEFAULT_POLL_INTERVAL: Duration = Duration::from_secs(5);

/// The per-IP rate limit of the public page: a burst, then one request per `replenish`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    pub burst: u32,
    pub replenish: Duration,
}

/// A wallet opens the page, posts the amount and follows one redirect: a few requests a
/// customer. 20 at once, then one every 500 ms, is far above that and far below a flood.
pub const DEFAULT_RATE_LIMIT: RateLimit = RateLimit {
    burst: 20,
    replenish: Duration::from_millis(500),
};

/// The merchant every Entry Code `pay` names (the hub config's `[merchant]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryMerchant {
    pub reference_merchant_id: String,
    pub name: String,
    pub mcc: String,
}

/// What the hub needs to take Entry Code payments.
#[derive(Debug, Clone)]
pub struct EntryCodeSettings {
    /// The verified AMS client (a live gateway, or the embedded sandbox in a demo).
    pub client: AmsClient,
    pub merchant: EntryMerchant,
    /// `hub.public_url`: the pages' base, and `paymentNotifyUrl` is
    /// `<public_url>/alipay/notify`.
    pub public_url: Url,
    pub payment_expiry: Duration,
    pub poll_interval: Duration,
    pub rate_limit: RateLimit,
}

impl EntryCodeSettings {
    pub fn new(client: AmsClient, merchant: EntryMerchant, public_url: Url) -> Self {
        EntryCodeSettings {
            client,
            merchant,
            public_url,
            payment_expiry: DEFAULT_PAYMENT_EXPIRY,
            poll_interval: DEFAULT_POLL_INTERVAL,
            rate_limit: DEFAULT_RATE_LIMIT,
        }
    }

    /// `<public_url>/alipay/notify`, where Alipay posts these payments' results.
    pub fn notify_url(&self) -> String {
        format!(
            "{}{}",
            self.public_url.as_str().trim_end_matches('/'),
            crate::config::HUB_NOTIFY_PATH
        )
    }
}

/// The running Entry Code side of a hub: settings, the pool, and the wake-ups.
pub struct EntryCodeHub {
    pub(crate) settings: EntryCodeSettings,
    pub(crate) pool: Pool,
    /// One per open payment: a notification for it wakes its resolver at once.
    wakers: Mutex<HashMap<String, Arc<Notify>>>,
    /// Bumped when a payment finishes: wakes the terminals' streams.
    pub(crate) finished: watch::Sender<u64>,
    /// Set when the hub stops: resolvers end (a restarted hub resumes them).
    pub(crate) closing: watch::Receiver<bool>,
}

impl EntryCodeHub {
    pub(crate) fn new(
        settings: EntryCodeSettings,
        pool: Pool,
        closing: watch::Receiver<bool>,
    ) -> Arc<Self> {
        Arc::new(EntryCodeHub {
            settings,
            pool,
            wakers: Mutex::new(HashMap::new()),
            finished: watch::Sender::new(0),
            closing,
        })
    }

    /// The wake-up of `payment_request_id`'s resolver, made on first use.
    pub(crate) fn waker(&self, payment_request_id: &str) -> Arc<Notify> {
        let mut wakers = self
            .wakers
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        wakers
            .entry(payment_request_id.to_owned())
            .or_insert_with(|| Arc::new(Notify::new()))
            .clone()
    }

    pub(crate) fn forget(&self, payment_request_id: &str) {
        let mut wakers = self
            .wakers
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        wakers.remove(payment_request_id);
    }

    /// A verified notification names `payment_request_id`: if it is an open Entry Code
    /// payment, its resolver queries Alipay now (the notification itself decides nothing).
    pub fn wake(&self, payment_request_id: &str) {
        let waker = {
            let wakers = self
                .wakers
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            wakers.get(payment_request_id).cloned()
        };
        if let Some(waker) = waker {
            waker.notify_one();
        }
    }

    pub(crate) fn announce_finished(&self) {
        self.finished
            .send_modify(|count| *count = count.wrapping_add(1));
    }

    /// A receiver that changes whenever a payment finishes.
    pub fn watch_finished(&self) -> watch::Receiver<u64> {
        self.finished.subscribe()
    }
}

/// Whether `id` is of the shape the hub gives Entry Code payments (`EC-<seconds>-<random>`;
/// three parts, so `request_ids::tag_of` routes their notifications to no terminal).
pub fn is_entry_code_request_id(id: &str) -> bool {
    let mut parts = id.split('-');
    parts.next() == Some(ID_PREFIX)
        && parts
            .next()
            .is_some_and(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
        && parts.next().is_some_and(|r| !r.is_empty())
        && parts.next().is_none()
}

pub(crate) const ID_PREFIX: &str = "EC";

/// A new `paymentRequestId`: `EC-<unix seconds>-<16 random base32 characters>`.
pub(crate) fn new_request_id() -> Result<String, super::HubError> {
    let mut bytes = [0u8; 10];
    getrandom::fill(&mut bytes).map_err(|e| super::HubError::Random(e.to_string()))?;
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut random = String::with_capacity(16);
    let mut bits: u32 = 0;
    let mut held = 0;
    for byte in bytes {
        bits = (bits << 8) | u32::from(byte);
        held += 8;
        while held >= 5 {
            held -= 5;
            random.push(char::from(ALPHABET[((bits >> held) & 31) as usize]));
        }
    }
    let seconds = time::OffsetDateTime::now_utc().unix_timestamp();
    Ok(format!("{ID_PREFIX}-{seconds}-{random}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_code_ids_route_to_no_terminal() {
        let id = new_request_id().unwrap();
        assert!(is_entry_code_request_id(&id), "{id}");
        assert_eq!(crate::request_ids::tag_of(&id), None);
        assert!(id.len() <= 64);
        assert!(!is_entry_code_request_id("P-1-T01-ABC"));
        assert!(!is_entry_code_request_id("EC-x-ABC"));
    }
}
