//! End-of-day totals, per local day and currency, in integer minor units.
//!
//! What counts where (chosen to match how Alipay's transaction files list the same money):
//! - **paid**: payments whose `paid_at` falls on the day;
//! - **refunded**: refunds that succeeded, on their `refunded_at` day;
//! - **net** = paid − refunded, which can be negative on a day with more money returned than
//!   taken.
//!
//! Unpaid attempts that were cancelled moved no money and are not counted.
//!
//! A "day" is whatever [`crate::local_time::day_bounds`] says it is (local midnight to local
//! midnight, 23 or 25 hours across a daylight-saving change), so the report, the manager's
//! screens and the command line count the same payments on the same day. Each row is placed
//! by the bounds of the day it falls in, never by one offset applied to a whole range.

use std::collections::BTreeMap;
use std::fmt;
use std::ops::{Range, RangeInclusive};

use rusqlite::{Connection, params};
#[cfg(any(test, feature = "test-support"))]
use time::UtcOffset;
use time::{Date, OffsetDateTime};

use crate::money::{Currency, MinorTotal, Money, MoneyError};

use super::Journal;
use super::error::JournalError;
use super::state::Product;
use super::timestamp::to_stored;

/// A total that may be negative (a day's net). [`MinorTotal`] cannot be, by design, so the
/// sign is kept beside it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SignedTotal {
    negative: bool,
    magnitude: MinorTotal,
}

impl SignedTotal {
    /// Builds a total from signed minor units; fails beyond Alipay's limit either way.
    pub fn from_minor(minor: i128, currency: Currency) -> Result<SignedTotal, MoneyError> {
        let magnitude =
            u64::try_from(minor.unsigned_abs()).map_err(|_| MoneyError::TooLarge { currency })?;
        let magnitude = match magnitude {
            0 => MinorTotal::zero(currency),
            n => MinorTotal::from(Money::from_minor(n, currency)?),
        };
        Ok(SignedTotal {
            negative: minor < 0,
            magnitude,
        })
    }

    /// Signed minor units. Fits in `i64`: the magnitude is at most Alipay's 16-digit limit.
    pub fn minor(&self) -> i64 {
        let magnitude = i64::try_from(self.magnitude.minor()).unwrap_or(i64::MAX);
        if self.negative { -magnitude } else { magnitude }
    }

    pub fn currency(&self) -> Currency {
        self.magnitude.currency()
    }

    pub fn is_negative(&self) -> bool {
        self.negative
    }

    /// The amount without its sign.
    pub fn magnitude(&self) -> MinorTotal {
        self.magnitude
    }

    /// Major units with a leading `-` when negative (`"-12.50"`), as CSV exports want.
    pub fn major_string(&self) -> String {
        let sign = if self.negative { "-" } else { "" };
        format!("{sign}{}", self.magnitude.major_string())
    }
}

impl fmt::Display for SignedTotal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.currency(), self.major_string())
    }
}

/// One currency's totals for one local day.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CurrencyTotals {
    pub date: Date,
    pub currency: Currency,
    pub paid_count: u64,
    pub paid: MinorTotal,
    pub refunded_count: u64,
    pub refunded: MinorTotal,
    pub net: SignedTotal,
    /// The paid count and total split by the product that took each payment, so a manager
    /// can tell money from scanned customer codes apart from money paid on a shown QR code.
    /// Only products with a payment that day, in [`Product::ALL`] order; the parts add up
    /// to `paid_count` and `paid`. Refunds are not split: they count on their own day, by
    /// when Alipay returned the money, not by how it was taken.
    pub by_product: Vec<ProductTotals>,
}

/// One product's share of a currency's paid total for a day.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProductTotals {
    pub product: Product,
    pub paid_count: u64,
    pub paid: MinorTotal,
}

impl CurrencyTotals {
    /// Adds `count` paid payments totalling `amount` to the totals and to their product's part.
    fn add_paid(
        &mut self,
        product: Product,
        count: u64,
        amount: MinorTotal,
    ) -> Result<(), MoneyError> {
        self.paid_count += count;
        self.paid = self.paid.checked_add(amount)?;
        let index = match self.by_product.iter().position(|p| p.product == product) {
            Some(index) => index,
            None => {
                // Keep Product::ALL order whatever order the rows come in.
                let rank = |p: Product| Product::ALL.iter().position(|q| *q == p);
                let at = self
                    .by_product
                    .partition_point(|p| rank(p.product) < rank(product));
                self.by_product.insert(
                    at,
                    ProductTotals {
                        product,
                        paid_count: 0,
                        paid: MinorTotal::zero(self.currency),
                    },
                );
                at
            }
        };
        if let Some(part) = self.by_product.get_mut(index) {
            part.paid_count += count;
            part.paid = part.paid.checked_add(amount)?;
        }
        Ok(())
    }
}

impl CurrencyTotals {
    fn empty(date: Date, currency: Currency) -> CurrencyTotals {
        CurrencyTotals {
            date,
            currency,
            paid_count: 0,
            paid: MinorTotal::zero(currency),
            refunded_count: 0,
            refunded: MinorTotal::zero(currency),
            net: SignedTotal {
                negative: false,
                magnitude: MinorTotal::zero(currency),
            },
            by_product: Vec::new(),
        }
    }
}

#[derive(Clone, Copy)]
enum Bucket {
    Paid,
    Refunded,
}

/// Totals for every day in `days` that had any activity, ordered by day then currency code;
/// `bounds` says which instants each day covers ([`crate::local_time::day_bounds`] for the
/// terminal's zone). Days should tile (each one ending where the next starts); an instant in
/// no day's bounds is not counted.
pub(crate) fn totals_by_day(
    conn: &Connection,
    days: RangeInclusive<Date>,
    bounds: impl Fn(Date) -> Range<OffsetDateTime>,
) -> Result<Vec<CurrencyTotals>, JournalError> {
    let (first, last) = days.into_inner();
    if first > last {
        return Ok(Vec::new());
    }
    if last.next_day().is_none() {
        return Err(JournalError::InvalidInput {
            field: "days",
            reason: format!("{last} is the calendar's last day; it has no end to count to"),
        });
    }
    let mut spans: Vec<(Date, Range<OffsetDateTime>)> = Vec::new();
    let mut day = first;
    loop {
        spans.push((day, bounds(day)));
        match day.next_day() {
            Some(next) if next <= last => day = next,
            _ => break,
        }
    }
    if spans.is_empty() {
        return Ok(Vec::new());
    }
    // Added up by SQLite, one day at a time: a day of a busy chain is hundreds of thousands
    // of rows, and the paid side reads only the covering index `payments_paid_totals`.
    let queries = [
        (
            Bucket::Paid,
            "SELECT currency, product, count(*), sum(amount_minor) FROM payments
             WHERE paid_at >= ?1 AND paid_at < ?2 GROUP BY currency, product",
        ),
        (
            Bucket::Refunded,
            "SELECT currency, NULL, count(*), sum(amount_minor) FROM refunds
             WHERE state = 'succeeded' AND refunded_at >= ?1 AND refunded_at < ?2
             GROUP BY currency",
        ),
    ];

    let mut totals: BTreeMap<(Date, &'static str), CurrencyTotals> = BTreeMap::new();
    // One read transaction, so the queries see the same moment; inside the caller's
    // transaction (a day close adds up the day while it holds the write lock) that one
    // already does.
    let snapshot = if conn.is_autocommit() {
        Some(conn.unchecked_transaction()?)
    } else {
        None
    };
    for (date, span) in &spans {
        let start = to_stored(span.start, "from")?;
        let end = to_stored(span.end, "to")?;
        for (bucket, sql) in queries {
            let mut statement = conn.prepare_cached(sql)?;
            let groups = statement
                .query_map(params![start, end], |row| {
                    Ok((
                        row.get::<_, String>(0)?,
                        row.get::<_, Option<String>>(1)?,
                        row.get::<_, i64>(2)?,
                        row.get::<_, i64>(3)?,
                    ))
                })?
                .collect::<Result<Vec<_>, _>>()?;
            for (currency, product, count, sum) in groups {
                let unreadable = || JournalError::Unreadable {
                    what: format!("report group: {count} rows, {sum} {currency}"),
                };
                let currency = Currency::from_code(&currency).map_err(|_| unreadable())?;
                let count = u64::try_from(count).map_err(|_| unreadable())?;
                let sum = u64::try_from(sum).map_err(|_| unreadable())?;
                let total = MinorTotal::from_minor(sum, currency)?;
                let entry = totals
                    .entry((*date, currency.code()))
                    .or_insert_with(|| CurrencyTotals::empty(*date, currency));
                match bucket {
                    Bucket::Paid => {
                        let product =
                            product.as_deref().and_then(Product::parse).ok_or_else(|| {
                                JournalError::Unreadable {
                                    what: format!("report row: product {product:?}"),
                                }
                            })?;
                        entry.add_paid(product, count, total)?;
                    }
                    Bucket::Refunded => {
                        entry.refunded_count += count;
                        entry.refunded = entry.refunded.checked_add(total)?;
                    }
                }
            }
        }
    }
    drop(snapshot);

    totals
        .into_values()
        .map(|mut entry| {
            let net = i128::from(entry.paid.minor()) - i128::from(entry.refunded.minor());
            entry.net = SignedTotal::from_minor(net, entry.currency)?;
            Ok(entry)
        })
        .collect()
}

/// A day of one fixed offset: midnight to midnight at `offset` (the tests' zone).
#[cfg(any(test, feature = "test-support"))]
fn fixed_offset_day(date: Date, offset: UtcOffset) -> Range<OffsetDateTime> {
    let start = date.midnight().assume_offset(offset);
    let end = date
        .next_day()
        .map_or(start, |next| next.midnight().assume_offset(offset));
    start..end
}

impl Journal {
    /// Totals per day (days start at midnight at `offset`) and currency, for every day in
    /// `days` that had any activity, ordered by day then currency code.
    ///
    /// One offset for every day is wrong across a daylight-saving change: the faces use
    /// [`super::Reader::daily_totals`], which takes each day's bounds from the terminal's
    /// zone. This is the tests' seam: they count days in a fixed zone whatever the
    /// machine's.
    #[cfg(any(test, feature = "test-support"))]
    pub fn daily_totals(
        &self,
        days: RangeInclusive<Date>,
        offset: UtcOffset,
    ) -> Result<Vec<CurrencyTotals>, JournalError> {
        totals_by_day(&self.conn, days, |date| fixed_offset_day(date, offset))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signed_totals() {
        let negative = SignedTotal::from_minor(-1250, Currency::USD).unwrap();
        assert!(negative.is_negative());
        assert_eq!(negative.minor(), -1250);
        assert_eq!(negative.major_string(), "-12.50");
        assert_eq!(negative.to_string(), "USD -12.50");
        assert_eq!(negative.magnitude().minor(), 1250);
        let zero = SignedTotal::from_minor(0, Currency::JPY).unwrap();
        assert!(!zero.is_negative());
        assert_eq!(zero.major_string(), "0");
        assert!(SignedTotal::from_minor(i128::from(u64::MAX) + 1, Currency::USD).is_err());
        assert!(SignedTotal::from_minor(-10_000_000_000_000_000, Currency::USD).is_err());
    }

    /// Each row lands on the day whose own bounds hold it: with a 23-hour day (a spring
    /// forward) followed by 24-hour days, one offset for the whole range would move the
    /// payments near midnight to the wrong day.
    #[test]
    fn rows_are_placed_by_each_days_own_bounds() {
        use crate::journal::{Actor, NewPayment, PaymentState, PaymentUpdate, Product};
        use time::macros::{date, datetime};

        let dir = tempfile::tempdir().unwrap();
        let mut journal = Journal::open_in(dir.path()).unwrap();
        // America/New_York around 2026-03-08: the 7th starts 05:00Z (EST), the 8th at 05:00Z
        // and lasts 23 hours, the 9th starts 04:00Z (EDT).
        let bounds = |d: Date| match d {
            d if d == date!(2026 - 03 - 07) => {
                datetime!(2026-03-07 05:00 UTC)..datetime!(2026-03-08 05:00 UTC)
            }
            d if d == date!(2026 - 03 - 08) => {
                datetime!(2026-03-08 05:00 UTC)..datetime!(2026-03-09 04:00 UTC)
            }
            d => {
                let start = d.midnight().assume_utc() + time::Duration::hours(4);
                start..start + time::Duration::days(1)
            }
        };
        let paid_at = [
            datetime!(2026-03-08 04:30 UTC), // 23:30 on the 7th (EST)
            datetime!(2026-03-09 03:30 UTC), // 23:30 on the 8th (EDT)
            datetime!(2026-03-09 04:30 UTC), // 00:30 on the 9th (EDT)
        ];
        for (n, at) in paid_at.into_iter().enumerate() {
            let record = journal
                .create_payment(
                    NewPayment {
                        payment_request_id: format!("P{n}"),
                        order_ref: format!("O{n}"),
                        amount: Money::from_minor(100, Currency::USD).unwrap(),
                        description: String::new(),
                        operator: "T".to_owned(),
                        product: Product::OrderCode,
                        customer_code: None,
                    },
                    Actor::Cashier,
                )
                .unwrap();
            journal
                .transition_payment(
                    record.id,
                    PaymentState::Paid,
                    Actor::System,
                    "paid",
                    PaymentUpdate {
                        payment_id: Some(format!("A{n}")),
                        paid_at: Some(at),
                        ..PaymentUpdate::default()
                    },
                )
                .unwrap();
        }
        let totals = totals_by_day(
            &journal.conn,
            date!(2026 - 03 - 07)..=date!(2026 - 03 - 09),
            bounds,
        )
        .unwrap();
        let per_day: Vec<(Date, u64)> = totals.iter().map(|t| (t.date, t.paid_count)).collect();
        assert_eq!(
            per_day,
            [
                (date!(2026 - 03 - 07), 1),
                (date!(2026 - 03 - 08), 1),
                (date!(2026 - 03 - 09), 1)
            ]
        );
        // The same range with one offset (EST) puts the 9th's first payment on the 8th.
        let fixed = journal
            .daily_totals(
                date!(2026 - 03 - 07)..=date!(2026 - 03 - 09),
                UtcOffset::from_hms(-5, 0, 0).unwrap(),
            )
            .unwrap();
        let per_day: Vec<(Date, u64)> = fixed.iter().map(|t| (t.date, t.paid_count)).collect();
        assert_eq!(
            per_day,
            [(date!(2026 - 03 - 07), 1), (date!(2026 - 03 - 08), 2)]
        );
        assert!(
            totals_by_day(&journal.conn, Date::MAX..=Date::MAX, bounds).is_err(),
            "the calendar's last day has no end"
        );
    }

    /// Paid totals split per product: the parts add up to the currency's paid total, each
    /// currency keeps its own parts, and unpaid attempts count nowhere.
    #[test]
    fn paid_totals_are_split_per_product() {
        use crate::journal::{
            Actor, CustomerCode, NewPayment, PaymentState, PaymentUpdate, Product,
        };
        use time::macros::{date, datetime};

        let dir = tempfile::tempdir().unwrap();
        let mut journal = Journal::open_in(dir.path()).unwrap();
        let payments = [
            (Product::UserPresented, 250, Currency::USD, true),
            (Product::OrderCode, 1000, Currency::USD, true),
            (Product::UserPresented, 125, Currency::USD, true),
            (Product::UserPresented, 9999, Currency::USD, false),
            (Product::UserPresented, 300, Currency::JPY, true),
        ];
        for (n, (product, minor, currency, paid)) in payments.into_iter().enumerate() {
            let customer_code = (product == Product::UserPresented).then(|| CustomerCode {
                last4: format!("{:04}", 1000 + n),
                sha256: format!("{n:064x}"),
            });
            let record = journal
                .create_payment(
                    NewPayment {
                        payment_request_id: format!("P{n}"),
                        order_ref: format!("O{n}"),
                        amount: Money::from_minor(minor, currency).unwrap(),
                        description: String::new(),
                        operator: "T".to_owned(),
                        product,
                        customer_code,
                    },
                    Actor::Cashier,
                )
                .unwrap();
            if paid {
                journal
                    .transition_payment(
                        record.id,
                        PaymentState::Paid,
                        Actor::System,
                        "paid",
                        PaymentUpdate {
                            payment_id: Some(format!("A{n}")),
                            paid_at: Some(datetime!(2026-03-07 12:00 UTC)),
                            ..PaymentUpdate::default()
                        },
                    )
                    .unwrap();
            }
        }
        let totals = journal
            .daily_totals(
                date!(2026 - 03 - 07)..=date!(2026 - 03 - 07),
                UtcOffset::UTC,
            )
            .unwrap();
        let parts = |t: &CurrencyTotals| -> Vec<(Product, u64, u64)> {
            t.by_product
                .iter()
                .map(|p| (p.product, p.paid_count, p.paid.minor()))
                .collect()
        };
        let [jpy, usd] = totals.as_slice() else {
            panic!("one row per currency: {totals:?}");
        };
        assert_eq!(usd.currency, Currency::USD);
        assert_eq!((usd.paid_count, usd.paid.minor()), (3, 1375));
        assert_eq!(
            parts(usd),
            [
                (Product::OrderCode, 1, 1000),
                (Product::UserPresented, 2, 375)
            ],
            "Product::ALL order, whatever order they were paid in"
        );
        assert_eq!(jpy.currency, Currency::JPY);
        assert_eq!(parts(jpy), [(Product::UserPresented, 1, 300)]);
    }
}
