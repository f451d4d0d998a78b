//! Entry Code results the store hub relayed (`entry_code_results`): read-only knowledge of
//! payments the hub made for this counter. The hub's PostgreSQL is their record; the
//! terminal keeps them so its screen (and `journal`) can show what the customer paid.

use rusqlite::{Connection, params};

use super::error::JournalError;
use super::timestamp::to_stored;
use super::{Journal, Reader};

/// One relayed result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryCodeRecord {
    /// The hub's id of the payment.
    pub hub_id: i64,
    pub payment_request_id: String,
    pub payment_id: Option<String>,
    pub store_id: String,
    pub counter: String,
    pub currency: String,
    /// Minor units.
    pub amount: u64,
    /// `success`, `failed` or `cancelled`.
    pub outcome: String,
    pub result_code: String,
    pub order_reference: Option<String>,
    /// As the hub sent it (RFC 3339).
    pub finished_at: String,
}

impl Journal {
    /// Keeps a relayed result; `false` when it was kept already (a relay after a lost
    /// acknowledgement), which is no error.
    pub fn record_entry_code_result(
        &mut self,
        record: &EntryCodeRecord,
    ) -> Result<bool, JournalError> {
        let received = to_stored(self.now(), "received_at")?;
        let amount = i64::try_from(record.amount).map_err(|_| JournalError::InvalidInput {
            field: "amount",
            reason: "is too large".into(),
        })?;
        let inserted = self.connection().execute(
            "INSERT OR IGNORE INTO entry_code_results (hub_id, payment_request_id, payment_id, \
                 store_id, counter, currency, amount, outcome, result_code, order_reference, \
                 finished_at, received_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
            params![
                record.hub_id,
                record.payment_request_id,
                record.payment_id,
                record.store_id,
                record.counter,
                record.currency,
                amount,
                record.outcome,
                record.result_code,
                record.order_reference,
                record.finished_at,
                received,
            ],
        )?;
        Ok(inserted == 1)
    }

    pub fn entry_code_results(&self) -> Result<Vec<EntryCodeRecord>, JournalError> {
        read_all(self.connection())
    }
}

impl Reader {
    /// Every relayed Entry Code result, oldest first.
    pub fn entry_code_results(&self) -> Result<Vec<EntryCodeRecord>, JournalError> {
        read_all(self.connection())
    }
}

fn read_all(conn: &Connection) -> Result<Vec<EntryCodeRecord>, JournalError> {
    let mut statement = conn.prepare(
        "SELECT hub_id, payment_request_id, payment_id, store_id, counter, currency, amount, \
             outcome, result_code, order_reference, finished_at \
         FROM entry_code_results ORDER BY hub_id",
    )?;
    let rows = statement.query_map([], |row| {
        Ok(EntryCodeRecord {
            hub_id: row.get(0)?,
            payment_request_id: row.get(1)?,
            payment_id: row.get(2)?,
            store_id: row.get(3)?,
            counter: row.get(4)?,
            currency: row.get(5)?,
            amount: u64::try_from(row.get::<_, i64>(6)?).unwrap_or(0),
            outcome: row.get(7)?,
            result_code: row.get(8)?,
            order_reference: row.get(9)?,
            finished_at: row.get(10)?,
        })
    })?;
    Ok(rows.collect::<Result<Vec<_>, _>>()?)
}
