//! The verified AMS client: signs every request, verifies every answer, and reduces each call
//! to exactly one of success, failed or unknown.
//!
//! The classification is the safety rule of the whole terminal: a payment may only be
//! believed when Alipay's signature says so. Anything the client cannot prove (a `U`
//! result, a timeout, a 5xx, garbage, a missing or wrong signature) is *unknown*, which the
//! engine resolves by inquiry or cancel and never by guessing.

use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderValue};
use serde::de::DeserializeOwned;
use url::Url;

use crate::ams::crypto::{PrivateKey, PublicKey};
use crate::ams::models::{AmsRequest, ResultCode, ResultInfo, ResultStatus, ValidationError};
use crate::ams::signing::{self, SignatureError, SignatureHeader};
use crate::ams::timefmt;

/// Production path prefix for every AMS API.
pub const API_PREFIX: &str = "/ams/api";
/// Path prefix Alipay's SDKs switch to for `SANDBOX_` client ids.
pub const SANDBOX_API_PREFIX: &str = "/ams/sandbox/api";
/// Default TCP/TLS connect timeout (the in-store Java SDK uses 5 s).
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Default whole-request timeout (the Python SDK uses 15 s).
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(15);

/// The content type every AMS request carries; its charset is the one the body is signed in.
const JSON_UTF8: &str = "application/json; charset=UTF-8";

/// The path prefix for a client id. The SDKs use `/ams/sandbox/api` for `SANDBOX_` ids; the
/// reference notes in-store sandbox calls may keep `/ams/api`, so
/// [`ClientSettings::path_prefix`] can override this.
pub fn default_path_prefix(client_id: &str) -> &'static str {
    if client_id.starts_with("SANDBOX_") {
        SANDBOX_API_PREFIX
    } else {
        API_PREFIX
    }
}

/// Where and how to reach Alipay.
#[derive(Debug, Clone)]
pub struct ClientSettings {
    /// Scheme, host and optional base path, e.g. `https://open-sea-global.alipay.com`.
    pub base_url: Url,
    pub client_id: String,
    pub key_version: String,
    /// `/ams/api` or `/ams/sandbox/api`; derived from the client id when `None`.
    pub path_prefix: Option<String>,
    pub connect_timeout: Duration,
    pub request_timeout: Duration,
}

impl ClientSettings {
    pub fn new(base_url: Url, client_id: impl Into<String>) -> Self {
        ClientSettings {
            base_url,
            client_id: client_id.into(),
            key_version: signing::DEFAULT_KEY_VERSION.to_string(),
            path_prefix: None,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
        }
    }

    fn prefix(&self) -> &str {
        self.path_prefix
            .as_deref()
            .unwrap_or_else(|| default_path_prefix(&self.client_id))
    }

    /// The path that goes on the wire and into the signed content, e.g.
    /// `/ams/api/v1/payments/pay` (any base path of the gateway URL comes first).
    pub fn request_path(&self, endpoint: &str) -> String {
        let base = self.base_url.path().trim_end_matches('/');
        format!("{base}{}{endpoint}", self.prefix().trim_end_matches('/'))
    }
}

/// Why an outcome is unknown. Each reason says whether the request may have reached Alipay;
/// only a request that certainly did not leave can be retried without caring about
/// idempotency.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UnknownReason {
    #[error("Alipay answered U ({code}: {message})")]
    ResultUnknown { code: ResultCode, message: String },
    #[error("could not connect to Alipay ({0}); the request was not sent")]
    NotSent(#[source] Cause),
    #[error("no answer from Alipay in time; the request may have been processed")]
    Timeout,
    #[error("the connection failed after the request may have been sent ({0})")]
    Transport(#[source] Cause),
    #[error("Alipay answered HTTP {0} instead of 200")]
    HttpStatus(u16),
    #[error(
        "the gateway answered with a redirect (HTTP {status}{}), which is never followed; the request may have been processed",
        location.as_ref().map(|l| format!(" to {l}")).unwrap_or_default()
    )]
    Redirected {
        status: u16,
        location: Option<String>,
    },
    #[error("the answer is not the expected JSON ({0})")]
    InvalidJson(#[source] Cause),
    #[error("the answer has no `result` object")]
    MissingResult,
    #[error("the answer is not signed (missing `{missing}` header){}", claimed.as_ref().map(|c| format!("; it claims {c}")).unwrap_or_default())]
    Unsigned {
        missing: &'static str,
        claimed: Option<String>,
    },
    #[error("the answer's signature does not verify with Alipay's public key ({0})")]
    BadSignature(String),
    #[error("the answer is for client id `{got}`, not `{expected}`")]
    ClientIdMismatch { expected: String, got: String },
    /// A verified answer about another payment or refund than the one asked about: the
    /// signature covers the path, client id, time and body, not the request, so a replayed
    /// or substituted answer verifies. It is never applied.
    #[error(
        "the answer names {field} `{echoed}`, not the `{asked}` that was asked about; it is not applied"
    )]
    EchoMismatch {
        field: &'static str,
        asked: String,
        echoed: String,
    },
}

/// The underlying error of an [`UnknownReason`], kept for its `source()` chain while the
/// reason stays `Clone + Eq` (outcomes are cloned into events and compared in tests).
///
/// `summary` is the text shown to people (for a transport error the innermost cause, since
/// reqwest's own message "error sending request" hides the useful part); equality compares
/// only the summary, because error values themselves are not comparable.
#[derive(Debug, Clone)]
pub struct Cause {
    summary: String,
    error: Arc<dyn std::error::Error + Send + Sync>,
}

impl Cause {
    pub fn new(
        summary: impl Into<String>,
        error: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        Self {
            summary: summary.into(),
            error: Arc::new(error),
        }
    }

    /// Keeps the error's own message as the summary.
    pub fn of(error: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self::new(error.to_string(), error)
    }

    pub fn summary(&self) -> &str {
        &self.summary
    }

    /// The original error (a `reqwest::Error`, a `serde_json::Error`, ...), for callers
    /// that want to downcast it.
    pub fn error(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
        &*self.error
    }
}

impl PartialEq for Cause {
    fn eq(&self, other: &Self) -> bool {
        self.summary == other.summary
    }
}

impl Eq for Cause {}

impl std::fmt::Display for Cause {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.summary)
    }
}

impl std::error::Error for Cause {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&*self.error)
    }
}

impl UnknownReason {
    /// False only when the request provably never left this machine.
    pub fn request_may_have_arrived(&self) -> bool {
        !matches!(self, UnknownReason::NotSent(_))
    }
}

/// The verdict on one call.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome<T> {
    /// A verified `S`. For inquiries this means the query worked; the business state is in
    /// the response body.
    Success(T),
    /// A verified `F`: a definite failure with Alipay's code and message.
    Failed { code: ResultCode, message: String },
    /// Anything else: the operation may or may not have happened.
    Unknown(UnknownReason),
}

impl<T> Outcome<T> {
    pub fn is_success(&self) -> bool {
        matches!(self, Outcome::Success(_))
    }

    /// A short label for logs and the journal.
    pub fn kind(&self) -> &'static str {
        match self {
            Outcome::Success(_) => "success",
            Outcome::Failed { .. } => "failed",
            Outcome::Unknown(_) => "unknown",
        }
    }
}

/// Problems found before anything is sent. These never reach Alipay, so they are not
/// outcomes: the caller fixes the input and tries again.
#[derive(Debug, thiserror::Error)]
pub enum RequestError {
    #[error("request not sent: {0}")]
    Invalid(#[from] ValidationError),
    #[error("request not sent: could not encode it as JSON ({0})")]
    Encode(#[source] serde_json::Error),
    #[error("request not sent: could not sign it ({0})")]
    Sign(#[source] SignatureError),
    #[error("could not set up the HTTP client: {0}")]
    Setup(#[source] reqwest::Error),
    /// A configured value (client id, signature) contains bytes HTTP headers cannot carry.
    #[error("request not sent: `{text}` cannot be sent in an HTTP header")]
    Header {
        text: String,
        #[source]
        source: reqwest::header::InvalidHeaderValue,
    },
}

/// A signed, verified connection to one AMS gateway for one client id.
#[derive(Clone)]
pub struct AmsClient {
    http: reqwest::Client,
    settings: Arc<ClientSettings>,
    merchant_key: Arc<PrivateKey>,
    alipay_key: Arc<PublicKey>,
}

impl std::fmt::Debug for AmsClient {
    /// Keys are deliberately left out so a debug print can never leak them.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AmsClient")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl AmsClient {
    /// Builds a client with certificate verification on (rustls with the platform verifier);
    /// there is deliberately no switch to turn it off.
    ///
    /// Redirects are never followed: a 307/308 would re-POST the signed body and headers to
    /// wherever `Location` says, and the first server may already have acted on it. A
    /// redirect answer is therefore [`UnknownReason::Redirected`], settled by inquiry.
    pub fn new(
        settings: ClientSettings,
        merchant_key: PrivateKey,
        alipay_key: PublicKey,
    ) -> Result<Self, RequestError> {
        let http = reqwest::Client::builder()
            .connect_timeout(settings.connect_timeout)
            .timeout(settings.request_timeout)
            .user_agent(concat!("alipay-pos/", env!("CARGO_PKG_VERSION")))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(RequestError::Setup)?;
        Ok(AmsClient {
            http,
            settings: Arc::new(settings),
            merchant_key: Arc::new(merchant_key),
            alipay_key: Arc::new(alipay_key),
        })
    }

    pub fn settings(&self) -> &ClientSettings {
        &self.settings
    }

    /// Validates, signs and sends one request, then verifies and classifies the answer.
    pub async fn call<R: AmsRequest>(
        &self,
        request: &R,
    ) -> Result<Outcome<R::Response>, RequestError> {
        request.validate()?;
        let body = serde_json::to_vec(request).map_err(RequestError::Encode)?;
        let path = self.settings.request_path(R::API.endpoint());
        let request_time = timefmt::now_millis_header();
        let content =
            signing::content_to_sign(&path, &self.settings.client_id, &request_time, &body);
        let signature =
            signing::sign_header(&self.merchant_key, &self.settings.key_version, &content)
                .map_err(RequestError::Sign)?;

        let mut url = self.settings.base_url.clone();
        url.set_path(&path);
        let headers = self.request_headers(&request_time, &signature)?;
        let started = Instant::now();
        // The moment the request leaves (the GUI bench times a scan to it).
        tracing::debug!(api = R::API.name(), "AMS request sending");
        let sent = self.http.post(url).headers(headers).body(body).send().await;
        let outcome = match sent {
            Ok(response) => self.classify(&path, response).await,
            Err(error) => Outcome::Unknown(transport_reason(error)),
        };
        match &outcome {
            Outcome::Success(_) => tracing::info!(
                api = R::API.name(),
                elapsed_ms = started.elapsed().as_millis() as u64,
                "AMS call succeeded"
            ),
            Outcome::Failed { code, .. } => {
                tracing::warn!(api = R::API.name(), code = code.as_str(), "AMS call failed")
            }
            Outcome::Unknown(reason) => {
                tracing::warn!(api = R::API.name(), %reason, "AMS call outcome unknown")
            }
        }
        Ok(outcome)
    }

    fn request_headers(
        &self,
        request_time: &str,
        signature: &SignatureHeader,
    ) -> Result<HeaderMap, RequestError> {
        let value = |text: &str| {
            HeaderValue::from_str(text).map_err(|source| RequestError::Header {
                text: text.to_owned(),
                source,
            })
        };
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static(JSON_UTF8));
        headers.insert("client-id", value(&self.settings.client_id)?);
        headers.insert("request-time", value(request_time)?);
        headers.insert("signature", value(&signature.to_string())?);
        Ok(headers)
    }

    async fn classify<T: DeserializeOwned>(
        &self,
        path: &str,
        response: reqwest::Response,
    ) -> Outcome<T> {
        let status = response.status();
        let headers = response.headers().clone();
        let body = match response.bytes().await {
            Ok(body) => body,
            Err(error) => return Outcome::Unknown(transport_reason(error)),
        };
        if status.is_redirection() {
            let location = headers
                .get(reqwest::header::LOCATION)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            return Outcome::Unknown(UnknownReason::Redirected {
                status: status.as_u16(),
                location,
            });
        }
        if status != reqwest::StatusCode::OK {
            return Outcome::Unknown(UnknownReason::HttpStatus(status.as_u16()));
        }
        let header = |name: &'static str| headers.get(name).and_then(|v| v.to_str().ok());
        let verification = verify_response(
            &self.alipay_key,
            &self.settings.client_id,
            path,
            ResponseHeaders {
                client_id: header("client-id"),
                response_time: header("response-time"),
                signature: header("signature"),
            },
            &body,
        );
        if let Err(reason) = verification {
            return Outcome::Unknown(reason);
        }
        // Signed, so the time is Alipay's own; a wrong local clock only warrants a warning
        // here (expiry times and end-of-day totals depend on it).
        if let Some(response_time) = header("response-time") {
            crate::ams::skew::warn_if_skewed(
                "response",
                response_time,
                time::OffsetDateTime::now_utc(),
            );
        }
        classify_body(&body)
    }
}

/// The three headers a signed AMS answer carries.
#[derive(Debug, Clone, Copy)]
pub struct ResponseHeaders<'a> {
    pub client_id: Option<&'a str>,
    pub response_time: Option<&'a str>,
    pub signature: Option<&'a str>,
}

/// Checks an answer's signature over `POST <request path>\n<client-id>.<response-time>.<body>`.
/// The claimed result code of an unsigned answer is kept for the error message only.
pub fn verify_response(
    alipay_key: &PublicKey,
    expected_client_id: &str,
    request_path: &str,
    headers: ResponseHeaders<'_>,
    body: &[u8],
) -> Result<(), UnknownReason> {
    let unsigned = |missing| UnknownReason::Unsigned {
        missing,
        claimed: claimed_result(body),
    };
    let signature = headers.signature.ok_or_else(|| unsigned("signature"))?;
    let response_time = headers
        .response_time
        .ok_or_else(|| unsigned("response-time"))?;
    let client_id = headers.client_id.ok_or_else(|| unsigned("client-id"))?;
    let content = signing::content_to_sign(request_path, client_id, response_time, body);
    signing::verify_header(alipay_key, &content, signature)
        .map_err(|e| UnknownReason::BadSignature(e.to_string()))?;
    if client_id != expected_client_id {
        return Err(UnknownReason::ClientIdMismatch {
            expected: expected_client_id.to_string(),
            got: client_id.to_string(),
        });
    }
    Ok(())
}

fn claimed_result(body: &[u8]) -> Option<String> {
    let value: serde_json::Value = serde_json::from_slice(body).ok()?;
    let result = value.get("result")?;
    Some(format!(
        "{} {}",
        result.get("resultStatus")?.as_str()?,
        result.get("resultCode")?.as_str()?
    ))
}

/// Reads the verified body: the `result` decides the class, and only an `S` needs the rest of
/// the body to parse.
pub fn classify_body<T: DeserializeOwned>(body: &[u8]) -> Outcome<T> {
    let value: serde_json::Value = match serde_json::from_slice(body) {
        Ok(value) => value,
        Err(error) => return Outcome::Unknown(UnknownReason::InvalidJson(Cause::of(error))),
    };
    let Some(result) = value.get("result") else {
        return Outcome::Unknown(UnknownReason::MissingResult);
    };
    let result: ResultInfo = match serde_path_to_error::deserialize(result) {
        Ok(result) => result,
        Err(error) => {
            return Outcome::Unknown(UnknownReason::InvalidJson(Cause::new(
                format!("result.{error}"),
                error,
            )));
        }
    };
    let message = result.result_message.clone().unwrap_or_default();
    match result.result_status {
        ResultStatus::S => match serde_path_to_error::deserialize(value) {
            Ok(parsed) => Outcome::Success(parsed),
            Err(error) => Outcome::Unknown(UnknownReason::InvalidJson(Cause::of(error))),
        },
        ResultStatus::F => Outcome::Failed {
            code: result.result_code,
            message,
        },
        ResultStatus::U => Outcome::Unknown(UnknownReason::ResultUnknown {
            code: result.result_code,
            message,
        }),
    }
}

fn transport_reason(error: reqwest::Error) -> UnknownReason {
    if error.is_connect() {
        UnknownReason::NotSent(Cause::new(root_cause(&error), error))
    } else if error.is_timeout() {
        UnknownReason::Timeout
    } else {
        UnknownReason::Transport(Cause::new(root_cause(&error), error))
    }
}

/// reqwest's top-level message ("error sending request") hides the useful part.
fn root_cause(error: &(dyn std::error::Error + 'static)) -> String {
    let mut current = error;
    while let Some(next) = current.source() {
        current = next;
    }
    current.to_string()
}
