//! Alipay's daily reconciliation reports, as the sandbox publishes them (flows.md §8).
//!
//! Alipay hands a merchant three CSV files for each day over SFTP: the day's successful
//! transactions (`transactionItems`), and for the settlement batch that pays them out, every
//! settled transaction with its fee (`settlementItems`) and one total per transaction type
//! (`settlementSummary`). The terminal reconciles its journal against these files, so the
//! sandbox writes them the way Alipay does, from its own ledger, under
//! `<data_dir>/sftp/v1/settlements/<customerId>/<date>/` (the `sftp/` folder is what an SFTP
//! server serves as its root).
//!
//! Every file is a header row, the data rows, and a last line `<END>` (followed by a line
//! break). Amounts are in **major units** with the currency's exponent (`12.50` USD, `1800`
//! JPY, `1.250` KWD), written from integer minor units, never through a float; refunds and
//! cancels are negative.
//!
//! What the sandbox decides where the reference is silent (the README lists these too):
//! * **The day.** An Alipay day runs from 00:00:00.000 to 23:59:59.999 GMT+8; a transaction
//!   belongs to the day of its own time: `paid_at` for PAYMENT, `cancel_time` for CANCEL,
//!   `refund_time` for REFUND (the ledger columns, epoch milliseconds). A day is published
//!   only once the sandbox clock has passed its cut-off.
//! * **CANCEL rows.** A payment that was paid and then cancelled has its PAYMENT row on the
//!   day it was paid and a negative CANCEL row on the day it was cancelled. A payment
//!   cancelled before it was paid moved no money and has no row at all (inferred: the files
//!   list "successful transactions").
//! * **Settlement.** Always T+1 (no weekends or holidays in the sandbox), in the
//!   transaction's own currency (no conversion: `quoteCurrencyPair` and `quotePrice` are
//!   empty), one batch per merchant, currency and settlement date, settled at 00:00:00+08:00
//!   of T+1. A currency without transactions that day has no batch and no settlement files.
//! * **Batch id.** `<settlementDate>` followed by 11 digits derived from SHA-256 of
//!   `customerId/currency/settlementDate` (19 digits, like the reference's
//!   `2018122611021040123`): stable, so regenerating a day rewrites the same file names.
//! * **customerId.** `102218` followed by 13 digits derived from SHA-256 of the client id
//!   (19 digits, shaped like the reference's `1022188000000000001`): each client registered
//!   with the sandbox is one merchant with its own folder.
//! * **Fees.** `fee = round(|amount| × fee_rate_bps / 10 000)` in the transaction's minor
//!   units, half away from zero, per row; negative on a PAYMENT (the merchant pays it),
//!   positive on a REFUND or CANCEL (Alipay returns the fee of the money returned, computed
//!   the same way on the refunded amount, so partial refunds may return a unit more or less
//!   than a pro-rata share in total). `settlementAmountValue` is the gross signed amount; the
//!   net paid out is `settlementAmountValue + feeAmountValue`, per row and in the summary.
//! * **Summary.** One row per `summaryType` present (PAYMENT, REFUND, CANCEL, in that
//!   order), then TOTAL; `count`, `settlementAmountValue` and `feeAmountValue` are exact
//!   sums of the batch's rows.
//! * **Empty days.** An empty `transactionItems` file (header and `<END>`) by default, or no
//!   file ([`EmptyDay`]).
//! * **Constant columns.** `acquirer` is `Alipay`, `productCode` `IN_STORE_PAYMENT`; the
//!   columns the sandbox has no value for (`acquirerReferenceNo`, card and coupon columns,
//!   processing fees) are empty. `<seq>` is always `000`.
//!
//! Regenerating a day rewrites its files atomically (a temporary file renamed over the old
//! one) and byte for byte identically as long as the ledger has not changed; the day's files
//! that no longer have content (a currency gone, an empty day with [`EmptyDay::NoFile`]) are
//! removed.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};

use rusqlite::{OptionalExtension, Transaction, params};
use serde_json::Value;
use sha2::{Digest, Sha256};
use time::{Date, Month, PrimitiveDateTime, Time};

use super::clock::{ALIPAY_OFFSET, from_ms, to_ms, wire_time};
use super::ledger::{Ledger, LedgerError};
use super::{LEDGER_FILE, SandboxError};
use crate::money::Currency;

/// The folder under the sandbox's data folder that an SFTP server serves as its root.
pub const SFTP_DIR: &str = "sftp";
/// The fee rate unless told otherwise: 0.60 %, a plausible in-store contract.
pub const DEFAULT_FEE_RATE_BPS: u32 = 60;
/// 100 %: a fee can never be larger than the money it is taken from.
pub const MAX_FEE_RATE_BPS: u32 = 10_000;
/// `productCode` of every row: the API's product code for in-store payments (flows.md §8,
/// inferred: the reference only lists the online values).
pub const PRODUCT_CODE: &str = "IN_STORE_PAYMENT";
/// `acquirer`: the sandbox plays Alipay acquiring for the merchant itself.
pub const ACQUIRER: &str = "Alipay";
/// The last line of every report.
pub const END_LINE: &str = "<END>";
/// How many closed days the automatic publication catches up on after the sandbox was
/// stopped (or its clock moved) for longer: Alipay deletes files after 7 days anyway, and an
/// older day can always be published on demand.
pub const MAX_CATCH_UP_DAYS: usize = 31;

/// `transactionItems` columns, in the order of the reference's sample header.
pub const TRANSACTION_ITEMS_HEADER: [&str; 21] = [
    "customerId",
    "acquirer",
    "acquirerReferenceNo",
    "referenceMerchantId",
    "referenceStoreId",
    "transactionId",
    "originalTransactionId",
    "transactionRequestId",
    "referenceTransactionId",
    "orderDescription",
    "paymentMethodType",
    "pspName",
    "transactionType",
    "paymentTime",
    "productCode",
    "transactionAmountValue",
    "transactionCurrency",
    "originalTransactionRequestId",
    "issuingCountry",
    "cardBrand",
    "funding",
];

/// `settlementItems` columns, in the order of the reference's sample header (up to its
/// `...`: the optional dispute, card and fee columns are left out).
pub const SETTLEMENT_ITEMS_HEADER: [&str; 29] = [
    "settlementBatchId",
    "acquirer",
    "customerId",
    "acquirerReferenceNo",
    "referenceMerchantId",
    "referenceStoreId",
    "transactionId",
    "originalTransactionId",
    "transactionRequestId",
    "referenceTransactionId",
    "paymentMethodType",
    "pspName",
    "transactionType",
    "paymentTime",
    "settlementTime",
    "productCode",
    "transactionAmountValue",
    "transactionCurrency",
    "settlementAmountValue",
    "settlementCurrency",
    "quoteCurrencyPair",
    "quotePrice",
    "feeAmountValue",
    "feeCurrency",
    "processingFeeAmountValue",
    "processingFeeCurrency",
    "nonGuaranteeCouponValue",
    "nonGuaranteeCouponCurrency",
    "originalTransactionRequestId",
];

/// `settlementSummary` columns, in the order of the reference's sample header.
pub const SETTLEMENT_SUMMARY_HEADER: [&str; 10] = [
    "settlementBatchId",
    "customerId",
    "acquirer",
    "summaryType",
    "settlementTime",
    "count",
    "settlementAmountValue",
    "settlementCurrency",
    "feeAmountValue",
    "feeCurrency",
];

/// What a day without a single transaction publishes. The current docs say no file unless
/// Alipay support configures one; the older per-product page shows an empty file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum EmptyDay {
    /// A `transactionItems` file with the header and `<END>` only (the default: the
    /// terminal can tell "nothing happened" from "not published yet").
    #[default]
    EmptyFile,
    /// No file at all.
    NoFile,
}

impl EmptyDay {
    /// `file` or `none`, the flag's spelling (also stored in the ledger).
    pub fn as_str(self) -> &'static str {
        match self {
            EmptyDay::EmptyFile => "file",
            EmptyDay::NoFile => "none",
        }
    }

    pub fn parse(text: &str) -> Option<EmptyDay> {
        match text.trim() {
            "file" => Some(EmptyDay::EmptyFile),
            "none" => Some(EmptyDay::NoFile),
            _ => None,
        }
    }
}

/// How the reports are made: the fee rate and the empty-day rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReportSettings {
    pub fee_rate_bps: u32,
    pub empty_day: EmptyDay,
}

impl Default for ReportSettings {
    fn default() -> Self {
        ReportSettings {
            fee_rate_bps: DEFAULT_FEE_RATE_BPS,
            empty_day: EmptyDay::EmptyFile,
        }
    }
}

/// One Alipay day: a calendar date in GMT+8, from 00:00:00.000 to 23:59:59.999.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AlipayDay(Date);

impl AlipayDay {
    /// Reads `yyyyMMdd`, strictly: eight digits naming a real calendar date.
    pub fn parse(text: &str) -> Result<AlipayDay, SandboxError> {
        let bad = || {
            SandboxError::Options(format!(
                "the date `{text}` is not a day written YYYYMMDD (e.g. 20261201) · \
                 日期 `{text}` 无效，请按 YYYYMMDD 填写（例如 20261201）"
            ))
        };
        if text.len() != 8 || !text.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        let number =
            |range: std::ops::Range<usize>| text.get(range).and_then(|t| t.parse::<u32>().ok());
        let (Some(year), Some(month), Some(day)) = (number(0..4), number(4..6), number(6..8))
        else {
            return Err(bad());
        };
        let month = u8::try_from(month)
            .ok()
            .and_then(|m| Month::try_from(m).ok())
            .ok_or_else(bad)?;
        let day = u8::try_from(day).map_err(|_| bad())?;
        let year = i32::try_from(year).map_err(|_| bad())?;
        Date::from_calendar_date(year, month, day)
            .map(AlipayDay)
            .map_err(|_| bad())
    }

    /// The Alipay day an instant (epoch milliseconds) falls on.
    pub fn of_ms(ms: i64) -> AlipayDay {
        AlipayDay(from_ms(ms).to_offset(ALIPAY_OFFSET).date())
    }

    /// 00:00:00.000 GMT+8 of this day, in epoch milliseconds.
    pub fn start_ms(self) -> i64 {
        to_ms(PrimitiveDateTime::new(self.0, Time::MIDNIGHT).assume_offset(ALIPAY_OFFSET))
    }

    /// The first millisecond after this day's cut-off (23:59:59.999 GMT+8).
    pub fn end_ms(self) -> i64 {
        self.next().start_ms()
    }

    /// The next day (saturating at the calendar's end, which no ledger reaches).
    pub fn next(self) -> AlipayDay {
        AlipayDay(self.0.next_day().unwrap_or(self.0))
    }

    pub fn previous(self) -> AlipayDay {
        AlipayDay(self.0.previous_day().unwrap_or(self.0))
    }

    /// `yyyyMMdd`, as in file and folder names.
    pub fn yyyymmdd(self) -> String {
        format!(
            "{:04}{:02}{:02}",
            self.0.year(),
            u8::from(self.0.month()),
            self.0.day()
        )
    }

    /// Whether the sandbox clock (`now_ms`) has passed this day's cut-off.
    pub fn is_over(self, now_ms: i64) -> bool {
        now_ms >= self.end_ms()
    }
}

impl std::fmt::Display for AlipayDay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.yyyymmdd())
    }
}

/// The merchant's `customerId` for a client id: `102218` and 13 digits of SHA-256 of the
/// client id (see the module doc). Alipay assigns it; the sandbox derives it so that it is
/// stable across restarts without being stored anywhere.
pub fn customer_id(client_id: &str) -> String {
    format!(
        "102218{:013}",
        digits(client_id.as_bytes(), 10_000_000_000_000)
    )
}

/// The settlement batch of one merchant, currency and settlement date (see the module doc).
pub fn settlement_batch_id(
    customer_id: &str,
    currency: &str,
    settlement_date: AlipayDay,
) -> String {
    let key = format!("{customer_id}/{currency}/{settlement_date}");
    format!(
        "{settlement_date}{:011}",
        digits(key.as_bytes(), 100_000_000_000)
    )
}

/// The first 8 bytes of SHA-256 of `data`, modulo `modulus`.
fn digits(data: &[u8], modulus: u64) -> u64 {
    let digest = Sha256::digest(data);
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    u64::from_be_bytes(first) % modulus
}

/// Signed minor units as major units with the currency's exponent: `-1250` USD is
/// `-12.50`, `1800` JPY is `1800`, `0` USD is `0.00`. Integer arithmetic only.
pub fn major_units(minor: i128, currency: Currency) -> String {
    let sign = if minor < 0 { "-" } else { "" };
    let magnitude = minor.unsigned_abs();
    match usize::from(currency.exponent()) {
        0 => format!("{sign}{magnitude}"),
        width => {
            let scale = 10u128.pow(u32::from(currency.exponent()));
            format!("{sign}{}.{:0width$}", magnitude / scale, magnitude % scale)
        }
    }
}

/// Alipay's fee on `amount_minor` (a magnitude) at `fee_rate_bps`, in the same minor units,
/// rounded half away from zero: 0.60 % of USD 12.50 (1250) is 7.5 cents, so 8.
pub fn fee_minor(amount_minor: u64, fee_rate_bps: u32) -> u64 {
    let fee = (u128::from(amount_minor) * u128::from(fee_rate_bps) + 5_000) / 10_000;
    // At most the amount itself (the rate is at most 100 %), so it fits.
    u64::try_from(fee).unwrap_or(u64::MAX)
}

/// `transactionItems_<yyyyMMdd>_<seq>.csv`.
pub fn transaction_items_name(day: AlipayDay) -> String {
    format!("transactionItems_{day}_000.csv")
}

/// `settlementItems_<settlementCurrency>_<settlementBatchId>_<seq>.csv`.
pub fn settlement_items_name(currency: &str, batch_id: &str) -> String {
    format!("settlementItems_{currency}_{batch_id}_000.csv")
}

/// `settlementSummary_<settlementCurrency>_<settlementBatchId>_<seq>.csv`.
pub fn settlement_summary_name(currency: &str, batch_id: &str) -> String {
    format!("settlementSummary_{currency}_{batch_id}_000.csv")
}

/// `v1/settlements/<customerId>/<date>` under the SFTP root.
pub fn settlement_dir(root: &Path, customer_id: &str, day: AlipayDay) -> PathBuf {
    root.join("v1")
        .join("settlements")
        .join(customer_id)
        .join(day.yyyymmdd())
}

/// The kind of a row, in the order rows of the same instant and the summary list them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum TransactionType {
    Payment,
    Refund,
    Cancel,
}

impl TransactionType {
    pub fn as_str(self) -> &'static str {
        match self {
            TransactionType::Payment => "PAYMENT",
            TransactionType::Refund => "REFUND",
            TransactionType::Cancel => "CANCEL",
        }
    }
}

/// One transaction of a day, read from the ledger.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportRow {
    pub transaction_type: TransactionType,
    /// The transaction's own time (epoch ms): paid, cancelled or refunded.
    pub at_ms: i64,
    /// `paymentId` (PAYMENT, CANCEL) or `refundId` (REFUND).
    pub transaction_id: String,
    /// The payment's `paymentId` for a REFUND, else empty.
    pub original_transaction_id: String,
    /// `paymentRequestId` (PAYMENT, CANCEL) or `refundRequestId` (REFUND).
    pub transaction_request_id: String,
    /// The payment's `paymentRequestId` for a REFUND or CANCEL, else empty.
    pub original_transaction_request_id: String,
    pub reference_merchant_id: String,
    pub reference_store_id: String,
    /// The order's `referenceOrderId`.
    pub reference_transaction_id: String,
    pub order_description: String,
    pub payment_method_type: String,
    pub psp_name: String,
    pub currency: Currency,
    /// Signed minor units: positive for PAYMENT, negative for REFUND and CANCEL.
    pub amount_minor: i128,
}

impl ReportRow {
    /// The fee on this row, signed as money from the merchant's side (see the module doc).
    pub fn fee_minor(&self, fee_rate_bps: u32) -> i128 {
        let magnitude = u64::try_from(self.amount_minor.unsigned_abs()).unwrap_or(u64::MAX);
        let fee = i128::from(fee_minor(magnitude, fee_rate_bps));
        if self.transaction_type == TransactionType::Payment {
            -fee
        } else {
            fee
        }
    }

    fn payment_time(&self) -> String {
        wire_time(self.at_ms)
    }
}

/// One merchant's transactions of one day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MerchantDay {
    pub client_id: String,
    pub customer_id: String,
    pub day: AlipayDay,
    /// In order: time, then type, then transaction id.
    pub rows: Vec<ReportRow>,
}

/// What the `pay` request said about the order, read leniently: a ledger row written by hand
/// (a test provoking a discrepancy) may hold `{}`.
struct OrderFacts {
    reference_merchant_id: String,
    reference_store_id: String,
    reference_order_id: String,
    order_description: String,
    payment_method_type: String,
    psp_name: String,
}

impl OrderFacts {
    fn read(request_json: Option<&str>, psp_json: Option<&str>) -> OrderFacts {
        let parse = |text: Option<&str>| {
            text.and_then(|t| serde_json::from_str::<Value>(t).ok())
                .unwrap_or(Value::Null)
        };
        let request = parse(request_json);
        let psp = parse(psp_json);
        let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
        let order = &request["order"];
        OrderFacts {
            reference_merchant_id: text(&order["merchant"]["referenceMerchantId"]),
            reference_store_id: text(&order["merchant"]["store"]["referenceStoreId"]),
            reference_order_id: text(&order["referenceOrderId"]),
            order_description: text(&order["orderDescription"]),
            payment_method_type: text(&request["paymentMethod"]["paymentMethodType"]),
            psp_name: text(&psp["pspName"]),
        }
    }
}

fn currency_of(code: &str, id: &str) -> Result<Currency, LedgerError> {
    Currency::from_code(code)
        .map_err(|e| LedgerError::Corrupt(format!("transaction {id}: currency {code:?}: {e}")))
}

/// The rows of one client's day. The ledger columns read (the README names them for tests
/// that tamper with the ledger): `payments.client_id, payment_id, payment_request_id,
/// currency, amount, status, paid_at, cancel_time, request_json, psp_json` and
/// `refunds.client_id, refund_id, refund_request_id, payment_id, currency, amount,
/// refund_time`. A PAYMENT row is a payment with `paid_at` on the day and status `SUCCESS`
/// or `CANCELLED`; a CANCEL row one with status `CANCELLED`, a `paid_at` and `cancel_time`
/// on the day; a REFUND row every `refunds` row with `refund_time` on the day.
pub fn collect(
    tx: &Transaction<'_>,
    client_id: &str,
    day: AlipayDay,
) -> Result<Vec<ReportRow>, LedgerError> {
    let (from, to) = (day.start_ms(), day.end_ms());
    let mut rows = Vec::new();
    {
        let mut statement = tx.prepare(
            "SELECT payment_id, payment_request_id, currency, amount, request_json, psp_json,
                    paid_at, cancel_time, status
             FROM payments
             WHERE client_id = ?1 AND paid_at IS NOT NULL
               AND ((status IN ('SUCCESS', 'CANCELLED') AND paid_at >= ?2 AND paid_at < ?3)
                 OR (status = 'CANCELLED' AND cancel_time >= ?2 AND cancel_time < ?3))",
        )?;
        let mut found = statement.query(params![client_id, from, to])?;
        while let Some(r) = found.next()? {
            let payment_id: String = r.get(0)?;
            let request_id: String = r.get(1)?;
            let code: String = r.get(2)?;
            let amount: i64 = r.get(3)?;
            let facts = OrderFacts::read(
                r.get::<_, Option<String>>(4)?.as_deref(),
                r.get::<_, Option<String>>(5)?.as_deref(),
            );
            let paid_at: i64 = r.get(6)?;
            let cancel_time: Option<i64> = r.get(7)?;
            let status: String = r.get(8)?;
            let currency = currency_of(&code, &payment_id)?;
            let row =
                |transaction_type, at_ms, amount_minor, original_request_id: &str| ReportRow {
                    transaction_type,
                    at_ms,
                    transaction_id: payment_id.clone(),
                    original_transaction_id: String::new(),
                    transaction_request_id: request_id.clone(),
                    original_transaction_request_id: original_request_id.to_owned(),
                    reference_merchant_id: facts.reference_merchant_id.clone(),
                    reference_store_id: facts.reference_store_id.clone(),
                    reference_transaction_id: facts.reference_order_id.clone(),
                    order_description: facts.order_description.clone(),
                    payment_method_type: facts.payment_method_type.clone(),
                    psp_name: facts.psp_name.clone(),
                    currency,
                    amount_minor,
                };
            if (from..to).contains(&paid_at) {
                rows.push(row(
                    TransactionType::Payment,
                    paid_at,
                    i128::from(amount),
                    "",
                ));
            }
            if status == "CANCELLED"
                && let Some(at) = cancel_time.filter(|at| (from..to).contains(at))
            {
                rows.push(row(
                    TransactionType::Cancel,
                    at,
                    -i128::from(amount),
                    &request_id,
                ));
            }
        }
    }
    {
        let mut statement = tx.prepare(
            "SELECT r.refund_id, r.refund_request_id, r.currency, r.amount, r.refund_time,
                    r.payment_id, p.payment_request_id, p.request_json, p.psp_json
             FROM refunds r
             LEFT JOIN payments p ON p.payment_id = r.payment_id AND p.client_id = r.client_id
             WHERE r.client_id = ?1 AND r.refund_time >= ?2 AND r.refund_time < ?3",
        )?;
        let mut found = statement.query(params![client_id, from, to])?;
        while let Some(r) = found.next()? {
            let refund_id: String = r.get(0)?;
            let code: String = r.get(2)?;
            let amount: i64 = r.get(3)?;
            let facts = OrderFacts::read(
                r.get::<_, Option<String>>(7)?.as_deref(),
                r.get::<_, Option<String>>(8)?.as_deref(),
            );
            rows.push(ReportRow {
                transaction_type: TransactionType::Refund,
                at_ms: r.get(4)?,
                transaction_id: refund_id.clone(),
                original_transaction_id: r.get(5)?,
                transaction_request_id: r.get(1)?,
                original_transaction_request_id: r.get::<_, Option<String>>(6)?.unwrap_or_default(),
                reference_merchant_id: facts.reference_merchant_id,
                reference_store_id: facts.reference_store_id,
                reference_transaction_id: facts.reference_order_id,
                order_description: facts.order_description,
                payment_method_type: facts.payment_method_type,
                psp_name: facts.psp_name,
                currency: currency_of(&code, &refund_id)?,
                amount_minor: -i128::from(amount),
            });
        }
    }
    rows.sort_by(|a, b| {
        (a.at_ms, a.transaction_type, &a.transaction_id).cmp(&(
            b.at_ms,
            b.transaction_type,
            &b.transaction_id,
        ))
    });
    Ok(rows)
}

/// A ledger `meta` key of the reports.
const META_FEE_RATE: &str = "reports.fee_rate_bps";
const META_EMPTY_DAY: &str = "reports.empty_day";
const META_CLIENTS: &str = "reports.clients";
const META_THROUGH: &str = "reports.published_through";

fn meta_get(tx: &Transaction<'_>, key: &str) -> Result<Option<String>, LedgerError> {
    Ok(tx
        .query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
        .optional()?)
}

fn meta_set(tx: &Transaction<'_>, key: &str, value: &str) -> Result<(), LedgerError> {
    tx.execute(
        "INSERT INTO meta (key, value) VALUES (?1, ?2)
         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        params![key, value],
    )?;
    Ok(())
}

/// The merchants that get reports: every client registered at some start (kept in the
/// ledger, so `alipay-pos sandbox reports` on a stopped sandbox knows them) and every client
/// with a payment. Sorted by client id.
fn known_clients(tx: &Transaction<'_>) -> Result<BTreeSet<String>, LedgerError> {
    let mut clients: BTreeSet<String> = meta_get(tx, META_CLIENTS)?
        .and_then(|text| serde_json::from_str(&text).ok())
        .unwrap_or_default();
    let mut statement = tx.prepare("SELECT DISTINCT client_id FROM payments")?;
    for client in statement.query_map([], |r| r.get::<_, String>(0))? {
        clients.insert(client?);
    }
    Ok(clients)
}

/// At a sandbox start: keeps the settings and the registered clients in the ledger (for
/// publishing later from the command line) and returns the last day the automatic
/// publication has done, starting it at the last day closed before the first start.
pub(crate) fn prepare(
    ledger: &Ledger,
    settings: &ReportSettings,
    clients: &[String],
    now_ms: i64,
) -> Result<AlipayDay, LedgerError> {
    ledger.run(|tx| {
        meta_set(tx, META_FEE_RATE, &settings.fee_rate_bps.to_string())?;
        meta_set(tx, META_EMPTY_DAY, settings.empty_day.as_str())?;
        let mut known: BTreeSet<String> = meta_get(tx, META_CLIENTS)?
            .and_then(|text| serde_json::from_str(&text).ok())
            .unwrap_or_default();
        known.extend(clients.iter().cloned());
        let list = serde_json::to_string(&known)
            .map_err(|e| LedgerError::Corrupt(format!("client list: {e}")))?;
        meta_set(tx, META_CLIENTS, &list)?;
        let through = match meta_get(tx, META_THROUGH)?.map(|d| AlipayDay::parse(&d)) {
            Some(Ok(day)) => day,
            _ => {
                let day = AlipayDay::of_ms(now_ms).previous();
                meta_set(tx, META_THROUGH, &day.yyyymmdd())?;
                day
            }
        };
        Ok(through)
    })
}

/// The settings the sandbox last started with, or the defaults.
fn stored_settings(tx: &Transaction<'_>) -> Result<ReportSettings, LedgerError> {
    let defaults = ReportSettings::default();
    Ok(ReportSettings {
        fee_rate_bps: meta_get(tx, META_FEE_RATE)?
            .and_then(|v| v.parse().ok())
            .unwrap_or(defaults.fee_rate_bps),
        empty_day: meta_get(tx, META_EMPTY_DAY)?
            .and_then(|v| EmptyDay::parse(&v))
            .unwrap_or(defaults.empty_day),
    })
}

/// Refuses a day whose cut-off the sandbox clock has not passed: its file would be
/// incomplete, and the terminal takes a published file as the whole day.
fn check_over(day: AlipayDay, now_ms: i64) -> Result<(), SandboxError> {
    if day.is_over(now_ms) {
        return Ok(());
    }
    Err(SandboxError::Options(format!(
        "the Alipay day {day} has not ended yet (cut-off 23:59:59 GMT+8; the sandbox clock says \
         {}); publish it after the cut-off, or move the sandbox clock (POST \
         /sandbox/control/clock) · {day} 尚未结束（截止时间为北京时间 23:59:59），请在截止后再生成报告",
        wire_time(now_ms)
    )))
}

/// Publishes one day for every known merchant (see the module doc) and returns the files
/// written, in order: per merchant, `transactionItems`, then per currency `settlementItems`
/// and `settlementSummary`.
pub(crate) fn publish(
    ledger: &Ledger,
    root: &Path,
    day: AlipayDay,
    settings: &ReportSettings,
    now_ms: i64,
) -> Result<Vec<PathBuf>, SandboxError> {
    check_over(day, now_ms)?;
    let merchants = ledger.run(|tx| {
        known_clients(tx)?
            .into_iter()
            .map(|client_id| {
                Ok(MerchantDay {
                    customer_id: customer_id(&client_id),
                    rows: collect(tx, &client_id, day)?,
                    client_id,
                    day,
                })
            })
            .collect::<Result<Vec<_>, LedgerError>>()
    })?;
    let mut written = Vec::new();
    for merchant in &merchants {
        written.extend(write_merchant_day(root, merchant, settings)?);
    }
    Ok(written)
}

/// Publishes every closed day after `through` (at most [`MAX_CATCH_UP_DAYS`], the latest
/// ones) and returns the new `through` with the files written. The day is recorded in the
/// ledger only once its files exist, so a crash in between publishes it again.
pub(crate) fn publish_due(
    ledger: &Ledger,
    root: &Path,
    settings: &ReportSettings,
    through: AlipayDay,
    now_ms: i64,
) -> Result<(AlipayDay, Vec<PathBuf>), SandboxError> {
    let last_closed = AlipayDay::of_ms(now_ms).previous();
    let mut days = Vec::new();
    let mut day = last_closed;
    while day > through && days.len() < MAX_CATCH_UP_DAYS {
        days.push(day);
        day = day.previous();
    }
    let mut written = Vec::new();
    for day in days.into_iter().rev() {
        written.extend(publish(ledger, root, day, settings, now_ms)?);
        ledger.run(|tx| meta_set(tx, META_THROUGH, &day.yyyymmdd()))?;
    }
    Ok((last_closed.max(through), written))
}

/// `alipay-pos sandbox reports`: publishes `date` from the ledger in `dir` (a sandbox's data
/// folder, running or not), with the settings the sandbox last started with unless
/// `fee_rate_bps` / `empty_day` say otherwise. The clock is the wall clock: a stopped
/// sandbox has no offset.
pub fn publish_from_dir(
    dir: &Path,
    date: &str,
    fee_rate_bps: Option<u32>,
    empty_day: Option<EmptyDay>,
) -> Result<Vec<PathBuf>, SandboxError> {
    let day = AlipayDay::parse(date)?;
    let ledger_path = dir.join(LEDGER_FILE);
    if !ledger_path.is_file() {
        return Err(SandboxError::Options(format!(
            "no sandbox ledger at {}: give --dir the sandbox's data folder (the one holding \
             {LEDGER_FILE}; the terminal's embedded sandbox uses DATA_DIR/sandbox) · 找不到沙箱账本 {}，\
             请用 --dir 指定沙箱的数据目录",
            ledger_path.display(),
            ledger_path.display()
        )));
    }
    let ledger = Ledger::open(&ledger_path)?;
    let mut settings = ledger.run(stored_settings)?;
    if let Some(rate) = fee_rate_bps {
        if rate > MAX_FEE_RATE_BPS {
            return Err(SandboxError::Options(format!(
                "--fee-rate-bps {rate} is more than {MAX_FEE_RATE_BPS} (100 %); give basis \
                 points, e.g. 60 for 0.60 %"
            )));
        }
        settings.fee_rate_bps = rate;
    }
    if let Some(empty_day) = empty_day {
        settings.empty_day = empty_day;
    }
    let now = to_ms(time::OffsetDateTime::now_utc());
    publish(&ledger, &dir.join(SFTP_DIR), day, &settings, now)
}

/// The path an SFTP client sees for `file` under `root`: `/v1/settlements/...`.
pub fn sftp_path(root: &Path, file: &Path) -> String {
    let relative = file.strip_prefix(root).unwrap_or(file);
    let parts: Vec<String> = relative
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    format!("/{}", parts.join("/"))
}

/// The files of one merchant's day, written, and the stale ones of that day removed.
fn write_merchant_day(
    root: &Path,
    merchant: &MerchantDay,
    settings: &ReportSettings,
) -> Result<Vec<PathBuf>, SandboxError> {
    let day_dir = settlement_dir(root, &merchant.customer_id, merchant.day);
    let settlement_day = merchant.day.next();
    let settle_dir = settlement_dir(root, &merchant.customer_id, settlement_day);
    let mut written = Vec::new();
    if !merchant.rows.is_empty() || settings.empty_day == EmptyDay::EmptyFile {
        let bytes = render_transaction_items(merchant).map_err(|e| csv_error(&day_dir, e))?;
        written.push(write_atomically(
            &day_dir,
            &transaction_items_name(merchant.day),
            &bytes,
        )?);
    }
    for batch in batches(merchant) {
        let items = render_settlement_items(merchant, &batch, settings)
            .map_err(|e| csv_error(&settle_dir, e))?;
        written.push(write_atomically(
            &settle_dir,
            &settlement_items_name(batch.currency.code(), &batch.id),
            &items,
        )?);
        let summary = render_settlement_summary(merchant, &batch, settings)
            .map_err(|e| csv_error(&settle_dir, e))?;
        written.push(write_atomically(
            &settle_dir,
            &settlement_summary_name(batch.currency.code(), &batch.id),
            &summary,
        )?);
    }
    let transaction_prefix = format!("transactionItems_{}_", merchant.day);
    remove_stale(&day_dir, &written, |name| {
        name.starts_with(&transaction_prefix)
    })?;
    remove_stale(&settle_dir, &written, |name| {
        name.starts_with("settlementItems_") || name.starts_with("settlementSummary_")
    })?;
    Ok(written)
}

fn csv_error(dir: &Path, error: csv::Error) -> SandboxError {
    SandboxError::DataDir {
        path: dir.to_path_buf(),
        reason: format!("cannot encode a report: {error}"),
    }
}

fn io_error(path: &Path, error: std::io::Error) -> SandboxError {
    SandboxError::DataDir {
        path: path.to_path_buf(),
        reason: error.to_string(),
    }
}

/// Writes `bytes` as `dir/name` so that a reader (an SFTP client mid-download) sees the old
/// file or the new one, never half of one: a temporary file in the same folder, synced, then
/// renamed over the name.
fn write_atomically(dir: &Path, name: &str, bytes: &[u8]) -> Result<PathBuf, SandboxError> {
    std::fs::create_dir_all(dir).map_err(|e| io_error(dir, e))?;
    let path = dir.join(name);
    let mut temporary = tempfile::Builder::new()
        .prefix(".report-")
        .suffix(".tmp")
        .tempfile_in(dir)
        .map_err(|e| io_error(dir, e))?;
    temporary
        .write_all(bytes)
        .and_then(|()| temporary.as_file().sync_all())
        .map_err(|e| io_error(&path, e))?;
    temporary
        .persist(&path)
        .map_err(|e| io_error(&path, e.error))?;
    Ok(path)
}

/// Removes the files in `dir` that `is_ours` claims and this publication did not write.
fn remove_stale(
    dir: &Path,
    written: &[PathBuf],
    is_ours: impl Fn(&str) -> bool,
) -> Result<(), SandboxError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(io_error(dir, e)),
    };
    for entry in entries {
        let entry = entry.map_err(|e| io_error(dir, e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let path = entry.path();
        if name.ends_with(".csv") && is_ours(&name) && !written.contains(&path) {
            std::fs::remove_file(&path).map_err(|e| io_error(&path, e))?;
        }
    }
    Ok(())
}

/// One settlement batch: a merchant's rows of one currency.
struct Batch<'a> {
    currency: Currency,
    id: String,
    settlement_time: String,
    rows: Vec<&'a ReportRow>,
}

/// The merchant's batches, by currency code.
fn batches(merchant: &MerchantDay) -> Vec<Batch<'_>> {
    let currencies: BTreeSet<&'static str> =
        merchant.rows.iter().map(|r| r.currency.code()).collect();
    let settlement_day = merchant.day.next();
    currencies
        .into_iter()
        .filter_map(|code| {
            let rows: Vec<&ReportRow> = merchant
                .rows
                .iter()
                .filter(|r| r.currency.code() == code)
                .collect();
            let currency = rows.first()?.currency;
            Some(Batch {
                currency,
                id: settlement_batch_id(&merchant.customer_id, code, settlement_day),
                settlement_time: wire_time(settlement_day.start_ms()),
                rows,
            })
        })
        .collect()
}

fn writer() -> csv::Writer<Vec<u8>> {
    csv::WriterBuilder::new()
        .terminator(csv::Terminator::Any(b'\n'))
        .from_writer(Vec::new())
}

fn finish(writer: csv::Writer<Vec<u8>>) -> Result<Vec<u8>, csv::Error> {
    let mut bytes = writer
        .into_inner()
        .map_err(|e| csv::Error::from(std::io::Error::other(e.to_string())))?;
    bytes.extend_from_slice(END_LINE.as_bytes());
    bytes.push(b'\n');
    Ok(bytes)
}

/// The `transactionItems` file of a merchant's day.
pub fn render_transaction_items(merchant: &MerchantDay) -> Result<Vec<u8>, csv::Error> {
    let mut w = writer();
    w.write_record(TRANSACTION_ITEMS_HEADER)?;
    for row in &merchant.rows {
        w.write_record([
            merchant.customer_id.as_str(),
            ACQUIRER,
            "",
            &row.reference_merchant_id,
            &row.reference_store_id,
            &row.transaction_id,
            &row.original_transaction_id,
            &row.transaction_request_id,
            &row.reference_transaction_id,
            &row.order_description,
            &row.payment_method_type,
            &row.psp_name,
            row.transaction_type.as_str(),
            &row.payment_time(),
            PRODUCT_CODE,
            &major_units(row.amount_minor, row.currency),
            row.currency.code(),
            &row.original_transaction_request_id,
            "",
            "",
            "",
        ])?;
    }
    finish(w)
}

fn render_settlement_items(
    merchant: &MerchantDay,
    batch: &Batch<'_>,
    settings: &ReportSettings,
) -> Result<Vec<u8>, csv::Error> {
    let mut w = writer();
    w.write_record(SETTLEMENT_ITEMS_HEADER)?;
    let code = batch.currency.code();
    for row in &batch.rows {
        let amount = major_units(row.amount_minor, row.currency);
        w.write_record([
            batch.id.as_str(),
            ACQUIRER,
            &merchant.customer_id,
            "",
            &row.reference_merchant_id,
            &row.reference_store_id,
            &row.transaction_id,
            &row.original_transaction_id,
            &row.transaction_request_id,
            &row.reference_transaction_id,
            &row.payment_method_type,
            &row.psp_name,
            row.transaction_type.as_str(),
            &row.payment_time(),
            &batch.settlement_time,
            PRODUCT_CODE,
            &amount,
            code,
            &amount,
            code,
            "",
            "",
            &major_units(row.fee_minor(settings.fee_rate_bps), row.currency),
            code,
            "",
            "",
            "",
            "",
            &row.original_transaction_request_id,
        ])?;
    }
    finish(w)
}

/// `(count, settlement, fee)` of the rows `keep` selects.
fn sums(
    rows: &[&ReportRow],
    fee_rate_bps: u32,
    keep: impl Fn(&ReportRow) -> bool,
) -> (usize, i128, i128) {
    rows.iter()
        .filter(|r| keep(r))
        .fold((0, 0, 0), |(count, amount, fee), r| {
            (
                count + 1,
                amount + r.amount_minor,
                fee + r.fee_minor(fee_rate_bps),
            )
        })
}

fn render_settlement_summary(
    merchant: &MerchantDay,
    batch: &Batch<'_>,
    settings: &ReportSettings,
) -> Result<Vec<u8>, csv::Error> {
    let mut w = writer();
    w.write_record(SETTLEMENT_SUMMARY_HEADER)?;
    let code = batch.currency.code();
    let mut line = |summary_type: &str, (count, amount, fee): (usize, i128, i128)| {
        w.write_record([
            batch.id.as_str(),
            &merchant.customer_id,
            ACQUIRER,
            summary_type,
            &batch.settlement_time,
            &count.to_string(),
            &major_units(amount, batch.currency),
            code,
            &major_units(fee, batch.currency),
            code,
        ])
    };
    for kind in [
        TransactionType::Payment,
        TransactionType::Refund,
        TransactionType::Cancel,
    ] {
        let of_kind = sums(&batch.rows, settings.fee_rate_bps, |r| {
            r.transaction_type == kind
        });
        if of_kind.0 > 0 {
            line(kind.as_str(), of_kind)?;
        }
    }
    line("TOTAL", sums(&batch.rows, settings.fee_rate_bps, |_| true))?;
    finish(w)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sandbox::ledger::{
        LedgerPaymentState, PaymentRow, RefundRow, insert_payment, insert_refund,
    };

    /// 2026-12-01T00:00:00+08:00.
    const DEC_1: i64 = 1_796_054_400_000;

    fn day(text: &str) -> AlipayDay {
        AlipayDay::parse(text).unwrap()
    }

    #[test]
    fn major_units_follow_every_exponent_exactly() {
        let usd = Currency::USD;
        let jpy = Currency::JPY;
        let kwd = Currency::from_code("KWD").unwrap();
        assert_eq!(kwd.exponent(), 3);
        assert_eq!(major_units(1250, usd), "12.50");
        assert_eq!(major_units(-1250, usd), "-12.50");
        assert_eq!(major_units(5, usd), "0.05");
        assert_eq!(major_units(-5, usd), "-0.05");
        assert_eq!(major_units(0, usd), "0.00");
        assert_eq!(major_units(18_000, Currency::KRW), "18000");
        assert_eq!(major_units(-9_000, jpy), "-9000");
        assert_eq!(major_units(0, jpy), "0");
        assert_eq!(major_units(1_250, kwd), "1.250");
        assert_eq!(major_units(-1, kwd), "-0.001");
        assert_eq!(major_units(9_999_999_999_999_999, usd), "99999999999999.99");
        for currency in Currency::all() {
            let text = major_units(123_456, currency);
            let decimals = text.split_once('.').map_or(0, |(_, f)| f.len());
            assert_eq!(decimals, usize::from(currency.exponent()), "{currency}");
        }
    }

    #[test]
    fn fees_round_half_away_from_zero_in_minor_units() {
        assert_eq!(fee_minor(1250, 60), 8); // 7.5 → 8
        assert_eq!(fee_minor(1249, 60), 7); // 7.494 → 7
        assert_eq!(fee_minor(2500, 60), 15);
        assert_eq!(fee_minor(83, 60), 0); // 0.498 → 0
        assert_eq!(fee_minor(84, 60), 1); // 0.504 → 1
        assert_eq!(fee_minor(1000, 0), 0);
        assert_eq!(fee_minor(1000, 10_000), 1000);
        assert_eq!(
            fee_minor(9_999_999_999_999_999, 10_000),
            9_999_999_999_999_999
        );
        let payment = ReportRow {
            transaction_type: TransactionType::Payment,
            at_ms: 0,
            transaction_id: String::new(),
            original_transaction_id: String::new(),
            transaction_request_id: String::new(),
            original_transaction_request_id: String::new(),
            reference_merchant_id: String::new(),
            reference_store_id: String::new(),
            reference_transaction_id: String::new(),
            order_description: String::new(),
            payment_method_type: String::new(),
            psp_name: String::new(),
            currency: Currency::USD,
            amount_minor: 1250,
        };
        assert_eq!(payment.fee_minor(60), -8);
        let refund = ReportRow {
            transaction_type: TransactionType::Refund,
            amount_minor: -1250,
            ..payment.clone()
        };
        assert_eq!(refund.fee_minor(60), 8);
    }

    #[test]
    fn days_end_at_23_59_59_999_gmt_plus_8() {
        let dec_1 = day("20261201");
        assert_eq!(dec_1.start_ms(), DEC_1);
        assert_eq!(dec_1.end_ms(), DEC_1 + 86_400_000);
        assert_eq!(AlipayDay::of_ms(DEC_1), dec_1);
        assert_eq!(AlipayDay::of_ms(DEC_1 - 1), day("20261130"));
        assert_eq!(AlipayDay::of_ms(DEC_1 + 86_400_000 - 1), dec_1);
        assert_eq!(AlipayDay::of_ms(DEC_1 + 86_400_000), day("20261202"));
        // 16:00 UTC is midnight in GMT+8.
        assert_eq!(wire_time(DEC_1), "2026-12-01T00:00:00+08:00");
        assert!(!dec_1.is_over(DEC_1 + 86_400_000 - 1));
        assert!(dec_1.is_over(DEC_1 + 86_400_000));
        assert_eq!(day("20261231").next(), day("20270101"));
        assert_eq!(day("20270101").previous(), day("20261231"));
        assert_eq!(day("20280228").next(), day("20280229"));
    }

    #[test]
    fn dates_are_read_strictly() {
        assert_eq!(day("20261201").yyyymmdd(), "20261201");
        for bad in [
            "2026121",
            "202612011",
            "2026-12-01",
            "20261301",
            "20260230",
            "20261200",
            "abcdefgh",
            "",
            " 20261201",
            "+2026121",
        ] {
            let e = AlipayDay::parse(bad).unwrap_err().to_string();
            assert!(e.contains("YYYYMMDD"), "{bad}: {e}");
        }
    }

    #[test]
    fn names_and_ids_have_alipays_shape() {
        let dec_1 = day("20261201");
        assert_eq!(
            transaction_items_name(dec_1),
            "transactionItems_20261201_000.csv"
        );
        let customer = customer_id("SANDBOX_POS_1");
        assert_eq!(customer.len(), 19);
        assert!(customer.starts_with("102218"));
        assert!(customer.bytes().all(|b| b.is_ascii_digit()));
        assert_eq!(customer, customer_id("SANDBOX_POS_1"));
        assert_ne!(customer, customer_id("SANDBOX_POS_2"));
        let batch = settlement_batch_id(&customer, "USD", dec_1.next());
        assert_eq!(batch.len(), 19);
        assert!(batch.starts_with("20261202"));
        assert!(batch.bytes().all(|b| b.is_ascii_digit()));
        assert_ne!(batch, settlement_batch_id(&customer, "EUR", dec_1.next()));
        assert_eq!(
            settlement_items_name("USD", &batch),
            format!("settlementItems_USD_{batch}_000.csv")
        );
        assert_eq!(
            settlement_summary_name("USD", &batch),
            format!("settlementSummary_USD_{batch}_000.csv")
        );
        let root = Path::new("/data/sftp");
        let dir = settlement_dir(root, &customer, dec_1);
        assert_eq!(
            sftp_path(root, &dir.join("x.csv")),
            format!("/v1/settlements/{customer}/20261201/x.csv")
        );
    }

    /// A processing USD Order Code payment of client `C` with request id `R-<id>`.
    fn unpaid(id: &str, amount: u64) -> PaymentRow {
        PaymentRow {
            payment_id: id.into(),
            client_id: "C".into(),
            payment_request_id: format!("R-{id}"),
            scenario: "OrderCode".into(),
            currency: "USD".into(),
            amount,
            key_params: "{}".into(),
            request_json: r#"{"order":{"referenceOrderId":"O-1","orderDescription":"Tea, hot","merchant":{"referenceMerchantId":"M1","store":{"referenceStoreId":"S1"}}},"paymentMethod":{"paymentMethodType":"CONNECT_WALLET"}}"#.into(),
            status: LedgerPaymentState::Processing,
            result_code: "PAYMENT_IN_PROCESS".into(),
            result_message: "m".into(),
            created_at: 0,
            expire_at: i64::MAX,
            payment_time: None,
            paid_at: None,
            cancel_time: None,
            wallet_token: None,
            notify_url: None,
            psp_json: Some(r#"{"pspName":"ALIPAYCN"}"#.into()),
            answer: None,
            magic_inquiry: None,
        }
    }

    fn paid(id: &str, amount: u64, paid_at: i64) -> PaymentRow {
        let mut p = unpaid(id, amount);
        p.status = LedgerPaymentState::Success;
        p.paid_at = Some(paid_at);
        p.payment_time = Some(paid_at);
        p
    }

    #[test]
    fn rows_fall_on_the_day_of_their_own_time() {
        let ledger = Ledger::open_in_memory().unwrap();
        let last_ms = DEC_1 + 86_400_000 - 1;
        ledger
            .run(|tx| {
                insert_payment(tx, &paid("P-BEFORE", 100, DEC_1 - 1))?;
                insert_payment(tx, &paid("P-FIRST", 200, DEC_1))?;
                insert_payment(tx, &paid("P-LAST", 300, last_ms))?;
                insert_payment(tx, &paid("P-NEXT", 400, last_ms + 1))?;
                // Paid the day before, cancelled at the first millisecond of the day.
                let mut cancelled = paid("P-CANCELLED", 500, DEC_1 - 10);
                cancelled.status = LedgerPaymentState::Cancelled;
                cancelled.cancel_time = Some(DEC_1);
                insert_payment(tx, &cancelled)?;
                // Cancelled before it was paid: no money moved, no row.
                let mut never_paid = unpaid("P-UNPAID", 600);
                never_paid.status = LedgerPaymentState::Cancelled;
                never_paid.cancel_time = Some(DEC_1 + 5);
                insert_payment(tx, &never_paid)?;
                // Failed: no row.
                let mut failed = unpaid("P-FAILED", 700);
                failed.status = LedgerPaymentState::Fail;
                failed.payment_time = Some(DEC_1 + 6);
                insert_payment(tx, &failed)?;
                insert_refund(
                    tx,
                    &RefundRow {
                        refund_id: "F-1".into(),
                        client_id: "C".into(),
                        refund_request_id: "RR-1".into(),
                        payment_id: "P-FIRST".into(),
                        currency: "USD".into(),
                        amount: 50,
                        key_params: "{}".into(),
                        refund_time: last_ms,
                        answer: "{}".into(),
                    },
                )
            })
            .unwrap();
        let rows = ledger.run(|tx| collect(tx, "C", day("20261201"))).unwrap();
        let seen: Vec<(&str, &str, i128)> = rows
            .iter()
            .map(|r| {
                (
                    r.transaction_type.as_str(),
                    r.transaction_id.as_str(),
                    r.amount_minor,
                )
            })
            .collect();
        assert_eq!(
            seen,
            [
                ("PAYMENT", "P-FIRST", 200),
                ("CANCEL", "P-CANCELLED", -500),
                ("PAYMENT", "P-LAST", 300),
                ("REFUND", "F-1", -50),
            ]
        );
        let refund = &rows[3];
        assert_eq!(refund.original_transaction_id, "P-FIRST");
        assert_eq!(refund.transaction_request_id, "RR-1");
        assert_eq!(refund.original_transaction_request_id, "R-P-FIRST");
        let cancel = &rows[1];
        assert_eq!(cancel.transaction_request_id, "R-P-CANCELLED");
        assert_eq!(cancel.original_transaction_request_id, "R-P-CANCELLED");
        assert_eq!(cancel.original_transaction_id, "");
        let before = ledger.run(|tx| collect(tx, "C", day("20261130"))).unwrap();
        let ids: Vec<&str> = before.iter().map(|r| r.transaction_id.as_str()).collect();
        assert_eq!(ids, ["P-CANCELLED", "P-BEFORE"]);
        assert!(
            ledger
                .run(|tx| collect(tx, "OTHER", day("20261201")))
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn a_day_is_published_only_after_its_cut_off_and_regenerates_identically() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join(SFTP_DIR);
        let ledger = Ledger::open_in_memory().unwrap();
        ledger
            .run(|tx| {
                insert_payment(tx, &paid("P-1", 1250, DEC_1 + 1_000))?;
                let mut eur = paid("P-2", 999, DEC_1 + 2_000);
                eur.currency = "EUR".into();
                insert_payment(tx, &eur)
            })
            .unwrap();
        let settings = ReportSettings::default();
        let dec_1 = day("20261201");
        let e = publish(&ledger, &root, dec_1, &settings, dec_1.end_ms() - 1)
            .unwrap_err()
            .to_string();
        assert!(e.contains("has not ended yet"), "{e}");
        let files = publish(&ledger, &root, dec_1, &settings, dec_1.end_ms()).unwrap();
        let names: Vec<String> = files
            .iter()
            .map(|f| f.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names.len(), 5, "{names:?}");
        assert_eq!(names[0], "transactionItems_20261201_000.csv");
        assert!(names[1].starts_with("settlementItems_EUR_20261202"));
        assert!(names[2].starts_with("settlementSummary_EUR_20261202"));
        assert!(names[3].starts_with("settlementItems_USD_20261202"));
        assert!(names[4].starts_with("settlementSummary_USD_20261202"));
        let customer = customer_id("C");
        assert_eq!(
            files[0].parent().unwrap(),
            root.join(format!("v1/settlements/{customer}/20261201"))
        );
        assert_eq!(
            files[1].parent().unwrap(),
            root.join(format!("v1/settlements/{customer}/20261202"))
        );
        let before: Vec<Vec<u8>> = files.iter().map(|f| std::fs::read(f).unwrap()).collect();
        let text = String::from_utf8(before[0].clone()).unwrap();
        assert!(text.ends_with("\n<END>\n"), "{text}");
        assert!(text.contains(",PAYMENT,2026-12-01T00:00:01+08:00,IN_STORE_PAYMENT,12.50,USD,"));
        let summary = String::from_utf8(before[4].clone()).unwrap();
        assert!(
            summary.contains(",PAYMENT,2026-12-02T00:00:00+08:00,1,12.50,USD,-0.08,USD\n"),
            "{summary}"
        );
        assert!(
            summary.contains(",TOTAL,2026-12-02T00:00:00+08:00,1,12.50,USD,-0.08,USD\n"),
            "{summary}"
        );

        let again = publish(&ledger, &root, dec_1, &settings, dec_1.end_ms() + 5).unwrap();
        assert_eq!(again, files);
        let after: Vec<Vec<u8>> = again.iter().map(|f| std::fs::read(f).unwrap()).collect();
        assert_eq!(after, before);

        // The EUR payment disappears from the ledger: its batch's files go too.
        ledger
            .run(|tx| {
                tx.execute("DELETE FROM payments WHERE payment_id = 'P-2'", [])?;
                Ok(())
            })
            .unwrap();
        let fewer = publish(&ledger, &root, dec_1, &settings, dec_1.end_ms()).unwrap();
        assert_eq!(fewer.len(), 3);
        assert!(!files[1].exists() && !files[2].exists());
        let leftovers = std::fs::read_dir(files[1].parent().unwrap())
            .unwrap()
            .count();
        assert_eq!(
            leftovers, 2,
            "only the USD batch (no temporary files) is left"
        );
    }

    #[test]
    fn empty_days_give_an_empty_file_or_none() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join(SFTP_DIR);
        let ledger = Ledger::open_in_memory().unwrap();
        prepare(
            &ledger,
            &ReportSettings::default(),
            &["C".to_owned()],
            DEC_1,
        )
        .unwrap();
        let dec_1 = day("20261201");
        let files = publish(&ledger, &root, dec_1, &ReportSettings::default(), DEC_1 * 2).unwrap();
        assert_eq!(files.len(), 1);
        let text = std::fs::read_to_string(&files[0]).unwrap();
        assert_eq!(
            text,
            format!("{}\n<END>\n", TRANSACTION_ITEMS_HEADER.join(","))
        );
        let none = ReportSettings {
            empty_day: EmptyDay::NoFile,
            ..ReportSettings::default()
        };
        assert!(
            publish(&ledger, &root, dec_1, &none, DEC_1 * 2)
                .unwrap()
                .is_empty()
        );
        assert!(!files[0].exists(), "the stale empty file is removed");
    }

    #[test]
    fn the_automatic_publication_catches_up_on_closed_days_once() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join(SFTP_DIR);
        let ledger = Ledger::open_in_memory().unwrap();
        let settings = ReportSettings::default();
        let through = prepare(&ledger, &settings, &["C".to_owned()], DEC_1 + 5).unwrap();
        assert_eq!(through, day("20261130"));
        // Still on Dec 1: nothing is due.
        let (same, none) = publish_due(&ledger, &root, &settings, through, DEC_1 + 9).unwrap();
        assert_eq!(same, through);
        assert!(none.is_empty());
        // Three days later: Dec 1, 2 and 3 have closed.
        let now = DEC_1 + 3 * 86_400_000;
        let (through, files) = publish_due(&ledger, &root, &settings, through, now).unwrap();
        assert_eq!(through, day("20261203"));
        let names: Vec<String> = files
            .iter()
            .map(|f| f.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            names,
            [
                "transactionItems_20261201_000.csv",
                "transactionItems_20261202_000.csv",
                "transactionItems_20261203_000.csv"
            ]
        );
        // Kept in the ledger: a restart does not publish them again.
        assert_eq!(
            prepare(&ledger, &settings, &[], now).unwrap(),
            day("20261203")
        );
        let stored = ledger.run(stored_settings).unwrap();
        assert_eq!(stored, settings);
    }
}
