//! Merchant and store registrations (`registration`), pending until their (simulated)
//! review completes.

use rusqlite::{OptionalExtension, Row, Transaction, params};

use super::LedgerError;

#[derive(Debug, Clone, PartialEq)]
pub struct RegistrationRow {
    pub client_id: String,
    pub registration_request_id: String,
    pub reference_merchant_id: String,
    /// Empty when the registration named no store.
    pub reference_store_id: String,
    /// The request as received (re-serialised): also what replays are compared with.
    pub request_json: String,
    /// `PENDING` or `COMPLETED`.
    pub status: String,
    /// Per-wallet verdict once completed: `APPROVED` or `REJECTED`.
    pub psp_result: Option<String>,
    pub reject_reason: Option<String>,
    pub accepted_at: i64,
    pub due_at: i64,
    pub completed_at: Option<i64>,
    pub notify_url: Option<String>,
    pub answer: String,
}

impl RegistrationRow {
    pub(super) fn from_row(r: &Row<'_>) -> rusqlite::Result<Self> {
        Ok(RegistrationRow {
            client_id: r.get("client_id")?,
            registration_request_id: r.get("registration_request_id")?,
            reference_merchant_id: r.get("reference_merchant_id")?,
            reference_store_id: r.get("reference_store_id")?,
            request_json: r.get("request_json")?,
            status: r.get("status")?,
            psp_result: r.get("psp_result")?,
            reject_reason: r.get("reject_reason")?,
            accepted_at: r.get("accepted_at")?,
            due_at: r.get("due_at")?,
            completed_at: r.get("completed_at")?,
            notify_url: r.get("notify_url")?,
            answer: r.get("answer")?,
        })
    }

    pub fn is_approved(&self) -> bool {
        self.status == "COMPLETED" && self.psp_result.as_deref() == Some("APPROVED")
    }
}

pub fn insert_registration(tx: &Transaction<'_>, g: &RegistrationRow) -> Result<(), LedgerError> {
    tx.execute(
        "INSERT INTO registrations (client_id, registration_request_id, reference_merchant_id,
            reference_store_id, request_json, status, psp_result, reject_reason, accepted_at,
            due_at, completed_at, notify_url, answer)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
        params![
            g.client_id,
            g.registration_request_id,
            g.reference_merchant_id,
            g.reference_store_id,
            g.request_json,
            g.status,
            g.psp_result,
            g.reject_reason,
            g.accepted_at,
            g.due_at,
            g.completed_at,
            g.notify_url,
            g.answer,
        ],
    )?;
    Ok(())
}

pub fn save_registration(tx: &Transaction<'_>, g: &RegistrationRow) -> Result<(), LedgerError> {
    tx.execute(
        "UPDATE registrations SET status = ?3, psp_result = ?4, reject_reason = ?5,
            completed_at = ?6
         WHERE client_id = ?1 AND registration_request_id = ?2",
        params![
            g.client_id,
            g.registration_request_id,
            g.status,
            g.psp_result,
            g.reject_reason,
            g.completed_at,
        ],
    )?;
    Ok(())
}

pub fn registration_by_request_id(
    tx: &Transaction<'_>,
    client_id: &str,
    registration_request_id: &str,
) -> Result<Option<RegistrationRow>, LedgerError> {
    Ok(tx
        .query_row(
            "SELECT * FROM registrations WHERE client_id = ?1 AND registration_request_id = ?2",
            params![client_id, registration_request_id],
            RegistrationRow::from_row,
        )
        .optional()?)
}

/// A client's registrations matching the given merchant and/or store (either may be
/// `None` = any), newest first.
pub fn registrations_for(
    tx: &Transaction<'_>,
    client_id: &str,
    merchant: Option<&str>,
    store: Option<&str>,
) -> Result<Vec<RegistrationRow>, LedgerError> {
    let mut stmt = tx.prepare(
        "SELECT * FROM registrations
         WHERE client_id = ?1
           AND (?2 IS NULL OR reference_merchant_id = ?2)
           AND (?3 IS NULL OR reference_store_id = ?3)
         ORDER BY accepted_at DESC, rowid DESC",
    )?;
    let rows = stmt
        .query_map(
            params![client_id, merchant, store],
            RegistrationRow::from_row,
        )?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

pub fn registrations_due(
    tx: &Transaction<'_>,
    now_ms: i64,
) -> Result<Vec<RegistrationRow>, LedgerError> {
    let mut stmt = tx.prepare(
        "SELECT * FROM registrations WHERE status = 'PENDING' AND due_at <= ?1
         ORDER BY due_at, rowid",
    )?;
    let rows = stmt
        .query_map([now_ms], RegistrationRow::from_row)?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}
