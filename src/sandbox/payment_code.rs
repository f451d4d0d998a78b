//! The demo customer's payment code: what the customer's phone shows for a User-presented
//! payment (用户出示), and the payments waiting for their confirmation.
//!
//! `GET /wallet/payment-code` is a phone-sized page in the wallet pages' look (bilingual,
//! no JavaScript) with the demo customer's four codes, one per simulated customer (see
//! `payments`): pays at once (`…0000`), needs confirmation (`…1111`), balance too low
//! (`…2222`), expired (`…3333`). Each is a valid Alipay code (18 digits starting with 25-30),
//! drawn fresh at every load the way a real wallet's code rotates, shown as digits and as an
//! inline SVG QR code for the terminal's scanner or a phone camera. Below them, "Waiting for
//! your confirmation": the `PROCESSING` User-presented payments, newest first, at most
//! [`WAITING_LIMIT`], each linking to its wallet page, where the customer confirms or
//! declines.
//!
//! Stable ids for browser tests: `#code-0000`, `#code-1111`, `#code-2222`, `#code-3333`
//! (text = the digits), `#waiting` (the list) with `.waiting-payment` items carrying
//! `data-payment-request-id`. With `Accept: application/json` the answer is
//! `{"codes": {"paid", "confirm", "balance", "expired"}, "waiting": [{"paymentRequestId",
//! "paymentId", "merchant", "amount", "currency", "walletUrl", "expireTime"}]}`, amounts in
//! minor units as a decimal string like Alipay's `value`.
//!
//! The sandbox has a single demo customer, so every merchant's waiting payments are theirs:
//! whoever can open the wallet pages can confirm or decline them, as they can pay any order
//! code they see. That is the sandbox's rule for all wallet pages (no real money moves).

use std::fmt::Write as _;
use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use qrcode::{Color, EcLevel, QrCode};
use serde::Serialize;

use super::answer::advance;
use super::clock::wire_time;
use super::ids;
use super::ledger::{self, LedgerError, PaymentRow};
use super::server::GatewayState;
use super::wallet::{
    FAILED_PAGE, amount_texts, escape, merchant_of, shell, wallet_url, wants_json,
};

/// How many waiting payments the page lists: a customer confirms one payment at a time, and
/// a longer list on a phone would only hide the newest.
pub(crate) const WAITING_LIMIT: u32 = 10;

/// Quiet zone around each QR code, in modules (ISO/IEC 18004 asks for 4).
const QUIET_ZONE_MODULES: usize = 4;

/// The four simulated customers: code ending, JSON key, bilingual label.
const CUSTOMERS: [(&str, &str, &str); 4] = [
    ("0000", "paid", "Pays at once · 直接付款成功"),
    ("1111", "confirm", "Needs your confirmation · 需要您确认"),
    ("2222", "balance", "Balance too low · 余额不足"),
    ("3333", "expired", "Expired code · 付款码已过期"),
];

/// The four codes, as the JSON form names them.
#[derive(Serialize)]
struct Codes {
    paid: String,
    confirm: String,
    balance: String,
    expired: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Waiting {
    payment_request_id: String,
    payment_id: String,
    merchant: String,
    /// Minor units, as a decimal string (Alipay's `value`).
    amount: String,
    currency: String,
    wallet_url: String,
    expire_time: String,
}

#[derive(Serialize)]
struct PageJson {
    codes: Codes,
    waiting: Vec<Waiting>,
}

/// `GET /wallet/payment-code`.
pub(crate) async fn page(State(app): State<Arc<GatewayState>>, headers: HeaderMap) -> Response {
    let worker = app.clone();
    let loaded = tokio::task::spawn_blocking(move || -> Result<_, LedgerError> {
        let now = worker.clock.now_ms();
        let (waiting, woke) = worker.ledger.run(|tx| {
            let woke = advance(tx, now)?;
            Ok((ledger::waiting_payments(tx, now, WAITING_LIMIT)?, woke))
        })?;
        let mut codes = Vec::with_capacity(CUSTOMERS.len());
        for (ending, _, _) in CUSTOMERS {
            codes.push(ids::payment_code(ending)?);
        }
        Ok((codes, waiting, woke))
    })
    .await;
    let (codes, waiting) = match loaded {
        Ok(Ok((codes, waiting, woke))) => {
            if woke {
                app.wake.notify_one();
            }
            (codes, waiting)
        }
        Ok(Err(e)) => {
            tracing::error!(error = %e, "sandbox payment-code page could not read the ledger");
            return failed(&headers);
        }
        Err(e) => {
            tracing::error!(error = %e, "sandbox payment-code page task failed");
            return failed(&headers);
        }
    };
    let mut response = if wants_json(&headers) {
        axum::Json(json_form(&app, &codes, &waiting)).into_response()
    } else {
        Html(render(&codes, &waiting)).into_response()
    };
    // The codes rotate: a cached page would show codes the customer never saw.
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

fn failed(headers: &HeaderMap) -> Response {
    let status = StatusCode::INTERNAL_SERVER_ERROR;
    if wants_json(headers) {
        let body = serde_json::json!({ "error": "internal", "message": FAILED_PAGE });
        return (status, axum::Json(body)).into_response();
    }
    let html = shell(&format!(
        "<div class=\"card\"><p id=\"status\" data-status=\"ERROR\">{}</p></div>",
        escape(FAILED_PAGE)
    ));
    (status, Html(html)).into_response()
}

fn json_form(app: &GatewayState, codes: &[String], waiting: &[PaymentRow]) -> PageJson {
    let code = |i: usize| codes.get(i).cloned().unwrap_or_default();
    PageJson {
        codes: Codes {
            paid: code(0),
            confirm: code(1),
            balance: code(2),
            expired: code(3),
        },
        waiting: waiting
            .iter()
            .map(|p| Waiting {
                payment_request_id: p.payment_request_id.clone(),
                payment_id: p.payment_id.clone(),
                merchant: merchant_of(p),
                amount: p.amount.to_string(),
                currency: p.currency.clone(),
                wallet_url: wallet_url(
                    &app.public_base,
                    p.wallet_token.as_deref().unwrap_or_default(),
                ),
                expire_time: wire_time(p.expire_at),
            })
            .collect(),
    }
}

/// `text` as an inline SVG QR code (medium error correction, like the terminal's order
/// codes), or `None` if it does not fit a QR code (18 digits always do).
fn qr_svg(text: &str) -> Option<String> {
    let code = QrCode::with_error_correction_level(text.as_bytes(), EcLevel::M).ok()?;
    let width = code.width();
    let side = width + 2 * QUIET_ZONE_MODULES;
    let mut path = String::new();
    for (i, color) in code.to_colors().iter().enumerate() {
        if matches!(color, Color::Dark) {
            let x = i % width + QUIET_ZONE_MODULES;
            let y = i / width + QUIET_ZONE_MODULES;
            let _ = write!(path, "M{x} {y}h1v1h-1z");
        }
    }
    Some(format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {side} {side}\" \
         shape-rendering=\"crispEdges\" role=\"img\" aria-label=\"QR code · 二维码\">\
         <rect width=\"{side}\" height=\"{side}\" fill=\"#fff\"/>\
         <path d=\"{path}\" fill=\"#000\"/></svg>"
    ))
}

fn render(codes: &[String], waiting: &[PaymentRow]) -> String {
    let mut body = String::from(
        "<div class=\"card\">\n<h1>My payment code · 我的付款码</h1>\n\
         <p class=\"muted\">Let the cashier scan one of these codes, or read out its digits. \
         A new code at every reload. · 请收银员扫描下面任一付款码，或读出数字。每次刷新都会生成新码。</p>\n\
         </div>\n",
    );
    let items: String = waiting.iter().map(waiting_item).collect();
    let empty = if waiting.is_empty() {
        "<p class=\"muted\" id=\"waiting-empty\">Nothing is waiting for you. · 暂无待确认的支付。</p>\n"
    } else {
        ""
    };
    let _ = write!(
        body,
        "<div class=\"card\">\n<h2>Waiting for your confirmation · 等待您确认</h2>\n\
         <ul id=\"waiting\">{items}</ul>\n{empty}</div>\n"
    );
    for ((ending, _, label), code) in CUSTOMERS.iter().zip(codes) {
        let _ = write!(
            body,
            "<div class=\"card\">\n<h2>{label}</h2>\n<div class=\"qr\">{qr}</div>\n\
             <p class=\"code\" id=\"code-{ending}\">{code}</p>\n</div>\n",
            label = escape(label),
            qr = qr_svg(code).unwrap_or_default(),
            code = escape(code),
        );
    }
    shell(&body)
}

/// One waiting payment: merchant and amount, linking to its wallet page (a relative link, so
/// it works on whichever address the phone reached the sandbox).
fn waiting_item(p: &PaymentRow) -> String {
    let (amount_en, amount_zh) = amount_texts(p);
    format!(
        "<li class=\"waiting-payment\" data-payment-request-id=\"{request_id}\">\
         <a href=\"/wallet/{token}\"><strong>{merchant}</strong><br>{amount_en} · {amount_zh}</a></li>",
        request_id = escape(&p.payment_request_id),
        token = escape(p.wallet_token.as_deref().unwrap_or_default()),
        merchant = escape(&merchant_of(p)),
        amount_en = escape(&amount_en),
        amount_zh = escape(&amount_zh),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qr_codes_are_square_svg_with_dark_modules() {
        let svg = qr_svg("281234567890121111").unwrap();
        assert!(svg.starts_with("<svg"), "{svg}");
        // 18 digits at level M: version 1, 21 modules, plus the quiet zone on both sides.
        assert!(svg.contains("viewBox=\"0 0 29 29\""), "{svg}");
        assert!(svg.matches("h1v1h-1z").count() > 100, "{svg}");
    }

    #[test]
    fn the_page_shows_every_code_and_an_empty_waiting_list() {
        let codes: Vec<String> = CUSTOMERS
            .iter()
            .map(|(ending, _, _)| ids::payment_code(ending).unwrap())
            .collect();
        let html = render(&codes, &[]);
        for ((ending, _, _), code) in CUSTOMERS.iter().zip(&codes) {
            assert!(
                html.contains(&format!("id=\"code-{ending}\">{code}</p>")),
                "{html}"
            );
        }
        assert!(html.contains("<ul id=\"waiting\"></ul>"), "{html}");
        assert!(html.contains("waiting-empty"), "{html}");
    }
}
