//! The sandbox as the app runs it when its configuration says `gateway = "sandbox"`.
//!
//! A fresh install then works with no Alipay contract and no key handling: the sandbox lives
//! under `data_dir/sandbox/`, generates Alipay's key pair *and* the app's merchant key pair
//! there once, registers the merchant key under the configured client id, and listens on an
//! ephemeral loopback port. The app only needs what [`EmbeddedSandbox`] hands back to build
//! its verified [`AmsClient`].
//!
//! Files under `data_dir/sandbox/`: `alipay_private_key.pem` (0600), `alipay_public_key.pem`,
//! `merchant_private_key.pem` (0600), `merchant_public_key.pem`, `sandbox.sqlite`, and the
//! reconciliation reports under `sftp/`.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use url::Url;

use super::options::{ClientRegistration, SandboxOptions};
use super::server::{RunningSandbox, load_or_create_key_pair};
use super::{SandboxError, server};
use crate::ams::client::{AmsClient, ClientSettings, RequestError};
use crate::ams::crypto::{PrivateKey, PublicKey};

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
        wallet_pay_url(&self.local_url(), code_value)
    }

    /// Demo only: the customer scans `code_value` (an order code this sandbox issued) and
    /// taps Pay on the wallet page. The faces' "simulate the customer" buttons and flags call
    /// this, so the demo pays the way a phone does (the same page, the same rules: an expired
    /// or cancelled code is refused), and the result reaches the terminal the usual way, as a
    /// notification or an inquiry answer. `Ok` means the wallet accepted the payment.
    pub async fn pay_as_customer(&self, code_value: &str) -> Result<(), SandboxError> {
        self.demo_customer().pay(code_value).await
    }

    /// The demo customer's payment-code page (`/wallet/payment-code` on the sandbox's local
    /// address): their four codes (pays at once, needs confirmation, balance too low,
    /// expired) and the User-presented payments waiting for their confirmation. With
    /// `Accept: application/json` the same as JSON (see the README, "The customer wallet").
    pub fn payment_code_page_url(&self) -> Url {
        payment_code_url(&self.local_url())
    }

    /// Demo only: the customer confirms the User-presented payment `payment_request_id` (a
    /// `pay` with a code ending in 1111, answered `U PAYMENT_IN_PROCESS`) the way a phone
    /// does: finds it on their payment-code page and taps Confirm on its wallet page. `Ok`
    /// means the wallet took the payment; the terminal learns it as usual (notification or
    /// inquiry). A payment that is not on the page (unknown, already answered, expired, not
    /// User-presented) is [`SandboxError::WalletRefused`] with `error` `not_waiting`.
    pub async fn confirm_as_customer(&self, payment_request_id: &str) -> Result<(), SandboxError> {
        self.demo_customer().confirm(payment_request_id).await
    }

    /// Demo only: like [`Self::confirm_as_customer`], but the customer taps Decline: the
    /// payment becomes `FAIL` with [`super::DECLINED_CODE`] (no notification; the terminal
    /// learns it from `inquiryPayment`).
    pub async fn decline_as_customer(&self, payment_request_id: &str) -> Result<(), SandboxError> {
        self.demo_customer().decline(payment_request_id).await
    }

    /// The demo customer as a value of its own, for a face that pays later from a task of its
    /// own (after a delay, say) without holding on to the sandbox.
    pub fn demo_customer(&self) -> DemoCustomer {
        DemoCustomer {
            http: self.running.http().clone(),
            local_url: self.local_url(),
        }
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

    /// `data_dir/sandbox/sftp`: the folder an SFTP server serves Alipay's reconciliation
    /// reports from (`v1/settlements/<customerId>/<date>/...`, see [`super::reports`]).
    pub fn reports_root(&self) -> PathBuf {
        self.running.reports_root()
    }

    /// Alipay's id for this merchant (`customerId`, the folder under `v1/settlements/`),
    /// derived from the client id by [`super::reports::customer_id`].
    pub fn customer_id(&self) -> String {
        super::reports::customer_id(&self.client_id)
    }

    /// Publishes the reports of the Alipay day `date` (`yyyyMMdd`, GMT+8) now and returns the
    /// files written; the sandbox also does it by itself once a day's cut-off has passed. A
    /// malformed date, or a day the sandbox clock has not finished, is refused.
    pub async fn publish_reports(&self, date: &str) -> Result<Vec<PathBuf>, SandboxError> {
        self.running.publish_reports(date).await
    }

    /// `data_dir/sandbox/sandbox.sqlite`: the sandbox's ledger, which the reports are made
    /// from. A test may change it (with the sandbox's SQLite schema) to make the reports
    /// disagree with the terminal's journal; [`super::reports::collect`] names the columns
    /// the reports read.
    pub fn ledger_path(&self) -> PathBuf {
        self.running.ledger_path()
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

/// The code's wallet page plus `/pay`, on `local` (the sandbox's own address).
fn wallet_pay_url(local: &Url, code_value: &str) -> Option<Url> {
    let code = Url::parse(code_value).ok()?;
    let mut url = local.clone();
    url.set_path(&format!("{}/pay", code.path().trim_end_matches('/')));
    Some(url)
}

/// The demo customer's refusal code for a payment missing from their payment-code page.
pub const NOT_WAITING: &str = "not_waiting";

/// `/wallet/payment-code` on `local` (see `payment_code`).
fn payment_code_url(local: &Url) -> Url {
    let mut url = local.clone();
    url.set_path("/wallet/payment-code");
    url
}

/// How long the demo customer waits for the wallet page to answer; it is on loopback, so
/// only a stopped sandbox takes this long.
const CUSTOMER_TIMEOUT: Duration = Duration::from_secs(15);

/// A simulated customer of one embedded sandbox (see [`EmbeddedSandbox::pay_as_customer`]).
/// It reuses the sandbox's own HTTP client, which speaks plain HTTP: the wallet page is on
/// loopback, so nothing here needs TLS or the system's certificates.
#[derive(Debug, Clone)]
pub struct DemoCustomer {
    http: reqwest::Client,
    local_url: Url,
}

impl DemoCustomer {
    /// Pays `code_value` through its wallet page, as [`EmbeddedSandbox::pay_as_customer`].
    pub async fn pay(&self, code_value: &str) -> Result<(), SandboxError> {
        let url = wallet_pay_url(&self.local_url, code_value)
            .ok_or_else(|| SandboxError::NotAWalletCode(code_value.to_owned()))?;
        self.post(url).await
    }

    /// Confirms a User-presented payment, as [`EmbeddedSandbox::confirm_as_customer`].
    pub async fn confirm(&self, payment_request_id: &str) -> Result<(), SandboxError> {
        self.answer(payment_request_id, "pay").await
    }

    /// Declines a User-presented payment, as [`EmbeddedSandbox::decline_as_customer`].
    pub async fn decline(&self, payment_request_id: &str) -> Result<(), SandboxError> {
        self.answer(payment_request_id, "decline").await
    }

    /// Opens the payment-code page (JSON form), finds the payment among those waiting and
    /// posts `button` (`pay` or `decline`) to its wallet page on the local address.
    async fn answer(&self, payment_request_id: &str, button: &str) -> Result<(), SandboxError> {
        let response = self
            .http
            .get(payment_code_url(&self.local_url))
            .header(reqwest::header::ACCEPT, "application/json")
            .timeout(CUSTOMER_TIMEOUT)
            .send()
            .await
            .map_err(SandboxError::Customer)?;
        let status = response.status();
        let body = response.text().await.map_err(SandboxError::Customer)?;
        let page: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
        if !status.is_success() {
            return Err(refused(status.as_u16(), &page));
        }
        let wallet = page["waiting"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|w| w["paymentRequestId"] == payment_request_id)
            .and_then(|w| w["walletUrl"].as_str())
            .and_then(|u| Url::parse(u).ok())
            .ok_or_else(|| SandboxError::WalletRefused {
                status: 404,
                error: NOT_WAITING.to_owned(),
                message: format!(
                    "The payment {payment_request_id} is not waiting for the customer's confirmation."
                ),
            })?;
        let mut url = self.local_url.clone();
        url.set_path(&format!("{}/{button}", wallet.path().trim_end_matches('/')));
        self.post(url).await
    }

    /// One tap on the wallet page, as a JSON client: `Ok` on 2xx, else the wallet's refusal.
    async fn post(&self, url: Url) -> Result<(), SandboxError> {
        let response = self
            .http
            .post(url)
            .header(reqwest::header::ACCEPT, "application/json")
            .timeout(CUSTOMER_TIMEOUT)
            .send()
            .await
            .map_err(SandboxError::Customer)?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        // The wallet's JSON refusal (see `wallet`): `{"error": ..., "message": ...}`.
        let body = response.text().await.unwrap_or_default();
        let refusal: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
        Err(refused(status.as_u16(), &refusal))
    }
}

/// The wallet's JSON refusal (`{"error": ..., "message": ...}`) as an error.
fn refused(status: u16, refusal: &serde_json::Value) -> SandboxError {
    let field = |name: &str| {
        refusal
            .get(name)
            .and_then(serde_json::Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    SandboxError::WalletRefused {
        status,
        error: field("error"),
        message: field("message"),
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
        merchant_public_key: merchant_private_key.public_key(),
    });
    let running = server::start(options).await?;
    Ok(EmbeddedSandbox {
        running,
        client_id: client_id.to_owned(),
        merchant_private_key,
        dir,
    })
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;
    use crate::ams::client::Outcome;
    use crate::ams::models::{Amount, InquiryPaymentRequest, Order, PayRequest, PaymentStatus};

    fn order(value: u64) -> Order {
        serde_json::from_value(json!({
            "referenceOrderId": "ORDER-1",
            "orderDescription": "Flat white",
            "orderAmount": {"currency": "USD", "value": value.to_string()},
            "merchant": {
                "referenceMerchantId": "M0001",
                "merchantMCC": "5814",
                "merchantName": "Demo Cafe",
                "store": {"referenceStoreId": "S0001", "storeName": "Demo Cafe Main St", "storeMCC": "5814"}
            },
            "env": {"storeTerminalId": "T01", "storeTerminalRequestTime": "2025-01-01T08:00:00+08:00"}
        }))
        .unwrap()
    }

    /// The sandbox's own books, through its control endpoint (loopback, bearer token).
    async fn ledger(sandbox: &EmbeddedSandbox) -> Value {
        let mut url = sandbox.local_url();
        url.set_path("/sandbox/control/ledger");
        let response = reqwest::Client::new()
            .get(url)
            .bearer_auth(sandbox.sandbox().control_token())
            .send()
            .await
            .unwrap();
        assert!(response.status().is_success(), "{}", response.status());
        serde_json::from_str(&response.text().await.unwrap()).unwrap()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_demo_customer_pays_an_order_code_through_the_wallet_page() {
        let dir = tempfile::tempdir().unwrap();
        let sandbox = start(dir.path(), "SANDBOX_CUSTOMER_TEST").await.unwrap();
        let client = sandbox.client().unwrap();
        let pay =
            PayRequest::order_code_polled("P-customer-1", order(450), Amount::new("USD", 450));
        let Outcome::Success(answer) = client.call(&pay).await.unwrap() else {
            panic!("the sandbox did not issue an order code");
        };
        let code = answer
            .order_code_form
            .as_ref()
            .and_then(|form| form.text_code_value())
            .unwrap()
            .to_owned();
        assert_eq!(
            ledger(&sandbox).await["payments"][0]["status"],
            "PROCESSING"
        );

        sandbox.pay_as_customer(&code).await.unwrap();

        let books = ledger(&sandbox).await;
        let payment = &books["payments"][0];
        assert_eq!(payment["payment_request_id"], "P-customer-1");
        assert_eq!(payment["status"], "SUCCESS", "{books}");
        assert_eq!(payment["amount"]["value"], "450");
        let inquiry = InquiryPaymentRequest::by_payment_request_id("P-customer-1");
        let Outcome::Success(status) = client.call(&inquiry).await.unwrap() else {
            panic!("inquiryPayment failed");
        };
        assert_eq!(status.payment_status, Some(PaymentStatus::Success));

        // A second tap is the wallet's refusal, with its code, not a second payment.
        let again = sandbox.pay_as_customer(&code).await.unwrap_err();
        assert!(
            matches!(&again, SandboxError::WalletRefused { status: 409, error, .. } if error == "already_paid"),
            "{again:?}"
        );
        assert_eq!(
            ledger(&sandbox).await["payments"].as_array().unwrap().len(),
            1
        );
        // Text that is not a URL cannot be one of this sandbox's codes: refused unsent.
        assert!(matches!(
            sandbox.demo_customer().pay("not an order code").await,
            Err(SandboxError::NotAWalletCode(_))
        ));
        sandbox.shutdown().await;
    }
}
