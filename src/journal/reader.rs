//! The read model: a read-only handle on the journal for the faces (GUI, CLI, reports).
//!
//! It has its own SQLite connection, opened read-only: it cannot change a payment, even by
//! mistake, and it never waits for the engine's connection (the file is in WAL mode, so
//! readers see the last committed state while the engine writes). Each query is named for
//! what a screen or a command needs, and answers in one statement or one read transaction,
//! so a listing of 500 payments is one query, not 501.
//!
//! It never creates or migrates a journal: that is the writer's job ([`super::Journal`]),
//! done when the terminal starts. A journal that does not exist yet, or that an older build
//! wrote and no newer one has opened, is refused with an error that says so.

use std::fmt;
use std::ops::RangeInclusive;
use std::path::{Path, PathBuf};

use rusqlite::{Connection, OpenFlags, params_from_iter};
use time::Date;

use crate::money::{MinorTotal, Money};

use super::FILE_NAME;
use super::check::{CheckReport, check_connection};
use super::closes::{DayClose, DayCloseReport, close_number, close_of_day, list_closes, report_of};
use super::error::JournalError;
use super::events::{EventRecord, events_of};
use super::meta::{JournalIdentity, read_identity};
use super::payments::{
    self, PAYMENT_COLUMN_COUNT, PAYMENT_COLUMNS, PaymentFilter, PaymentRecord, RawPayment,
    find_by_either_id,
};
use super::refunds::{RefundRecord, query_refunds};
use super::report::{CurrencyTotals, totals_by_day};
use super::schema::{self, BUSY_TIMEOUT};
use super::state::{
    PaymentState, RefundState, open_payment_states_sql, open_refund_states_sql, sql_list,
};

/// What has happened to a payment's money since it was paid, as a manager reads it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RefundTotals {
    /// Refunds Alipay confirmed (`Succeeded`).
    pub refunded: MinorTotal,
    pub refunded_count: u64,
    /// Refunds sent or being settled (`Requested`, `Unresolved`): Alipay may still carry them
    /// out, so they already count against the payment.
    pub in_flight: MinorTotal,
    pub in_flight_count: u64,
    /// What can still be refunded: the amount minus refunded minus in flight, and zero for a
    /// payment that is not `Paid`. The same figure the journal checks a new refund against.
    pub remaining: MinorTotal,
}

/// One row of the transaction list: a payment with its refund totals.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TransactionRow {
    pub payment: PaymentRecord,
    pub refunds: RefundTotals,
}

/// Everything the detail view of one payment shows, read at one moment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PaymentDetail {
    pub payment: PaymentRecord,
    /// Oldest first.
    pub refunds: Vec<RefundRecord>,
    pub totals: RefundTotals,
    /// The payment's history, oldest first (its refunds have their own).
    pub events: Vec<EventRecord>,
}

/// A read-only handle on the journal. Cheap to keep open; `Send`, so it can live on a worker
/// thread or in `spawn_blocking`.
pub struct Reader {
    conn: Connection,
    path: PathBuf,
}

const _: fn() = || {
    fn assert_send<T: Send>() {}
    assert_send::<Reader>();
};

impl fmt::Debug for Reader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Reader")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl Reader {
    /// Opens the journal file at `path` for reading.
    ///
    /// Fails with [`JournalError::NoJournal`] when there is none yet, [`JournalError::Outdated`]
    /// when it has not been upgraded to this build's schema (the writer does that when the
    /// terminal starts), and like [`super::Journal::open`] for a file that is not a journal or
    /// comes from a newer build.
    pub fn open(path: impl AsRef<Path>) -> Result<Reader, JournalError> {
        let path = path.as_ref().to_path_buf();
        if !path.is_file() {
            return Err(JournalError::NoJournal { path });
        }
        // Read-only: SQLite refuses every write on this connection. No mutex: the connection
        // is used by one thread at a time (it is `Send`, not `Sync`).
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(&path, flags).map_err(|e| JournalError::Open {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        conn.busy_timeout(BUSY_TIMEOUT)?;
        let found = schema::user_version(&conn).map_err(|e| match e {
            JournalError::Sqlite(inner) => schema::on_first_read(inner, &path),
            JournalError::Corrupt { .. } => JournalError::NotAJournal { path: path.clone() },
            other => other,
        })?;
        schema::refuse_foreign_file(&conn, &path)?;
        let supported = schema::latest_version();
        if found == 0 {
            // An empty file: a writer created it and has not set it up (yet).
            return Err(JournalError::NoJournal { path });
        }
        if found > supported {
            return Err(JournalError::SchemaTooNew {
                path,
                found,
                supported,
            });
        }
        if found < supported {
            return Err(JournalError::Outdated {
                path,
                found,
                supported,
            });
        }
        Ok(Reader { conn, path })
    }

    /// Opens `data_dir/journal.sqlite` for reading.
    pub fn open_in(data_dir: impl AsRef<Path>) -> Result<Reader, JournalError> {
        Reader::open(data_dir.as_ref().join(FILE_NAME))
    }

    /// The connection, for the journal's own modules' shared read functions.
    pub(crate) fn connection(&self) -> &Connection {
        &self.conn
    }

    /// The file this reader reads.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The terminal the journal belongs to; `None` until one has started on it.
    pub fn identity(&self) -> Result<Option<JournalIdentity>, JournalError> {
        read_identity(&self.conn)
    }

    /// The newest registration of this merchant and store, whatever its outcome (the
    /// manager's Registration panel and `merchant status` show it).
    pub fn latest_registration(
        &self,
        merchant: &str,
        store: &str,
    ) -> Result<Option<super::RegistrationRecord>, JournalError> {
        super::registrations::latest_for(&self.conn, merchant, store)
    }

    /// The newest registration of this merchant and store that Alipay accepted: the one
    /// whose review is the store's status.
    pub fn latest_accepted_registration(
        &self,
        merchant: &str,
        store: &str,
    ) -> Result<Option<super::RegistrationRecord>, JournalError> {
        super::registrations::latest_accepted_for(&self.conn, merchant, store)
    }

    /// The registration whose review is the store's status: the newest accepted one, or
    /// else the newest of any outcome. What the Registration panel shows.
    pub fn current_registration(
        &self,
        merchant: &str,
        store: &str,
    ) -> Result<Option<super::RegistrationRecord>, JournalError> {
        super::registrations::current_for(&self.conn, merchant, store)
    }

    /// Verified registration notifications: how many distinct ones, and how many arrivals
    /// (a resend or a replay is counted, never applied twice).
    pub fn registration_notification_counts(&self) -> Result<(u64, u64), JournalError> {
        super::registrations::notification_counts(&self.conn)
    }

    /// One payment by either id a person may have: our `paymentRequestId` or Alipay's
    /// `paymentId`.
    pub fn find_payment(&self, id: &str) -> Result<Option<PaymentRecord>, JournalError> {
        find_by_either_id(&self.conn, id)
    }

    /// The payments matching `filter`, newest first, each with its refund totals, in one
    /// query: the filter and limit pick the payments, and one `LEFT JOIN … GROUP BY` adds up
    /// their refunds.
    pub fn transactions(
        &self,
        filter: &PaymentFilter,
    ) -> Result<Vec<TransactionRow>, JournalError> {
        let (clause, args) = payments::filter_clause(filter)?;
        let columns = PAYMENT_COLUMNS
            .split(',')
            .map(|column| format!("p.{}", column.trim()))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "SELECT {columns}, {totals}
             FROM (SELECT * FROM payments{clause}) AS p
             LEFT JOIN refunds AS r ON r.payment = p.id
             GROUP BY p.id
             ORDER BY p.created_at DESC, p.id DESC",
            totals = refund_totals_sql("r"),
        );
        let mut statement = self.conn.prepare(&sql)?;
        let raws = statement
            .query_map(params_from_iter(args), |row| {
                Ok((
                    payments::read_raw(row)?,
                    read_sums(row, PAYMENT_COLUMN_COUNT)?,
                ))
            })?
            .collect::<Result<Vec<_>, _>>()?;
        raws.into_iter()
            .map(|(raw, sums)| {
                let payment = RawPayment::into_record(raw)?;
                let refunds = sums.into_totals(&payment)?;
                Ok(TransactionRow { payment, refunds })
            })
            .collect()
    }

    /// One payment (by either id, as [`Reader::find_payment`]) with its refunds, their totals
    /// and its events, all read in one transaction so they agree with each other.
    pub fn payment_detail(&self, id: &str) -> Result<Option<PaymentDetail>, JournalError> {
        let snapshot = self.conn.unchecked_transaction()?;
        let Some(payment) = find_by_either_id(&snapshot, id)? else {
            return Ok(None);
        };
        let refunds = query_refunds(&snapshot, "payment = ?1", [payment.id.0])?;
        let events = events_of(&snapshot, payment.entity())?;
        drop(snapshot);
        let totals = totals_of(&payment, &refunds)?;
        Ok(Some(PaymentDetail {
            payment,
            refunds,
            totals,
            events,
        }))
    }

    /// How many payments are not final yet ([`PaymentState::OPEN`]).
    pub fn count_open(&self) -> Result<u64, JournalError> {
        payments::count_in(&self.conn, open_payment_states_sql())
    }

    /// How many payments wait for the resolver (`Unresolved`): what the status bar shows.
    pub fn count_unresolved(&self) -> Result<u64, JournalError> {
        payments::count_in(&self.conn, &sql_list([PaymentState::Unresolved.as_str()]))
    }

    /// The end-of-day totals for each local day in `days` that had any activity, by
    /// currency; each day runs from local midnight to local midnight as
    /// [`crate::local_time::day_bounds`] defines it, daylight-saving changes included.
    pub fn daily_totals(
        &self,
        days: RangeInclusive<Date>,
    ) -> Result<Vec<CurrencyTotals>, JournalError> {
        totals_by_day(&self.conn, days, crate::local_time::day_bounds)
    }

    /// Every end-of-day close, by number.
    pub fn day_closes(&self) -> Result<Vec<DayClose>, JournalError> {
        list_closes(&self.conn)
    }

    /// The close of the local day `date`; `None` while it is open.
    pub fn day_close_of(&self, date: Date) -> Result<Option<DayClose>, JournalError> {
        close_of_day(&self.conn, date)
    }

    /// Close number `number`.
    pub fn day_close_number(&self, number: u64) -> Result<Option<DayClose>, JournalError> {
        close_number(&self.conn, number)
    }

    /// A closed day's report: `close` as recorded, the day's totals now, and the events that
    /// happened to its payments and refunds after it was closed.
    pub fn day_report(&self, close: DayClose) -> Result<DayCloseReport, JournalError> {
        report_of(&self.conn, close)
    }

    /// `alipay-pos journal check` on this reader's snapshot: SQLite's integrity check and
    /// every journal invariant (see [`super::Journal::check`]).
    pub fn check(&self) -> Result<CheckReport, JournalError> {
        check_connection(&self.conn)
    }
}

/// The aggregate columns that [`read_sums`] reads, for refunds aliased `alias`; a payment
/// without refunds gets zeros.
fn refund_totals_sql(alias: &str) -> String {
    let succeeded = sql_list([RefundState::Succeeded.as_str()]);
    let open = open_refund_states_sql();
    format!(
        "coalesce(sum(CASE WHEN {alias}.state IN ({succeeded}) THEN {alias}.amount_minor END), 0),
         count(CASE WHEN {alias}.state IN ({succeeded}) THEN 1 END),
         coalesce(sum(CASE WHEN {alias}.state IN ({open}) THEN {alias}.amount_minor END), 0),
         count(CASE WHEN {alias}.state IN ({open}) THEN 1 END)"
    )
}

/// Refund sums as SQLite adds them up, before they are checked.
struct Sums {
    refunded: i64,
    refunded_count: i64,
    in_flight: i64,
    in_flight_count: i64,
}

fn read_sums(row: &rusqlite::Row<'_>, first: usize) -> rusqlite::Result<Sums> {
    Ok(Sums {
        refunded: row.get(first)?,
        refunded_count: row.get(first + 1)?,
        in_flight: row.get(first + 2)?,
        in_flight_count: row.get(first + 3)?,
    })
}

impl Sums {
    fn into_totals(self, payment: &PaymentRecord) -> Result<RefundTotals, JournalError> {
        let currency = payment.amount.currency();
        let unreadable = |what: &str, value: i64| JournalError::Unreadable {
            what: format!("{} of {}: {value}", what, payment.id),
        };
        let total = |what: &str, stored: i64| -> Result<MinorTotal, JournalError> {
            let minor = u64::try_from(stored).map_err(|_| unreadable(what, stored))?;
            if minor == 0 {
                return Ok(MinorTotal::zero(currency));
            }
            Money::from_minor(minor, currency)
                .map(MinorTotal::from)
                .map_err(|_| unreadable(what, stored))
        };
        let count = |what: &str, n: i64| u64::try_from(n).map_err(|_| unreadable(what, n));
        let refunded = total("refunded total", self.refunded)?;
        let in_flight = total("refunds in flight", self.in_flight)?;
        Ok(RefundTotals {
            remaining: remaining(payment, refunded, in_flight),
            refunded,
            refunded_count: count("refund count", self.refunded_count)?,
            in_flight,
            in_flight_count: count("refunds in flight", self.in_flight_count)?,
        })
    }
}

/// The same totals from refunds already read (the detail view has them anyway).
fn totals_of(
    payment: &PaymentRecord,
    refunds: &[RefundRecord],
) -> Result<RefundTotals, JournalError> {
    let currency = payment.amount.currency();
    let mut refunded = MinorTotal::zero(currency);
    let mut in_flight = MinorTotal::zero(currency);
    let (mut refunded_count, mut in_flight_count) = (0, 0);
    for refund in refunds {
        match refund.state {
            RefundState::Succeeded => {
                refunded = refunded.checked_add(refund.amount)?;
                refunded_count += 1;
            }
            RefundState::Requested | RefundState::Unresolved => {
                in_flight = in_flight.checked_add(refund.amount)?;
                in_flight_count += 1;
            }
            RefundState::Failed => {}
        }
    }
    Ok(RefundTotals {
        remaining: remaining(payment, refunded, in_flight),
        refunded,
        refunded_count,
        in_flight,
        in_flight_count,
    })
}

/// Paid amount minus every refund that has not failed; zero unless the payment is `Paid`,
/// and zero rather than negative for refunds over the payment (only a damaged file has
/// those, and `journal check` reports them).
fn remaining(payment: &PaymentRecord, refunded: MinorTotal, in_flight: MinorTotal) -> MinorTotal {
    let currency = payment.amount.currency();
    if payment.state != PaymentState::Paid {
        return MinorTotal::zero(currency);
    }
    let left = payment
        .amount
        .minor()
        .saturating_sub(refunded.minor())
        .saturating_sub(in_flight.minor());
    Money::from_minor(left, currency).map_or(MinorTotal::zero(currency), MinorTotal::from)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journal::{Actor, Journal, NewPayment, Product};
    use crate::money::Currency;

    /// The reader's connection is read-only in SQLite itself, not by convention: every kind
    /// of write is refused, and the file is unchanged.
    #[test]
    fn a_reader_cannot_write() {
        let dir = tempfile::tempdir().unwrap();
        let mut journal = Journal::open_in(dir.path()).unwrap();
        journal
            .create_payment(
                NewPayment {
                    payment_request_id: "P-1".to_owned(),
                    order_ref: "O-1".to_owned(),
                    amount: Money::from_minor(100, Currency::USD).unwrap(),
                    description: String::new(),
                    operator: "T01".to_owned(),
                    product: Product::OrderCode,
                    customer_code: None,
                },
                Actor::Cashier,
            )
            .unwrap();
        let reader = Reader::open_in(dir.path()).unwrap();
        for sql in [
            "UPDATE payments SET description = 'changed'",
            "INSERT INTO meta (id, terminal_id, store_id, bound_at) VALUES (1, 'T', 'S', 't')",
            "CREATE TABLE sneaky (x)",
            "PRAGMA user_version = 99",
        ] {
            let error = JournalError::from(reader.conn.execute_batch(sql).unwrap_err());
            assert!(matches!(error, JournalError::ReadOnly), "{sql}: {error:?}");
        }
        let record = reader.find_payment("P-1").unwrap().unwrap();
        assert_eq!(record.description, "");
        assert_eq!(
            schema::user_version(&reader.conn).unwrap(),
            schema::latest_version()
        );
    }
}
