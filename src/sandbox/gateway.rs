//! The AMS gateway over HTTP: routing, verification of requests, signing of answers, and where
//! faults strike.
//!
//! Order of checks for every request, each failure being a signed HTTP 200 `F`:
//! 1. path → API (`NO_INTERFACE_DEF`), under `/ams/api` or `/ams/sandbox/api`;
//! 2. method POST (`METHOD_NOT_SUPPORTED`);
//! 3. `client-id` registered (`CLIENT_INVALID`; `INVALID_CLIENT` for the registration APIs,
//!    as their reference pages spell it);
//! 4. `request-time` present and epoch millis or ISO 8601 (`PARAM_ILLEGAL` naming it);
//! 5. `signature` over `POST <path as received>\n<client-id>.<request-time>.<raw body>`
//!    (`INVALID_SIGNATURE`);
//! 6. a `Content-Type`, when present, is JSON (`MEDIA_TYPE_NOT_ACCEPTABLE`);
//! 7. the body parses and validates (`PARAM_ILLEGAL` naming the field), then business rules.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes, HttpBody};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};

use super::answer::{self, After, Answer, Ctx, advance, known_currency};
use super::faults::FaultPlan;
use super::server::GatewayState;
use super::{payments, refunds, registrations};
use crate::ams::client::{API_PREFIX, SANDBOX_API_PREFIX};
use crate::ams::models::{
    Api, CancelRequest, InquiryPaymentRequest, InquiryRefundRequest,
    InquiryRegistrationInfoRequest, InquiryRegistrationStatusRequest, PayRequest, RefundRequest,
    RegistrationRequest, ResultInfo,
};
use crate::ams::signing::{self, SignatureHeader};
use crate::ams::timefmt;

/// Every answer carries this, as Alipay's do; its charset is the one the body is signed in.
pub(crate) const JSON_UTF8: &str = "application/json; charset=UTF-8";

/// The API a path names, under either prefix.
pub(crate) fn api_for_path(path: &str) -> Option<Api> {
    [API_PREFIX, SANDBOX_API_PREFIX]
        .iter()
        .find_map(|prefix| path.strip_prefix(prefix))
        .and_then(Api::from_endpoint)
}

fn header_text<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

pub(crate) async fn handle(
    State(app): State<Arc<GatewayState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    // The signature covers the request target exactly as sent, query included.
    let signed_path = uri
        .path_and_query()
        .map_or_else(|| uri.path().to_owned(), |pq| pq.as_str().to_owned());
    let client_id = header_text(&headers, "client-id")
        .unwrap_or_default()
        .to_owned();
    let api = api_for_path(uri.path());
    let plan = api.map_or_else(FaultPlan::default, |api| app.faults.plan(&client_id, api));

    if plan.down {
        tracing::debug!(%signed_path, "fault: down");
        return broken_connection();
    }
    if let Some(status) = plan.http_5xx {
        wait(&app, plan.latency_ms).await;
        tracing::debug!(%signed_path, status, "fault: HTTP 5xx");
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
        return (status, format!("simulated HTTP {}\n", status.as_u16())).into_response();
    }

    let answer = match check(
        &app,
        api,
        &method,
        &client_id,
        &signed_path,
        &headers,
        &body,
    ) {
        Err(answer) => answer,
        Ok(_) if plan.refuse_with.is_some() => {
            let code = plan.refuse_with.as_deref().unwrap_or("UNKNOWN_EXCEPTION");
            tracing::debug!(%signed_path, code, "fault: refused without processing");
            Answer::fail(code, "Refused by the sandbox's fault injection.")
        }
        Ok(api) => {
            let worker = app.clone();
            let id = client_id.clone();
            match tokio::task::spawn_blocking(move || process(&worker, api, &id, &body)).await {
                Ok(answer) => answer,
                Err(e) => {
                    tracing::error!(error = %e, "sandbox request processing panicked");
                    Answer::unknown(
                        "UNKNOWN_EXCEPTION",
                        "The sandbox failed while processing; retry.",
                    )
                }
            }
        }
    };
    if answer.wake_notifier {
        app.wake.notify_one();
    }

    match answer.after {
        After::Hang => {
            tracing::debug!(%signed_path, "magic amount: holding the answer");
            wait(
                &app,
                u64::try_from(app.hang_time.as_millis()).unwrap_or(u64::MAX),
            )
            .await;
            return broken_connection();
        }
        After::Unknown | After::Send => {}
    }
    if plan.drop_response {
        wait(&app, plan.latency_ms).await;
        tracing::debug!(%signed_path, "fault: dropped response");
        return broken_connection();
    }
    let body = if plan.unknown_result || answer.after == After::Unknown {
        answer::result_only(ResultInfo::unknown(
            "UNKNOWN_EXCEPTION",
            "Unknown exception; the request may have been processed.",
        ))
    } else if plan.echo_other_ids {
        tracing::debug!(%signed_path, "fault: answer names other ids");
        answer::with_other_ids(answer.body)
    } else {
        answer.body
    };
    wait(&app, plan.latency_ms).await;
    signed_response(&app, &signed_path, &client_id, body, plan.bad_signature)
}

/// Steps 1-6 of the module doc; `Ok` carries the API to process.
fn check(
    app: &GatewayState,
    api: Option<Api>,
    method: &Method,
    client_id: &str,
    signed_path: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Api, Answer> {
    let Some(api) = api else {
        return Err(Answer::fail(
            "NO_INTERFACE_DEF",
            "No API is defined at this path.",
        ));
    };
    if method != Method::POST {
        return Err(Answer::fail(
            "METHOD_NOT_SUPPORTED",
            "Only POST is supported.",
        ));
    }
    let Some(merchant_key) = app.client_key(client_id) else {
        let code = match api {
            Api::Registration | Api::InquiryRegistrationStatus | Api::InquiryRegistrationInfo => {
                "INVALID_CLIENT"
            }
            _ => "CLIENT_INVALID",
        };
        return Err(Answer::fail(
            code,
            if client_id.is_empty() {
                "The client-id header is missing.".to_owned()
            } else {
                format!("Client id {client_id} is not registered with this sandbox.")
            },
        ));
    };
    let (request_time, signature) = signed_headers(headers)?;
    let content = signing::content_to_sign(signed_path, client_id, request_time, body);
    if let Err(e) = signing::verify_header(&merchant_key, &content, signature) {
        tracing::debug!(client_id, error = %e, "request signature rejected");
        return Err(Answer::fail(
            "INVALID_SIGNATURE",
            format!("The signature does not verify with the client's public key ({e})."),
        ));
    }
    check_content_type(headers)?;
    Ok(api)
}

/// Steps 4 and 5 up to the signature check: the `request-time` and `signature` header texts.
fn signed_headers(headers: &HeaderMap) -> Result<(&str, &str), Answer> {
    let request_time = header_text(headers, "request-time").unwrap_or_default();
    if let Err(e) = timefmt::parse_request_time(request_time) {
        return Err(Answer::param_illegal(format!(
            "request-time: must be epoch milliseconds or ISO 8601 ({})",
            e.reason
        )));
    }
    let Some(signature) = header_text(headers, "signature") else {
        return Err(Answer::fail(
            "INVALID_SIGNATURE",
            "The signature header is missing.",
        ));
    };
    Ok((request_time, signature))
}

/// Step 6.
fn check_content_type(headers: &HeaderMap) -> Result<(), Answer> {
    match header_text(headers, "content-type") {
        Some(content_type) if !is_json(content_type) => Err(Answer::fail(
            "MEDIA_TYPE_NOT_ACCEPTABLE",
            format!("Content-Type {content_type:?} is not application/json."),
        )),
        _ => Ok(()),
    }
}

/// Every parser the gateway runs on a request, without the parts that need its state: the
/// client-id lookup, the RSA verification (the `signature` header is only parsed) and the
/// business rules. `path` is the request target as sent (a `?query` is ignored for routing,
/// as the gateway's handler does). `Ok` names the API the body is a valid request for; `Err` is the
/// signed-`F` body the gateway would answer.
///
/// Exists for the `sandbox_request` fuzz target and the property tests (issue 9 §9), which
/// must reach these parsers with millions of inputs without signing each one.
pub fn parse_request(path: &str, headers: &HeaderMap, body: &[u8]) -> Result<Api, Vec<u8>> {
    let route = path.split_once('?').map_or(path, |(route, _)| route);
    let api = api_for_path(route).ok_or_else(no_interface)?;
    (|| {
        let (_, signature) = signed_headers(headers)?;
        SignatureHeader::parse(signature).map_err(|e| {
            Answer::fail(
                "INVALID_SIGNATURE",
                format!("The signature header cannot be read ({e})."),
            )
        })?;
        check_content_type(headers)?;
        parse_body(api, body)?;
        Ok(api)
    })()
    .map_err(|answer: Answer| answer.body)
}

fn no_interface() -> Vec<u8> {
    Answer::fail("NO_INTERFACE_DEF", "No API is defined at this path.").body
}

/// `application/json`, with any parameters, in any letter case.
fn is_json(content_type: &str) -> bool {
    content_type
        .split(';')
        .next()
        .is_some_and(|t| t.trim().eq_ignore_ascii_case("application/json"))
}

/// A request body that parsed and validated, by API. `pay` and `registration` are boxed:
/// they are many times larger than the others.
enum Request {
    Pay(Box<PayRequest>),
    InquiryPayment(InquiryPaymentRequest),
    Cancel(CancelRequest),
    Refund(RefundRequest),
    InquiryRefund(InquiryRefundRequest),
    Registration(Box<RegistrationRequest>),
    InquiryRegistrationStatus(InquiryRegistrationStatusRequest),
    InquiryRegistrationInfo(InquiryRegistrationInfoRequest),
}

/// Step 7's parse: the body as `api`'s request, validated, with currencies that Alipay knows.
fn parse_body(api: Api, body: &[u8]) -> Result<Request, Answer> {
    Ok(match api {
        Api::Pay => {
            let r = answer::parse::<PayRequest>(body)?;
            known_currency("paymentAmount", &r.payment_amount)?;
            known_currency("order.orderAmount", &r.order.order_amount)?;
            Request::Pay(Box::new(r))
        }
        Api::InquiryPayment => Request::InquiryPayment(answer::parse(body)?),
        Api::Cancel => Request::Cancel(answer::parse(body)?),
        Api::Refund => {
            let r = answer::parse::<RefundRequest>(body)?;
            known_currency("refundAmount", &r.refund_amount)?;
            Request::Refund(r)
        }
        Api::InquiryRefund => Request::InquiryRefund(answer::parse(body)?),
        Api::Registration => Request::Registration(Box::new(answer::parse(body)?)),
        Api::InquiryRegistrationStatus => Request::InquiryRegistrationStatus(answer::parse(body)?),
        Api::InquiryRegistrationInfo => Request::InquiryRegistrationInfo(answer::parse(body)?),
    })
}

/// Step 7: parse, validate, and run the business rule in one ledger transaction. Blocking.
fn process(app: &GatewayState, api: Api, client_id: &str, body: &[u8]) -> Answer {
    let ctx = Ctx {
        client_id,
        now_ms: app.clock.now_ms(),
        rules: &app.rules,
        public_base: &app.public_base,
    };
    let request = match parse_body(api, body) {
        Ok(request) => request,
        Err(answer) => return answer,
    };
    match request {
        Request::Pay(req) => run(app, &ctx, |tx| payments::pay(tx, &ctx, *req)),
        Request::InquiryPayment(req) => run(app, &ctx, |tx| payments::inquiry(tx, &ctx, req)),
        Request::Cancel(req) => run(app, &ctx, |tx| payments::cancel(tx, &ctx, req)),
        Request::Refund(req) => run(app, &ctx, |tx| refunds::refund(tx, &ctx, req)),
        Request::InquiryRefund(req) => run(app, &ctx, |tx| refunds::inquiry(tx, &ctx, req)),
        Request::Registration(req) => run(app, &ctx, |tx| registrations::register(tx, &ctx, *req)),
        Request::InquiryRegistrationStatus(req) => {
            run(app, &ctx, |tx| registrations::inquiry_status(tx, &ctx, req))
        }
        Request::InquiryRegistrationInfo(req) => {
            run(app, &ctx, |tx| registrations::inquiry_info(tx, &ctx, req))
        }
    }
}

/// Runs a business rule after bringing the ledger up to the current time.
fn run(
    app: &GatewayState,
    ctx: &Ctx<'_>,
    rule: impl FnOnce(&rusqlite::Transaction<'_>) -> Result<Answer, super::ledger::LedgerError>,
) -> Answer {
    let outcome = app.ledger.run(|tx| {
        let woke = advance(tx, ctx.now_ms)?;
        Ok(rule(tx)?.waking(woke))
    });
    outcome.unwrap_or_else(|e| {
        tracing::error!(error = %e, "sandbox ledger failure");
        Answer::unknown(
            "UNKNOWN_EXCEPTION",
            "The sandbox could not record the request; retry with the same parameters.",
        )
    })
}

/// Sleeps, unless the sandbox is shutting down (a hanging request must not hold up a stop).
async fn wait(app: &GatewayState, ms: u64) {
    if ms == 0 {
        return;
    }
    let mut stop = app.shutdown.clone();
    tokio::select! {
        _ = tokio::time::sleep(Duration::from_millis(ms)) => {}
        _ = stop.wait_for(|stopped| *stopped) => {}
    }
}

/// An answer signed with the simulator's key over `POST <request path>\n<client-id>.<response
/// time>.<body>`. Header names are lowercase on the wire (hyper writes them so), which the
/// Python SDK's case-sensitive lookups need.
fn signed_response(
    app: &GatewayState,
    signed_path: &str,
    client_id: &str,
    body: Vec<u8>,
    corrupt: bool,
) -> Response {
    let response_time = super::clock::wire_time(app.clock.now_ms());
    let content = signing::content_to_sign(signed_path, client_id, &response_time, &body);
    let mut headers = HeaderMap::new();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(JSON_UTF8));
    if let Ok(v) = HeaderValue::from_str(client_id) {
        headers.insert("client-id", v);
    }
    if let Ok(v) = HeaderValue::from_str(&response_time) {
        headers.insert("response-time", v);
    }
    match signing::sign_header(&app.alipay_key, signing::DEFAULT_KEY_VERSION, &content) {
        Ok(mut signature) => {
            if corrupt {
                signature.corrupt();
            }
            if let Ok(v) = HeaderValue::from_str(&signature.to_string()) {
                headers.insert("signature", v);
            }
        }
        // Unsigned is what a client must treat as unknown, so this fails safe.
        Err(e) => tracing::error!(error = %e, "sandbox could not sign an answer"),
    }
    (StatusCode::OK, headers, body).into_response()
}

/// A response body that fails on its first read. Hyper then closes the connection without
/// completing the response, so the client sees the connection break (reqwest: a request or
/// body error, never a status and body it could use).
struct Broken;

impl HttpBody for Broken {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, io::Error>>> {
        Poll::Ready(Some(Err(io::Error::new(
            io::ErrorKind::ConnectionAborted,
            "simulated broken connection",
        ))))
    }
}

pub(crate) fn broken_connection() -> Response {
    let mut response = Response::new(Body::new(Broken));
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(JSON_UTF8));
    response
}

/// Flips one base64 character of a signature, so it is well-formed but wrong.
trait Corrupt {
    fn corrupt(&mut self);
}

impl Corrupt for SignatureHeader {
    fn corrupt(&mut self) {
        let mut chars: Vec<char> = self.signature.chars().collect();
        if let Some(first) = chars.first_mut() {
            *first = if *first == 'A' { 'B' } else { 'A' };
        }
        self.signature = chars.into_iter().collect();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_prefixes_route_and_nothing_else_does() {
        assert_eq!(api_for_path("/ams/api/v1/payments/pay"), Some(Api::Pay));
        assert_eq!(
            api_for_path("/ams/sandbox/api/v1/merchants/registration"),
            Some(Api::Registration)
        );
        assert_eq!(api_for_path("/ams/api/v1/payments/Pay"), None);
        assert_eq!(api_for_path("/v1/payments/pay"), None);
        assert_eq!(api_for_path("/ams/api"), None);
    }

    #[test]
    fn json_content_types() {
        assert!(is_json("application/json"));
        assert!(is_json("application/json; charset=UTF-8"));
        assert!(is_json("Application/JSON;charset=utf-8"));
        assert!(!is_json("text/plain"));
        assert!(!is_json("application/x-www-form-urlencoded"));
        assert!(!is_json("application/jsonp"));
    }

    #[test]
    fn corrupted_signatures_differ_but_stay_parseable() {
        let mut h = SignatureHeader::new("ABCD".into(), "1");
        h.corrupt();
        assert_eq!(h.signature, "BBCD");
        let mut h = SignatureHeader::new("QUJD".into(), "1");
        h.corrupt();
        assert_eq!(h.signature, "AUJD");
        assert!(SignatureHeader::parse(&h.to_string()).is_ok());
    }
}
