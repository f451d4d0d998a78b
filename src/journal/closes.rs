//! End-of-day closes: the Z report, written once per local business day and never changed.
//!
//! A close adds up the day inside the same IMMEDIATE transaction that inserts its record, so
//! the figures are those of one moment: no payment can turn paid between the totals and the
//! insert. The figures are stored, not recomputed on reading, because a close is evidence of
//! what the till showed when the manager closed it; what happened to the day afterwards (a
//! refund, a late resolution) is shown *against* the close ([`DayCloseReport::later_events`],
//! [`DayCloseReport::totals_now`]), never folded into it.
//!
//! What a day is: [`crate::local_time::day_bounds`] in the terminal's zone, the same bounds
//! `journal totals` and the manager's End of day use, so a close and the totals of its day
//! agree. Within the day:
//! - totals per currency: paid payments by `paid_at`, succeeded refunds by `refunded_at`
//!   (exactly [`super::Reader::daily_totals`]);
//! - counts per state: the payments and refunds *created* that day, by their state at close;
//! - first and last payment: the day's paid payments, by `paid_at`;
//! - unresolved at close: the day's payments and refunds not final yet (any open state).

use std::ops::Range;

use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};
use time::{Date, OffsetDateTime};

use crate::money::{Currency, MinorTotal, Money};

use super::error::JournalError;
use super::events::{EventRecord, events_after};
use super::report::{CurrencyTotals, ProductTotals, SignedTotal, totals_by_day};
use super::state::{PaymentState, Product, RefundState};
use super::timestamp::{from_stored, to_stored};
use super::{Journal, check_text};

/// One payment as a close names it: the first or the last paid of the day.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PaymentMark {
    pub payment_request_id: String,
    pub paid_at: OffsetDateTime,
}

/// The state of Alipay's reports for the day when it was closed: what the manager knew.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReconciliationAtClose {
    /// Report files of that day imported so far.
    pub files_imported: u64,
    /// Report rows matched to a journal entry.
    pub matched: u64,
    /// Report rows that are not this terminal's.
    pub not_ours: u64,
    /// Discrepancies not accepted yet.
    pub open_discrepancies: u64,
}

/// One close record, as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DayClose {
    /// 1, 2, 3… without gaps.
    pub number: u64,
    /// The local business day closed.
    pub date: Date,
    /// The zone the day was counted in (`Asia/Shanghai`).
    pub time_zone: String,
    /// The instants the day covered.
    pub day: Range<OffsetDateTime>,
    pub closed_at: OffsetDateTime,
    /// The manager who closed it.
    pub closed_by: String,
    /// The event log's last `seq` when the day was closed.
    pub last_event_seq: i64,
    /// Per currency (code order), as at close.
    pub totals: Vec<CurrencyTotals>,
    /// Payments created that day, per state at close (every state, zeros included).
    pub payment_counts: Vec<(PaymentState, u64)>,
    /// Refunds created that day, per state at close.
    pub refund_counts: Vec<(RefundState, u64)>,
    pub first_payment: Option<PaymentMark>,
    pub last_payment: Option<PaymentMark>,
    /// The day's payments not final at close.
    pub unresolved_payments: u64,
    /// The day's refunds not final at close.
    pub unresolved_refunds: u64,
    /// `None`: no report of that day had been imported.
    pub reconciliation: Option<ReconciliationAtClose>,
}

impl DayClose {
    /// Whether anything was still open at close (the close warns about it).
    pub fn has_unresolved(&self) -> bool {
        self.unresolved_payments > 0 || self.unresolved_refunds > 0
    }
}

/// One event that happened to a closed day's payment or refund after the close.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LaterEvent {
    pub event: EventRecord,
    /// The `paymentRequestId` or `refundRequestId` the event is about.
    pub request_id: String,
}

/// A closed day's report: the close as recorded, and what changed since.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DayCloseReport {
    pub close: DayClose,
    /// The day's totals as they are now, per currency; equal to `close.totals` when nothing
    /// changed.
    pub totals_now: Vec<CurrencyTotals>,
    /// Events about the day's payments and refunds after the close, oldest first.
    pub later_events: Vec<LaterEvent>,
}

impl DayCloseReport {
    /// Whether the day's totals moved since the close.
    pub fn totals_changed(&self) -> bool {
        self.totals_now != self.close.totals
    }
}

/// The stored `figures` column. Amounts are integer minor units.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Figures {
    totals: Vec<StoredTotals>,
    payment_counts: Vec<(String, u64)>,
    refund_counts: Vec<(String, u64)>,
    first_payment: Option<StoredMark>,
    last_payment: Option<StoredMark>,
    reconciliation: Option<ReconciliationAtClose>,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct StoredTotals {
    currency: String,
    paid_count: u64,
    paid_minor: u64,
    refunded_count: u64,
    refunded_minor: u64,
    by_product: Vec<StoredProductTotals>,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct StoredProductTotals {
    product: String,
    paid_count: u64,
    paid_minor: u64,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct StoredMark {
    payment_request_id: String,
    paid_at: String,
}

fn store_totals(totals: &CurrencyTotals) -> StoredTotals {
    StoredTotals {
        currency: totals.currency.code().to_owned(),
        paid_count: totals.paid_count,
        paid_minor: totals.paid.minor(),
        refunded_count: totals.refunded_count,
        refunded_minor: totals.refunded.minor(),
        by_product: totals
            .by_product
            .iter()
            .map(|part| StoredProductTotals {
                product: part.product.as_str().to_owned(),
                paid_count: part.paid_count,
                paid_minor: part.paid.minor(),
            })
            .collect(),
    }
}

fn total_from(minor: u64, currency: Currency, what: &str) -> Result<MinorTotal, JournalError> {
    if minor == 0 {
        return Ok(MinorTotal::zero(currency));
    }
    Money::from_minor(minor, currency)
        .map(MinorTotal::from)
        .map_err(|_| JournalError::Unreadable {
            what: format!("{what}: {minor} {}", currency.code()),
        })
}

fn read_totals(
    date: Date,
    stored: StoredTotals,
    what: &str,
) -> Result<CurrencyTotals, JournalError> {
    let currency = Currency::from_code(&stored.currency).map_err(|_| JournalError::Unreadable {
        what: format!("{what}: currency `{}`", stored.currency),
    })?;
    let paid = total_from(stored.paid_minor, currency, what)?;
    let refunded = total_from(stored.refunded_minor, currency, what)?;
    let by_product = stored
        .by_product
        .into_iter()
        .map(|part| {
            Ok(ProductTotals {
                product: Product::parse(&part.product).ok_or_else(|| JournalError::Unreadable {
                    what: format!("{what}: product `{}`", part.product),
                })?,
                paid_count: part.paid_count,
                paid: total_from(part.paid_minor, currency, what)?,
            })
        })
        .collect::<Result<Vec<_>, JournalError>>()?;
    let net = i128::from(paid.minor()) - i128::from(refunded.minor());
    Ok(CurrencyTotals {
        date,
        currency,
        paid_count: stored.paid_count,
        paid,
        refunded_count: stored.refunded_count,
        refunded,
        net: SignedTotal::from_minor(net, currency)?,
        by_product,
    })
}

/// The state of Alipay's reports for `date` when it is closed, for the close record: the
/// report files imported for Alipay's day of the same calendar date (`yyyyMMdd`; Alipay's
/// day runs in GMT+8, the close's in the terminal's zone: the same date is the closest
/// match a manager expects), their matched and not-ours rows, and the discrepancies of that
/// day still open. `None` when no file of that day was imported yet.
fn reconciliation_at_close(
    conn: &Connection,
    date: Date,
) -> Result<Option<ReconciliationAtClose>, JournalError> {
    let day = format!(
        "{:04}{:02}{:02}",
        date.year(),
        u8::from(date.month()),
        date.day()
    );
    let (files, matched, not_ours): (i64, i64, i64) = conn.query_row(
        "SELECT count(*), coalesce(sum(matched), 0), coalesce(sum(not_ours), 0)
         FROM report_files WHERE report_date = ?1",
        [&day],
        |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
    )?;
    if files == 0 {
        return Ok(None);
    }
    let open: i64 = conn.query_row(
        "SELECT count(*) FROM discrepancies WHERE report_date = ?1 AND resolution IS NULL",
        [&day],
        |row| row.get(0),
    )?;
    let count = |n: i64| {
        u64::try_from(n).map_err(|_| JournalError::Unreadable {
            what: format!("reconciliation count {n}"),
        })
    };
    Ok(Some(ReconciliationAtClose {
        files_imported: count(files)?,
        matched: count(matched)?,
        not_ours: count(not_ours)?,
        open_discrepancies: count(open)?,
    }))
}

const CLOSE_COLUMNS: &str = "number, local_date, time_zone, day_start, day_end, closed_at, \
    closed_by, last_event_seq, unresolved_payments, unresolved_refunds, figures";

struct RawClose {
    number: i64,
    local_date: String,
    time_zone: String,
    day_start: String,
    day_end: String,
    closed_at: String,
    closed_by: String,
    last_event_seq: i64,
    unresolved_payments: i64,
    unresolved_refunds: i64,
    figures: String,
}

fn read_raw(row: &rusqlite::Row<'_>) -> rusqlite::Result<RawClose> {
    Ok(RawClose {
        number: row.get(0)?,
        local_date: row.get(1)?,
        time_zone: row.get(2)?,
        day_start: row.get(3)?,
        day_end: row.get(4)?,
        closed_at: row.get(5)?,
        closed_by: row.get(6)?,
        last_event_seq: row.get(7)?,
        unresolved_payments: row.get(8)?,
        unresolved_refunds: row.get(9)?,
        figures: row.get(10)?,
    })
}

const DATE_FORMAT: &[time::format_description::FormatItem<'static>] =
    time::macros::format_description!("[year]-[month]-[day]");

impl RawClose {
    fn into_record(self) -> Result<DayClose, JournalError> {
        let what = format!("day close #{}", self.number);
        let unreadable = |detail: String| JournalError::Unreadable {
            what: format!("{what}: {detail}"),
        };
        let count =
            |name: &str, n: i64| u64::try_from(n).map_err(|_| unreadable(format!("{name} {n}")));
        let date = Date::parse(&self.local_date, DATE_FORMAT)
            .map_err(|_| unreadable(format!("date `{}`", self.local_date)))?;
        let figures: Figures = serde_json::from_str(&self.figures)
            .map_err(|e| unreadable(format!("figures ({e})")))?;
        let totals = figures
            .totals
            .into_iter()
            .map(|stored| read_totals(date, stored, &what))
            .collect::<Result<Vec<_>, _>>()?;
        let payment_counts = figures
            .payment_counts
            .into_iter()
            .map(|(state, n)| {
                PaymentState::parse(&state)
                    .map(|state| (state, n))
                    .ok_or_else(|| unreadable(format!("payment state `{state}`")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let refund_counts = figures
            .refund_counts
            .into_iter()
            .map(|(state, n)| {
                RefundState::parse(&state)
                    .map(|state| (state, n))
                    .ok_or_else(|| unreadable(format!("refund state `{state}`")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let mark = |stored: Option<StoredMark>| -> Result<Option<PaymentMark>, JournalError> {
            stored
                .map(|m| {
                    Ok(PaymentMark {
                        paid_at: from_stored(&m.paid_at)?,
                        payment_request_id: m.payment_request_id,
                    })
                })
                .transpose()
        };
        Ok(DayClose {
            number: count("number", self.number)?,
            date,
            time_zone: self.time_zone,
            day: from_stored(&self.day_start)?..from_stored(&self.day_end)?,
            closed_at: from_stored(&self.closed_at)?,
            closed_by: self.closed_by,
            last_event_seq: self.last_event_seq,
            totals,
            payment_counts,
            refund_counts,
            first_payment: mark(figures.first_payment)?,
            last_payment: mark(figures.last_payment)?,
            unresolved_payments: count("unresolved payments", self.unresolved_payments)?,
            unresolved_refunds: count("unresolved refunds", self.unresolved_refunds)?,
            reconciliation: figures.reconciliation,
        })
    }
}

/// Every close, by number.
pub(crate) fn list_closes(conn: &Connection) -> Result<Vec<DayClose>, JournalError> {
    let mut statement = conn.prepare_cached(&format!(
        "SELECT {CLOSE_COLUMNS} FROM day_closes ORDER BY number"
    ))?;
    let raws = statement
        .query_map([], read_raw)?
        .collect::<Result<Vec<_>, _>>()?;
    raws.into_iter().map(RawClose::into_record).collect()
}

/// One message per close record that cannot be read back, for `journal check`.
pub(crate) fn unreadable_closes(conn: &Connection) -> Result<Vec<String>, JournalError> {
    let mut statement = conn.prepare(&format!(
        "SELECT {CLOSE_COLUMNS} FROM day_closes ORDER BY number"
    ))?;
    let raws = statement
        .query_map([], read_raw)?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(raws
        .into_iter()
        .filter_map(|raw| RawClose::into_record(raw).err().map(|e| e.to_string()))
        .collect())
}

/// The close of `date`, if it was closed.
pub(crate) fn close_of_day(
    conn: &Connection,
    date: Date,
) -> Result<Option<DayClose>, JournalError> {
    let raw = conn
        .prepare_cached(&format!(
            "SELECT {CLOSE_COLUMNS} FROM day_closes WHERE local_date = ?1"
        ))?
        .query_row([date.to_string()], read_raw)
        .optional()?;
    raw.map(RawClose::into_record).transpose()
}

/// Close number `number`, if there is one.
pub(crate) fn close_number(
    conn: &Connection,
    number: u64,
) -> Result<Option<DayClose>, JournalError> {
    let Ok(number) = i64::try_from(number) else {
        return Ok(None);
    };
    let raw = conn
        .prepare_cached(&format!(
            "SELECT {CLOSE_COLUMNS} FROM day_closes WHERE number = ?1"
        ))?
        .query_row([number], read_raw)
        .optional()?;
    raw.map(RawClose::into_record).transpose()
}

/// `close` with what happened since: the day's totals now and the later events, read in one
/// transaction so they agree.
pub(crate) fn report_of(
    conn: &Connection,
    close: DayClose,
) -> Result<DayCloseReport, JournalError> {
    let snapshot = conn.unchecked_transaction()?;
    let date = close.date;
    let bounds = close.day.clone();
    let totals_now = totals_by_day(&snapshot, date..=date, |_| bounds.clone())?;
    let start = to_stored(close.day.start, "day start")?;
    let end = to_stored(close.day.end, "day end")?;
    let later_events = events_after(&snapshot, close.last_event_seq, &start, &end)?
        .into_iter()
        .map(|(event, request_id)| LaterEvent { event, request_id })
        .collect();
    drop(snapshot);
    Ok(DayCloseReport {
        close,
        totals_now,
        later_events,
    })
}

/// Counts per state of the rows of `table` created in `[start, end)`, for every state in
/// `names` (zeros included, in that order).
fn counts_by_state(
    conn: &Connection,
    table: &str,
    names: &[&'static str],
    start: &str,
    end: &str,
) -> Result<Vec<(&'static str, u64)>, JournalError> {
    let mut statement = conn.prepare(&format!(
        "SELECT state, count(*) FROM {table} WHERE created_at >= ?1 AND created_at < ?2 GROUP BY state"
    ))?;
    let found = statement
        .query_map(params![start, end], |row| {
            Ok((row.get::<_, String>(0)?, row.get::<_, i64>(1)?))
        })?
        .collect::<Result<Vec<_>, _>>()?;
    names
        .iter()
        .map(|name| {
            let n = found
                .iter()
                .find(|(state, _)| state == name)
                .map_or(0, |(_, n)| *n);
            let n = u64::try_from(n).map_err(|_| JournalError::Unreadable {
                what: format!("{table} count {n}"),
            })?;
            Ok((*name, n))
        })
        .collect()
}

fn paid_mark(
    conn: &Connection,
    order: &str,
    start: &str,
    end: &str,
) -> Result<Option<StoredMark>, JournalError> {
    Ok(conn
        .prepare(&format!(
            "SELECT payment_request_id, paid_at FROM payments
             WHERE state = 'paid' AND paid_at >= ?1 AND paid_at < ?2
             ORDER BY paid_at {order}, id {order} LIMIT 1"
        ))?
        .query_row(params![start, end], |row| {
            Ok(StoredMark {
                payment_request_id: row.get(0)?,
                paid_at: row.get(1)?,
            })
        })
        .optional()?)
}

impl Journal {
    /// Closes the local day `date` for `closed_by` (the approving manager): adds it up and
    /// stores the close record with the next number, in one transaction.
    ///
    /// Refuses a day that has not started yet, and a day already closed
    /// ([`JournalError::DayAlreadyClosed`], naming that close). A day with payments or
    /// refunds still open is closed; the record counts them ([`DayClose::has_unresolved`]).
    pub fn close_day(&mut self, date: Date, closed_by: &str) -> Result<DayClose, JournalError> {
        self.close_day_in(
            date,
            closed_by,
            crate::local_time::day_bounds(date),
            &crate::local_time::zone_name(),
        )
    }

    /// [`Journal::close_day`] with the day's bounds and zone given: the tests' seam for a
    /// fixed zone whatever the machine's.
    pub fn close_day_in(
        &mut self,
        date: Date,
        closed_by: &str,
        day: Range<OffsetDateTime>,
        time_zone: &str,
    ) -> Result<DayClose, JournalError> {
        check_text("closed_by", closed_by, 64, true)?;
        check_text("time_zone", time_zone, 64, true)?;
        let now = self.now();
        if day.start > now {
            return Err(JournalError::InvalidInput {
                field: "date",
                reason: format!(
                    "{date} has not started yet, so it cannot be closed; close today or an earlier day / {date} 尚未开始，不能日结；请日结今天或之前的日期"
                ),
            });
        }
        let start = to_stored(day.start, "day start")?;
        let end = to_stored(day.end, "day end")?;
        let closed_at = to_stored(now, "closed at")?;
        let tx = self.begin_write()?;
        if let Some(existing) = close_of_day(&tx, date)? {
            return Err(JournalError::DayAlreadyClosed {
                date,
                number: existing.number,
                closed_at: crate::local_time::format_local(existing.closed_at),
            });
        }
        let bounds = day.clone();
        let totals = totals_by_day(&tx, date..=date, |_| bounds.clone())?;
        let payment_names: Vec<&'static str> =
            PaymentState::ALL.iter().map(|s| s.as_str()).collect();
        let refund_names: Vec<&'static str> = RefundState::ALL.iter().map(|s| s.as_str()).collect();
        let payment_counts = counts_by_state(&tx, "payments", &payment_names, &start, &end)?;
        let refund_counts = counts_by_state(&tx, "refunds", &refund_names, &start, &end)?;
        let open_sum = |counts: &[(&'static str, u64)], open: &[&'static str]| -> u64 {
            counts
                .iter()
                .filter(|(name, _)| open.contains(name))
                .map(|(_, n)| n)
                .sum()
        };
        let open_payments: Vec<&'static str> =
            PaymentState::OPEN.iter().map(|s| s.as_str()).collect();
        let open_refunds: Vec<&'static str> =
            RefundState::OPEN.iter().map(|s| s.as_str()).collect();
        let unresolved_payments = open_sum(&payment_counts, &open_payments);
        let unresolved_refunds = open_sum(&refund_counts, &open_refunds);
        let figures = Figures {
            totals: totals.iter().map(store_totals).collect(),
            payment_counts: payment_counts
                .iter()
                .map(|(name, n)| ((*name).to_owned(), *n))
                .collect(),
            refund_counts: refund_counts
                .iter()
                .map(|(name, n)| ((*name).to_owned(), *n))
                .collect(),
            first_payment: paid_mark(&tx, "ASC", &start, &end)?,
            last_payment: paid_mark(&tx, "DESC", &start, &end)?,
            reconciliation: reconciliation_at_close(&tx, date)?,
        };
        let figures = serde_json::to_string(&figures).map_err(|e| JournalError::InvalidInput {
            field: "figures",
            reason: e.to_string(),
        })?;
        let last_event_seq: i64 =
            tx.query_row("SELECT coalesce(max(seq), 0) FROM events", [], |r| r.get(0))?;
        let number: i64 = tx.query_row(
            "SELECT coalesce(max(number), 0) + 1 FROM day_closes",
            [],
            |r| r.get(0),
        )?;
        let as_sql = |n: u64| {
            i64::try_from(n).map_err(|_| JournalError::InvalidInput {
                field: "count",
                reason: format!("{n} is beyond what the journal can store"),
            })
        };
        tx.execute(
            &format!(
                "INSERT INTO day_closes ({CLOSE_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)"
            ),
            params![
                number,
                date.to_string(),
                time_zone,
                start,
                end,
                closed_at,
                closed_by,
                last_event_seq,
                as_sql(unresolved_payments)?,
                as_sql(unresolved_refunds)?,
                figures,
            ],
        )?;
        let record = close_of_day(&tx, date)?.ok_or_else(|| JournalError::NotFound {
            what: format!("close of {date}"),
        })?;
        tx.commit()?;
        Ok(record)
    }

    /// Every close, by number.
    pub fn day_closes(&self) -> Result<Vec<DayClose>, JournalError> {
        list_closes(&self.conn)
    }
}
