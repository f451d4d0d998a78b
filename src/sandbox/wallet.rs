//! The customer's wallet: what a phone shows after scanning an order code.
//!
//! `GET <codeValue>` is a small phone-sized page (bilingual: English and Simplified Chinese
//! side by side, so there is no language switch to get wrong) with the merchant, the order,
//! the amount, the expiry and a Pay button. The button is a plain HTML form, so the page works
//! without JavaScript and a scripted browser or `curl` can pay. Stable element ids for browser
//! tests: `#merchant`, `#description`, `#amount`, `#status` (with `data-status`), `#expiry`,
//! `#pay`.
//!
//! `POST <codeValue>/pay` pays. With `Accept: application/json` the answer is JSON
//! (`{"status":"SUCCESS","resultCode":"SUCCESS","paymentId":...}`, or
//! `{"error":"expired"|"cancelled"|"already_paid"|"not_found"|"failed","message":...}` with
//! HTTP 410/409/409/404/409); otherwise an HTML page.
//!
//! A User-presented payment that waits for the customer (the 1111 customer, see `payments`)
//! has a wallet page too, reached from the demo customer's payment-code page
//! (`payment_code`): it shows `#confirm` (posts to `/pay`) and `#decline` (posts to
//! `/decline`) instead of `#pay`. `POST <wallet url>/decline` answers like `/pay`, with
//! `{"status":"FAIL","resultCode":"USER_PAYMENT_VERIFICATION_FAILED",...}` on success and
//! the same refusals (plus `409 not_user_presented` for an Order Code payment).
//!
//! An Entry Code payment's page is Alipay's cashier after the merchant's H5 page sent the
//! customer there (`redirectActionForm.redirectUrl`): it shows `#pay` and `#decline`;
//! declining makes it `FAIL` with `USER_PAYMENT_VERIFICATION_FAILED` (no notification: the
//! merchant learns it from `inquiryPayment`).

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use serde::Serialize;

use super::answer::advance;
use super::clock::wire_time;
use super::ledger::{self, LedgerError, LedgerPaymentState, PaymentRow};
use super::payments::{self, Refusal};
use super::server::GatewayState;
use crate::ams::models::{InStorePaymentScenario, PayRequest};
use crate::locale::Locale;
use crate::money::{Currency, Money};

/// The demo customer's payment-code page, `/wallet/payment-code` (see `payment_code`). No
/// wallet token can collide with it: tokens are 22 base64url characters.
pub(crate) const PAYMENT_CODE_PATH: &str = "payment-code";

/// The URL a code encodes: `<public base>/wallet/<token>`.
pub(crate) fn wallet_url(public_base: &str, token: &str) -> String {
    format!("{}/wallet/{token}", public_base.trim_end_matches('/'))
}

/// Where to find the payment to pay.
#[derive(Debug, Clone)]
pub(crate) enum Locator {
    /// The secret token of a wallet URL.
    Token(String),
    /// The control endpoint's id: a `paymentId`, or a `paymentRequestId` only one client used.
    AnyId(String),
}

/// What the customer does in the wallet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Action {
    /// Pay an order code, or confirm a User-presented payment.
    Pay,
    /// Decline a User-presented payment.
    Decline,
}

/// The JSON answer of a wallet action that happened: the payment's new status and result
/// code (`SUCCESS`/`SUCCESS` after paying, `FAIL`/`USER_PAYMENT_VERIFICATION_FAILED` after
/// declining).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Done {
    pub status: &'static str,
    pub result_code: String,
    pub payment_id: String,
    pub payment_request_id: String,
    pub payment_time: Option<String>,
}

/// Why paying did not happen, including a lookup the control endpoint found ambiguous.
#[derive(Debug, Clone)]
pub(crate) enum NotPaid {
    Refused(Refusal),
    Ambiguous(String),
    Internal,
}

impl NotPaid {
    pub fn status(&self) -> StatusCode {
        match self {
            NotPaid::Refused(Refusal::NotFound) => StatusCode::NOT_FOUND,
            NotPaid::Refused(Refusal::Expired) => StatusCode::GONE,
            NotPaid::Refused(_) | NotPaid::Ambiguous(_) => StatusCode::CONFLICT,
            NotPaid::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn json(&self) -> serde_json::Value {
        let (error, message) = match self {
            NotPaid::Refused(r) => (r.code(), r.message().to_owned()),
            NotPaid::Ambiguous(m) => ("ambiguous", m.clone()),
            NotPaid::Internal => (
                "internal",
                "The sandbox could not record your answer; try again. · 沙箱未能记录您的操作，请重试。"
                    .to_owned(),
            ),
        };
        serde_json::json!({ "error": error, "message": message })
    }
}

/// The customer pays or declines (wallet page, payment-code page and control endpoint share
/// this, so every way in follows the same rules).
pub(crate) async fn act(
    app: &Arc<GatewayState>,
    locator: Locator,
    action: Action,
) -> Result<Done, NotPaid> {
    let worker = app.clone();
    let outcome = tokio::task::spawn_blocking(move || {
        let now = worker.clock.now_ms();
        worker.ledger.run(|tx| {
            let woke = advance(tx, now)?;
            let found = match &locator {
                Locator::Token(t) => ledger::payment_by_token(tx, t)?,
                Locator::AnyId(id) => match ledger::payment_by_any_id(tx, id)? {
                    Ok(found) => found,
                    Err(message) => return Ok((Err(NotPaid::Ambiguous(message)), woke)),
                },
            };
            let Some(p) = found else {
                return Ok((Err(NotPaid::Refused(Refusal::NotFound)), woke));
            };
            let outcome = match action {
                Action::Pay => payments::customer_pays(tx, now, p)?,
                Action::Decline => payments::customer_declines(tx, now, p)?.map(|p| (p, false)),
            };
            Ok(match outcome {
                Ok((p, queued)) => (
                    Ok(Done {
                        status: p.status.as_str(),
                        result_code: p.result_code,
                        payment_time: p.payment_time.map(wire_time),
                        payment_id: p.payment_id,
                        payment_request_id: p.payment_request_id,
                    }),
                    woke || queued,
                ),
                Err(refusal) => (Err(NotPaid::Refused(refusal)), woke),
            })
        })
    })
    .await;
    match outcome {
        Ok(Ok((result, wake))) => {
            if wake {
                app.wake.notify_one();
            }
            result
        }
        Ok(Err(e)) => {
            tracing::error!(error = %e, ?action, "sandbox wallet could not record the customer's answer");
            Err(NotPaid::Internal)
        }
        Err(e) => {
            tracing::error!(error = %e, "sandbox wallet task failed");
            Err(NotPaid::Internal)
        }
    }
}

pub(super) fn wants_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.to_ascii_lowercase().contains("application/json"))
}

pub(crate) async fn page(
    State(app): State<Arc<GatewayState>>,
    Path(token): Path<String>,
) -> Response {
    let worker = app.clone();
    let found = tokio::task::spawn_blocking(move || -> Result<_, LedgerError> {
        let now = worker.clock.now_ms();
        worker.ledger.run(|tx| {
            advance(tx, now)?;
            Ok((ledger::payment_by_token(tx, &token)?, now))
        })
    })
    .await;
    match found {
        Ok(Ok((Some(p), now))) => Html(render(&app, &p, now, None)).into_response(),
        Ok(Ok((None, _))) => (
            StatusCode::NOT_FOUND,
            Html(message_page(Refusal::NotFound.message(), "NOT_FOUND")),
        )
            .into_response(),
        _ => (
            StatusCode::INTERNAL_SERVER_ERROR,
            Html(message_page(FAILED_PAGE, "ERROR")),
        )
            .into_response(),
    }
}

/// What the wallet page says when the sandbox itself failed.
pub(super) const FAILED_PAGE: &str =
    "The sandbox failed; reload the page. · 沙箱出错，请刷新页面。";

pub(crate) async fn pay_handler(
    State(app): State<Arc<GatewayState>>,
    Path(token): Path<String>,
    headers: HeaderMap,
) -> Response {
    answer_action(app, token, headers, Action::Pay).await
}

pub(crate) async fn decline_handler(
    State(app): State<Arc<GatewayState>>,
    Path(token): Path<String>,
    headers: HeaderMap,
) -> Response {
    answer_action(app, token, headers, Action::Decline).await
}

/// `POST <wallet url>/pay` and `/decline`: JSON for scripts, else the page again with a
/// notice, under the same HTTP status.
async fn answer_action(
    app: Arc<GatewayState>,
    token: String,
    headers: HeaderMap,
    action: Action,
) -> Response {
    let outcome = act(&app, Locator::Token(token.clone()), action).await;
    if wants_json(&headers) {
        return match outcome {
            Ok(paid) => axum::Json(paid).into_response(),
            Err(e) => (e.status(), axum::Json(e.json())).into_response(),
        };
    }
    let status = match &outcome {
        Ok(_) => StatusCode::OK,
        Err(e) => e.status(),
    };
    let worker = app.clone();
    let payment = tokio::task::spawn_blocking(move || {
        let now = worker.clock.now_ms();
        worker
            .ledger
            .run(|tx| Ok((ledger::payment_by_token(tx, &token)?, now)))
    })
    .await;
    let notice = match &outcome {
        Ok(_) if action == Action::Decline => {
            "Declined. The cashier will see that the payment failed. · 已拒绝，收银员将看到支付失败。"
                .to_owned()
        }
        Ok(_) => {
            "Paid. You can show this screen to the cashier. · 支付成功，可向收银员出示此页面。"
                .to_owned()
        }
        Err(NotPaid::Refused(r)) => r.message().to_owned(),
        Err(e) => e.json()["message"].as_str().unwrap_or_default().to_owned(),
    };
    let html = match payment {
        Ok(Ok((Some(p), now))) => render(&app, &p, now, Some(&notice)),
        _ => message_page(&notice, "NOT_FOUND"),
    };
    (status, Html(html)).into_response()
}

pub(super) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = "body{font-family:system-ui,-apple-system,'PingFang SC','Noto Sans CJK SC',sans-serif;margin:0;background:#f2f4f7;color:#1d2129}\
main{max-width:440px;margin:0 auto;padding:16px}\
.banner{background:#fff3cd;color:#6b4e00;border-radius:8px;padding:8px 12px;font-size:.9rem;text-align:center}\
.card{background:#fff;border-radius:14px;padding:20px;margin-top:12px;box-shadow:0 1px 4px rgba(0,0,0,.08)}\
h1{font-size:1.3rem;margin:0 0 4px}.muted{color:#6b7280;margin:2px 0}\
#amount{font-size:2.4rem;font-weight:700;margin:18px 0 0}\
#status{font-weight:600;margin:16px 0 4px}\
.notice{background:#eef6ff;border-radius:8px;padding:10px 12px}\
button{width:100%;font-size:1.4rem;padding:18px;margin-top:16px;border:0;border-radius:12px;background:#1677ff;color:#fff}\
button:disabled{background:#c9cdd4}\
button.decline{background:#fff;color:#cf1322;border:2px solid #cf1322;margin-top:10px}\
button.decline:disabled{color:#c9cdd4;border-color:#c9cdd4}\
a{color:#1677ff}.code{font-family:ui-monospace,monospace;font-size:1.25rem;letter-spacing:.08em;margin:8px 0 0;word-break:break-all}\
.qr svg{width:100%;max-width:240px;display:block;margin:8px auto 0}\
ul{list-style:none;padding:0;margin:0}li{padding:10px 0;border-top:1px solid #eef0f3}";

pub(super) fn shell(body: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>Alipay sandbox wallet · 支付宝沙箱钱包</title>\n<style>{STYLE}</style>\n</head>\n\
         <body>\n<main>\n<p class=\"banner\">Sandbox: no real money moves · 沙箱环境：不会产生真实交易</p>\n\
         {body}\n</main>\n</body>\n</html>\n"
    )
}

fn message_page(message: &str, status: &str) -> String {
    shell(&format!(
        "<div class=\"card\"><p id=\"status\" data-status=\"{}\">{}</p></div>",
        escape(status),
        escape(message)
    ))
}

/// The bilingual status line and whether the code can still be paid.
fn status_line(p: &PaymentRow, now_ms: i64) -> (&'static str, &'static str, bool) {
    match p.status {
        LedgerPaymentState::Processing if p.expire_at > now_ms && is_user_presented(p) => (
            "PROCESSING",
            "Waiting for your confirmation · 等待您确认",
            true,
        ),
        LedgerPaymentState::Processing if p.expire_at > now_ms => {
            ("PROCESSING", "Awaiting payment · 待支付", true)
        }
        LedgerPaymentState::Processing => ("EXPIRED", "Expired · 已过期", false),
        LedgerPaymentState::Success => ("SUCCESS", "Paid · 已支付", false),
        LedgerPaymentState::Cancelled => {
            ("CANCELLED", "Cancelled by the merchant · 商户已取消", false)
        }
        LedgerPaymentState::Fail if p.is_closed() => ("EXPIRED", "Expired · 已过期", false),
        LedgerPaymentState::Fail if p.result_code == payments::DECLINED_CODE => {
            ("FAIL", "Declined by you · 您已拒绝", false)
        }
        LedgerPaymentState::Fail => ("FAIL", "Failed · 支付失败", false),
    }
}

fn is_user_presented(p: &PaymentRow) -> bool {
    InStorePaymentScenario::from(p.scenario.as_str()) == InStorePaymentScenario::PaymentCode
}

fn is_entry_code(p: &PaymentRow) -> bool {
    InStorePaymentScenario::from(p.scenario.as_str()) == InStorePaymentScenario::EntryCode
}

/// The User-Agent the sandbox's wallet browser sends when it opens a merchant's Entry Code
/// page (Alipay's in-app browser carries `AlipayClient/<version>`): tests and demos that
/// play the customer's phone use it.
pub const WALLET_USER_AGENT: &str = "Mozilla/5.0 (Linux; Android 13; alipay-pos sandbox) AppleWebKit/537.36 (KHTML, like Gecko) \
     Mobile Safari/537.36 AlipayClient/10.5.0";

/// The merchant's name as the customer sees it (display name, else the legal name).
pub(super) fn merchant_of(p: &PaymentRow) -> String {
    serde_json::from_str::<PayRequest>(&p.request_json)
        .ok()
        .map(|r| {
            let m = r.order.merchant;
            m.merchant_display_name.unwrap_or(m.merchant_name)
        })
        .unwrap_or_default()
}

/// The amount in both languages' formats (`USD 12.50`, `12.50 美元`).
pub(super) fn amount_texts(p: &PaymentRow) -> (String, String) {
    match Currency::from_code(&p.currency).and_then(|c| Money::from_minor(p.amount, c)) {
        Ok(money) => (
            money.format(Locale::English),
            money.format(Locale::SimplifiedChinese),
        ),
        Err(_) => (format!("{} {}", p.currency, p.amount), String::new()),
    }
}

/// The buttons: Pay for an order code; Confirm and Decline for a User-presented payment
/// (its `/pay` is the confirmation).
fn actions(p: &PaymentRow, action: &str, payable: bool) -> String {
    let action = escape(action);
    let disabled = if payable { "" } else { " disabled" };
    if is_user_presented(p) {
        format!(
            "<form method=\"post\" action=\"{action}/pay\">\
             <button id=\"confirm\" type=\"submit\"{disabled}>Confirm payment · 确认付款</button></form>\n\
             <form method=\"post\" action=\"{action}/decline\">\
             <button id=\"decline\" class=\"decline\" type=\"submit\"{disabled}>Decline · 拒绝</button></form>\n\
             <p class=\"muted\"><a id=\"back\" href=\"/wallet/{PAYMENT_CODE_PATH}\">My payment code · 我的付款码</a></p>"
        )
    } else if is_entry_code(p) {
        // Alipay's cashier after a merchant's Entry Code page: pay, or say no.
        format!(
            "<form method=\"post\" action=\"{action}/pay\">\
             <button id=\"pay\" type=\"submit\"{disabled}>Pay · 支付</button></form>\n\
             <form method=\"post\" action=\"{action}/decline\">\
             <button id=\"decline\" class=\"decline\" type=\"submit\"{disabled}>Decline · 拒绝</button></form>"
        )
    } else {
        format!(
            "<form method=\"post\" action=\"{action}/pay\">\
             <button id=\"pay\" type=\"submit\"{disabled}>Pay · 支付</button></form>"
        )
    }
}

fn render(app: &GatewayState, p: &PaymentRow, now_ms: i64, notice: Option<&str>) -> String {
    let request: Option<PayRequest> = serde_json::from_str(&p.request_json).ok();
    let merchant = merchant_of(p);
    let store = request
        .as_ref()
        .map(|r| r.order.merchant.store.store_name.clone())
        .unwrap_or_default();
    let description = request
        .as_ref()
        .map(|r| r.order.order_description.clone())
        .unwrap_or_default();
    let (amount_en, amount_zh) = amount_texts(p);
    let (status_code, status_text, payable) = status_line(p, now_ms);
    let action = wallet_url(
        &app.public_base,
        p.wallet_token.as_deref().unwrap_or_default(),
    );
    let notice = notice
        .map(|n| format!("<p class=\"notice\" id=\"notice\">{}</p>", escape(n)))
        .unwrap_or_default();
    let expiry = wire_time(p.expire_at);
    let left = payments::seconds_left(p, now_ms);
    shell(&format!(
        "<div class=\"card\">\n\
         <h1 id=\"merchant\">{merchant}</h1>\n<p class=\"muted\" id=\"store\">{store}</p>\n\
         <p class=\"muted\" id=\"description\">{description}</p>\n\
         <p id=\"amount\" data-currency=\"{currency}\" data-value=\"{value}\">{amount_en}</p>\n\
         <p class=\"muted\" id=\"amount-zh\">{amount_zh}</p>\n\
         <p id=\"status\" data-status=\"{status_code}\">{status_text}</p>\n\
         <p class=\"muted\" id=\"expiry\" data-expire-time=\"{expiry}\">Expires · 过期时间: {expiry} ({left} s)</p>\n\
         {notice}\n{buttons}\n</div>",
        merchant = escape(&merchant),
        store = escape(&store),
        description = escape(&description),
        currency = escape(&p.currency),
        value = p.amount,
        amount_en = escape(&amount_en),
        amount_zh = escape(&amount_zh),
        buttons = actions(p, &action, payable),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_and_urls() {
        assert_eq!(
            escape("<a href=\"x\">Tom & Jerry's</a>"),
            "&lt;a href=&quot;x&quot;&gt;Tom &amp; Jerry&#39;s&lt;/a&gt;"
        );
        assert_eq!(wallet_url("http://h:1/", "tok"), "http://h:1/wallet/tok");
    }

    #[test]
    fn refusals_map_to_http_statuses_and_json() {
        let gone = NotPaid::Refused(Refusal::Expired);
        assert_eq!(gone.status(), StatusCode::GONE);
        assert_eq!(gone.json()["error"], "expired");
        assert_eq!(
            NotPaid::Refused(Refusal::NotFound).status(),
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            NotPaid::Refused(Refusal::AlreadyPaid).json()["error"],
            "already_paid"
        );
        assert_eq!(
            NotPaid::Refused(Refusal::Cancelled).status(),
            StatusCode::CONFLICT
        );
    }
}
