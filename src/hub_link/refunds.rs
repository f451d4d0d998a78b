//! The store hub's refund reservations, as the engine's [`RefundGate`]: before a refund is
//! journaled and sent, the hub reserves its amount against the chain's copy of the payment
//! (`hub::refund_reservations`), so two counters cannot refund the same money.
//!
//! A hub that cannot be asked refuses the refund (never guessed): a refund can wait, an
//! over-refund cannot be taken back.

use std::time::{Duration, Instant};

use url::Url;

use super::HubToken;
use crate::checkout::refund_gate::{GateFuture, RefundGate, RefundToReserve};
use crate::hub::wire::{self, ReserveRefund};

/// How long a reservation waits for a payment the hub does not have yet, or has only as
/// not paid yet: one paid moments ago reaches the hub with its shipper's next batch (every
/// 0.5 s).
const NOT_REPLICATED_PATIENCE: Duration = Duration::from_secs(10);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// Reserves refunds at the store hub with the terminal's token.
pub struct HubRefundGate {
    http: reqwest::Client,
    url: Url,
    token: HubToken,
}

impl HubRefundGate {
    pub fn new(url: Url, token: HubToken) -> Result<HubRefundGate, String> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(REQUEST_TIMEOUT)
            .user_agent(concat!("alipay-pos/", env!("CARGO_PKG_VERSION")))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| format!("cannot set up the hub's HTTP client: {e}"))?;
        Ok(HubRefundGate { http, url, token })
    }

    fn endpoint(&self, path: &str) -> Result<Url, String> {
        let base = self.url.as_str().trim_end_matches('/');
        Url::parse(&format!("{base}{path}")).map_err(|e| format!("hub.url: {e}"))
    }

    async fn reserve_now(&self, refund: &RefundToReserve) -> Result<(), String> {
        let body = serde_json::to_vec(&ReserveRefund {
            payment_request_id: refund.payment_request_id.clone(),
            refund_request_id: refund.refund_request_id.clone(),
            amount_minor: refund.amount.minor(),
            currency: refund.amount.currency().code().to_owned(),
        })
        .map_err(|e| format!("cannot encode the reservation: {e}"))?;
        let url = self.endpoint(wire::REFUND_RESERVE_PATH)?;
        let started = Instant::now();
        loop {
            let response = self
                .http
                .post(url.clone())
                .bearer_auth(&self.token.0)
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body.clone())
                .send()
                .await
                .map_err(|e| format!("the store hub cannot be reached ({e})"))?;
            let status = response.status();
            if status.is_success() {
                tracing::info!(refund = %refund.refund_request_id, "refund reserved at the store hub");
                return Ok(());
            }
            let text = response.text().await.unwrap_or_default();
            let (reason, not_yet) = match serde_json::from_str::<wire::ReservationRefused>(&text) {
                Ok(refused) => (refused.error, refused.not_yet),
                Err(_) => (text, false),
            };
            // The hub has not got the payment (or its paid state) from its terminal yet:
            // that comes with the terminal's next batch.
            if not_yet && started.elapsed() < NOT_REPLICATED_PATIENCE {
                tokio::time::sleep(Duration::from_millis(250)).await;
                continue;
            }
            tracing::warn!(refund = %refund.refund_request_id, status = status.as_u16(), %reason, "the store hub did not reserve a refund");
            return Err(reason);
        }
    }
}

impl RefundGate for HubRefundGate {
    fn reserve(&self, refund: RefundToReserve) -> GateFuture<'_, Result<(), String>> {
        Box::pin(async move { self.reserve_now(&refund).await })
    }

    fn release(&self, refund_request_id: String) -> GateFuture<'_, ()> {
        Box::pin(async move {
            let url = match self.endpoint(&wire::refund_release_path(&refund_request_id)) {
                Ok(url) => url,
                Err(error) => {
                    tracing::warn!(%error, "cannot release a refund reservation");
                    return;
                }
            };
            let sent = self.http.post(url).bearer_auth(&self.token.0).send().await;
            match sent {
                Ok(response) if response.status().is_success() => {
                    tracing::info!(refund = %refund_request_id, "refund reservation released")
                }
                Ok(response) => tracing::warn!(
                    refund = %refund_request_id,
                    status = response.status().as_u16(),
                    "the store hub did not release a refund reservation; its amount stays reserved"
                ),
                Err(error) => tracing::warn!(
                    refund = %refund_request_id,
                    %error,
                    "cannot release a refund reservation; its amount stays reserved"
                ),
            }
        })
    }
}
