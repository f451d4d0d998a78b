//! The terminal's read-only client of the hub's store API: the whole store's transactions
//! (every terminal), one store payment's detail, and the day's totals, for the manager
//! screen's "Whole store" view.
//!
//! Same rules as the rest of the link: the terminal's own token as a bearer, `hub.url` as
//! the base, rustls with certificate checks on, and no redirects (the token must never
//! follow one to another host). It only reads; nothing here changes the hub.

use std::time::Duration;

use url::Url;

use super::HubToken;
use crate::hub::wire::{self, Refused};
pub use crate::hub::wire::{
    StorePaymentDetail, StoreRefund, StoreTotals, StoreTransaction, StoreTransactionsQuery,
};

/// A manager waits for this screen: an answer later than this is "unreachable".
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Why a store read did not give an answer; each one calls for a different next step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreError {
    /// The hub cannot be reached (down, network, timeout): try again later.
    Unreachable(String),
    /// The hub refused the token (unknown or revoked): enrol the terminal again.
    Refused(String),
    /// The hub answered, but not with the view (a bad filter, no such payment, its
    /// database down): the hub's own words.
    Failed(String),
}

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoreError::Unreachable(why) | StoreError::Refused(why) | StoreError::Failed(why) => {
                f.write_str(why)
            }
        }
    }
}

/// A journal payment as the hub's store view lists it, for the screenshots' demo store
/// (the real rows come from the hub).
pub fn demo_transaction(
    terminal: &str,
    store_id: &str,
    payment: crate::journal::PaymentRecord,
    refunded_minor: u64,
) -> StoreTransaction {
    let remaining = if payment.state == crate::journal::PaymentState::Paid {
        payment.amount.minor().saturating_sub(refunded_minor)
    } else {
        0
    };
    StoreTransaction {
        terminal: terminal.to_owned(),
        store_id: store_id.to_owned(),
        refunded: String::new(),
        refunded_minor,
        refunded_count: u64::from(refunded_minor > 0),
        in_flight_minor: 0,
        remaining_minor: remaining,
        payment: super::shipper::payment_wire(payment),
    }
}

/// Reads the store's views at the hub with this terminal's token. Cheap to clone.
#[derive(Clone)]
pub struct StoreClient {
    http: reqwest::Client,
    url: Url,
    token: HubToken,
}

impl StoreClient {
    pub fn new(url: Url, token: HubToken) -> Result<StoreClient, String> {
        let http = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(REQUEST_TIMEOUT)
            .user_agent(concat!("alipay-pos/", env!("CARGO_PKG_VERSION")))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| format!("cannot set up the hub's HTTP client: {e}"))?;
        Ok(StoreClient { http, url, token })
    }

    fn endpoint(&self, path: &str) -> Result<Url, StoreError> {
        let base = self.url.as_str().trim_end_matches('/');
        Url::parse(&format!("{base}{path}"))
            .map_err(|e| StoreError::Failed(format!("hub.url: {e}")))
    }

    /// The store's transactions matching `query`, newest first.
    pub async fn transactions(
        &self,
        query: &StoreTransactionsQuery,
    ) -> Result<Vec<StoreTransaction>, StoreError> {
        let mut url = self.endpoint(wire::STORE_TRANSACTIONS_PATH)?;
        {
            let mut pairs = url.query_pairs_mut();
            let fields = [
                ("date", &query.date),
                ("state", &query.state),
                ("product", &query.product),
                ("amount", &query.amount),
                ("currency", &query.currency),
                ("requestId", &query.request_id),
            ];
            for (name, value) in fields {
                if let Some(value) = value {
                    pairs.append_pair(name, value);
                }
            }
            if let Some(limit) = query.limit {
                pairs.append_pair("limit", &limit.to_string());
            }
        }
        self.get(url).await
    }

    /// One payment of the store (our `paymentRequestId` or Alipay's `paymentId`), with
    /// every terminal's refunds of it and the history.
    pub async fn payment(&self, id: &str) -> Result<StorePaymentDetail, StoreError> {
        let mut url = self.endpoint("/hub/v1/store/payments/")?;
        // As a path segment, so an id can never change the path.
        url.path_segments_mut()
            .map_err(|()| StoreError::Failed("hub.url cannot take a path".into()))?
            .pop_if_empty()
            .push(id);
        self.get(url).await
    }

    /// The store's totals of a local day (`YYYY-MM-DD`), one row per currency.
    pub async fn totals(&self, date: &str) -> Result<Vec<StoreTotals>, StoreError> {
        let mut url = self.endpoint(wire::STORE_TOTALS_PATH)?;
        url.query_pairs_mut().append_pair("date", date);
        self.get(url).await
    }

    async fn get<T: serde::de::DeserializeOwned>(&self, url: Url) -> Result<T, StoreError> {
        let response = self
            .http
            .get(url)
            .bearer_auth(&self.token.0)
            .send()
            .await
            .map_err(|e| {
                StoreError::Unreachable(format!("the store hub cannot be reached ({e})"))
            })?;
        let status = response.status();
        let text = response.text().await.map_err(|e| {
            StoreError::Unreachable(format!("the store hub's answer broke off ({e})"))
        })?;
        if status.is_success() {
            return serde_json::from_str(&text).map_err(|e| {
                StoreError::Failed(format!("the store hub's answer is not a store view: {e}"))
            });
        }
        let reason = serde_json::from_str::<Refused>(&text)
            .map(|refused| refused.error)
            .unwrap_or(text);
        let reason = format!("HTTP {}: {reason}", status.as_u16());
        if status == reqwest::StatusCode::UNAUTHORIZED || status == reqwest::StatusCode::FORBIDDEN {
            Err(StoreError::Refused(reason))
        } else {
            Err(StoreError::Failed(reason))
        }
    }
}
