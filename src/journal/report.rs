//! End-of-day totals, per local day and currency, in integer minor units.
//!
//! What counts where (chosen to match how Alipay's transaction files list the same money):
//! - **paid**: payments whose `paid_at` falls on the day, including ones reversed later, since
//!   the money did come in that day;
//! - **cancelled**: reversals (paid, then cancelled inside the window), on the day of the
//!   cancel; unpaid attempts that were cancelled moved no money and are not counted;
//! - **refunded**: refunds that succeeded, on their `refunded_at` day;
//! - **net** = paid − refunded − cancelled, which can be negative on a day with more money
//!   returned than taken.

use std::collections::BTreeMap;
use std::fmt;
use std::ops::RangeInclusive;

use rusqlite::params;
use time::{Date, OffsetDateTime, UtcOffset};

use crate::money::{Currency, MinorTotal, Money, MoneyError};

use super::Journal;
use super::error::JournalError;
use super::timestamp::{from_stored, to_stored};

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
    /// Reversals only (see the module docs).
    pub cancelled_count: u64,
    pub cancelled: MinorTotal,
    pub net: SignedTotal,
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
            cancelled_count: 0,
            cancelled: MinorTotal::zero(currency),
            net: SignedTotal {
                negative: false,
                magnitude: MinorTotal::zero(currency),
            },
        }
    }
}

#[derive(Clone, Copy)]
enum Bucket {
    Paid,
    Refunded,
    Cancelled,
}

impl Journal {
    /// Totals per local day (days start at midnight at `offset`) and currency, for every day
    /// in `days` that had any activity, ordered by day then currency code.
    pub fn daily_totals(
        &self,
        days: RangeInclusive<Date>,
        offset: UtcOffset,
    ) -> Result<Vec<CurrencyTotals>, JournalError> {
        let (first, last) = days.into_inner();
        if first > last {
            return Ok(Vec::new());
        }
        let start = to_stored(first.midnight().assume_offset(offset), "from")?;
        // The day after `last` starts the excluded range; past the calendar's end, use a
        // bound that sorts after every stored timestamp.
        let end = match last.next_day() {
            Some(next) => to_stored(next.midnight().assume_offset(offset), "to")?,
            None => "~".to_owned(),
        };

        let queries = [
            (
                Bucket::Paid,
                "SELECT currency, amount_minor, paid_at FROM payments
                 WHERE paid_at >= ?1 AND paid_at < ?2",
            ),
            (
                Bucket::Cancelled,
                "SELECT currency, amount_minor, final_at FROM payments
                 WHERE state = 'cancelled' AND paid_at IS NOT NULL
                   AND final_at >= ?1 AND final_at < ?2",
            ),
            (
                Bucket::Refunded,
                "SELECT currency, amount_minor, refunded_at FROM refunds
                 WHERE state = 'succeeded' AND refunded_at >= ?1 AND refunded_at < ?2",
            ),
        ];

        let mut totals: BTreeMap<(Date, &'static str), CurrencyTotals> = BTreeMap::new();
        // One read transaction, so the three queries see the same moment.
        let snapshot = self.conn.unchecked_transaction()?;
        for (bucket, sql) in queries {
            let mut statement = snapshot.prepare_cached(sql)?;
            let rows = statement
                .query_map(params![start, end], |row| {
                    Ok((
                        row.get::<_, String>(0)?,
                        row.get::<_, i64>(1)?,
                        row.get::<_, String>(2)?,
                    ))
                })?
                .collect::<Result<Vec<_>, _>>()?;
            for (currency, minor, at) in rows {
                let amount = super::money_from_sql(minor, &currency, "report row")?;
                let date = local_date(from_stored(&at)?, offset);
                let currency = amount.currency();
                let entry = totals
                    .entry((date, currency.code()))
                    .or_insert_with(|| CurrencyTotals::empty(date, currency));
                match bucket {
                    Bucket::Paid => {
                        entry.paid_count += 1;
                        entry.paid = entry.paid.checked_add(amount)?;
                    }
                    Bucket::Refunded => {
                        entry.refunded_count += 1;
                        entry.refunded = entry.refunded.checked_add(amount)?;
                    }
                    Bucket::Cancelled => {
                        entry.cancelled_count += 1;
                        entry.cancelled = entry.cancelled.checked_add(amount)?;
                    }
                }
            }
        }
        drop(snapshot);

        totals
            .into_values()
            .map(|mut entry| {
                let net = i128::from(entry.paid.minor())
                    - i128::from(entry.refunded.minor())
                    - i128::from(entry.cancelled.minor());
                entry.net = SignedTotal::from_minor(net, entry.currency)?;
                Ok(entry)
            })
            .collect()
    }
}

fn local_date(at: OffsetDateTime, offset: UtcOffset) -> Date {
    at.to_offset(offset).date()
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
}
