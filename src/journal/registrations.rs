//! Merchant and store registrations: what was asked of Alipay (journaled before it is sent),
//! what the answer to the request said, and the last known review per wallet.
//!
//! A registration is not a payment: nothing here moves money, so there is no state machine
//! of its own, only two facts that each have a rule:
//! - the **outcome** of the `registration` request: unknown until a definite answer, then
//!   accepted or refused for good (a resend of the identical request may turn an unknown
//!   into either, never one definite answer into the other). `lost` records that an
//!   inquiry proved an unanswered request never reached Alipay.
//! - the **review** (pending, completed) and each wallet's verdict, the newest fact winning,
//!   except that a completed review never goes back to pending: a notification Alipay
//!   resends late must not undo a verdict the terminal already holds.
//!
//! Verified `notifyRegistrationStatus`s are kept once each, keyed by the digest of their body.

use rusqlite::{Connection, OptionalExtension, Row, params};
use time::OffsetDateTime;

use super::error::JournalError;
use super::timestamp::{from_stored, from_stored_opt, to_stored};
use super::{Journal, check_request_id, check_text};

/// What the answer to one `registration` request said.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RegistrationOutcome {
    /// `S`: accepted for review; the verdict comes later.
    Accepted,
    /// `F`: refused (the code says why); nothing is under review.
    Refused,
    /// No definite answer (yet): resend the identical request, or inquire.
    Unknown,
    /// An inquiry found no such registration after the request went unanswered: it never
    /// reached Alipay, so a new request is safe.
    Lost,
}

impl RegistrationOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            RegistrationOutcome::Accepted => "accepted",
            RegistrationOutcome::Refused => "refused",
            RegistrationOutcome::Unknown => "unknown",
            RegistrationOutcome::Lost => "lost",
        }
    }

    fn parse(text: &str) -> Result<Self, JournalError> {
        [
            RegistrationOutcome::Accepted,
            RegistrationOutcome::Refused,
            RegistrationOutcome::Unknown,
            RegistrationOutcome::Lost,
        ]
        .into_iter()
        .find(|o| o.as_str() == text)
        .ok_or_else(|| JournalError::Unreadable {
            what: format!("registration outcome `{text}`"),
        })
    }

    /// Accepted and refused are answers Alipay keeps giving for this request id.
    pub fn is_definite(self) -> bool {
        matches!(
            self,
            RegistrationOutcome::Accepted | RegistrationOutcome::Refused
        )
    }
}

/// The overall review of an accepted registration.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ReviewStatus {
    /// The wallets are still reviewing.
    Pending,
    /// Every wallet has decided (each one's verdict says how).
    Completed,
    /// A status this build does not know (the reference lists no complete set); its
    /// spelling is kept in `status_text`.
    Other,
}

impl ReviewStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ReviewStatus::Pending => "pending",
            ReviewStatus::Completed => "completed",
            ReviewStatus::Other => "other",
        }
    }

    fn parse(text: &str) -> Result<Self, JournalError> {
        [
            ReviewStatus::Pending,
            ReviewStatus::Completed,
            ReviewStatus::Other,
        ]
        .into_iter()
        .find(|o| o.as_str() == text)
        .ok_or_else(|| JournalError::Unreadable {
            what: format!("registration status `{text}`"),
        })
    }
}

/// One wallet's verdict on a registration.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum WalletVerdict {
    Approved,
    Rejected,
    /// The wallet has not decided yet.
    Pending,
    /// A verdict this build does not know; its spelling is kept in `verdict_text`.
    Other,
}

impl WalletVerdict {
    pub fn as_str(self) -> &'static str {
        match self {
            WalletVerdict::Approved => "approved",
            WalletVerdict::Rejected => "rejected",
            WalletVerdict::Pending => "pending",
            WalletVerdict::Other => "other",
        }
    }

    fn parse(text: &str) -> Result<Self, JournalError> {
        [
            WalletVerdict::Approved,
            WalletVerdict::Rejected,
            WalletVerdict::Pending,
            WalletVerdict::Other,
        ]
        .into_iter()
        .find(|o| o.as_str() == text)
        .ok_or_else(|| JournalError::Unreadable {
            what: format!("wallet verdict `{text}`"),
        })
    }
}

/// A registration about to be sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewRegistration {
    pub registration_request_id: String,
    pub reference_merchant_id: String,
    pub reference_store_id: String,
    /// Lowercase hex SHA-256 of the exact body: a resend must match it.
    pub body_sha256: String,
}

/// One wallet's last known verdict.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WalletRecord {
    /// As Alipay names it (`AlipayCN`, ...).
    pub wallet: String,
    pub verdict: WalletVerdict,
    /// Alipay's spelling when `verdict` is [`WalletVerdict::Other`].
    pub verdict_text: Option<String>,
    pub reject_reasons: Option<String>,
    pub updated_at: OffsetDateTime,
}

/// A journaled registration with what is known of it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegistrationRecord {
    pub id: i64,
    pub registration_request_id: String,
    pub reference_merchant_id: String,
    pub reference_store_id: String,
    pub body_sha256: String,
    pub created_at: OffsetDateTime,
    /// How many times the request was handed to the network.
    pub sends: u32,
    /// `None` until the first send's answer (or its absence) is recorded.
    pub outcome: Option<RegistrationOutcome>,
    pub result_code: Option<String>,
    pub result_message: Option<String>,
    pub answered_at: Option<OffsetDateTime>,
    /// The last known review; only an accepted registration has one.
    pub status: Option<ReviewStatus>,
    pub status_text: Option<String>,
    pub status_reasons: Option<String>,
    /// When the review was last learned (inquiry or notification).
    pub checked_at: Option<OffsetDateTime>,
    pub wallets: Vec<WalletRecord>,
    pub updated_at: OffsetDateTime,
}

impl RegistrationRecord {
    /// Whether at least one wallet approved the store.
    pub fn any_wallet_approved(&self) -> bool {
        self.wallets
            .iter()
            .any(|w| w.verdict == WalletVerdict::Approved)
    }
}

/// A review learned from Alipay, in the journal's words.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReviewUpdate {
    pub status: ReviewStatus,
    pub status_text: Option<String>,
    pub status_reasons: Option<String>,
    pub wallets: Vec<WalletUpdate>,
}

/// One wallet's verdict in a [`ReviewUpdate`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WalletUpdate {
    pub wallet: String,
    pub verdict: WalletVerdict,
    pub verdict_text: Option<String>,
    pub reject_reasons: Option<String>,
}

/// What recording a notification found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NotificationReceipt {
    /// `false` for a notification already recorded (a resend or a replay).
    pub first_time: bool,
    /// How many times this exact notification has now arrived.
    pub times_received: u32,
}

const MAX_TEXT: usize = 2048;

fn read_row(r: &Row<'_>) -> rusqlite::Result<RawRow> {
    Ok(RawRow {
        id: r.get("id")?,
        registration_request_id: r.get("registration_request_id")?,
        reference_merchant_id: r.get("reference_merchant_id")?,
        reference_store_id: r.get("reference_store_id")?,
        body_sha256: r.get("body_sha256")?,
        created_at: r.get("created_at")?,
        sends: r.get("sends")?,
        outcome: r.get("outcome")?,
        result_code: r.get("result_code")?,
        result_message: r.get("result_message")?,
        answered_at: r.get("answered_at")?,
        status: r.get("status")?,
        status_text: r.get("status_text")?,
        status_reasons: r.get("status_reasons")?,
        checked_at: r.get("checked_at")?,
        updated_at: r.get("updated_at")?,
    })
}

/// A row as SQLite hands it over, before the journal's types are checked.
struct RawRow {
    id: i64,
    registration_request_id: String,
    reference_merchant_id: String,
    reference_store_id: String,
    body_sha256: String,
    created_at: String,
    sends: i64,
    outcome: Option<String>,
    result_code: Option<String>,
    result_message: Option<String>,
    answered_at: Option<String>,
    status: Option<String>,
    status_text: Option<String>,
    status_reasons: Option<String>,
    checked_at: Option<String>,
    updated_at: String,
}

fn wallets_of(conn: &Connection, registration: i64) -> Result<Vec<WalletRecord>, JournalError> {
    let mut stmt = conn.prepare_cached(
        "SELECT wallet, verdict, verdict_text, reject_reasons, updated_at
         FROM registration_wallets WHERE registration = ?1 ORDER BY wallet",
    )?;
    let rows = stmt
        .query_map([registration], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, Option<String>>(2)?,
                r.get::<_, Option<String>>(3)?,
                r.get::<_, String>(4)?,
            ))
        })?
        .collect::<Result<Vec<_>, _>>()?;
    rows.into_iter()
        .map(
            |(wallet, verdict, verdict_text, reject_reasons, updated_at)| {
                Ok(WalletRecord {
                    wallet,
                    verdict: WalletVerdict::parse(&verdict)?,
                    verdict_text,
                    reject_reasons,
                    updated_at: from_stored(&updated_at)?,
                })
            },
        )
        .collect()
}

fn complete(conn: &Connection, raw: RawRow) -> Result<RegistrationRecord, JournalError> {
    Ok(RegistrationRecord {
        wallets: wallets_of(conn, raw.id)?,
        id: raw.id,
        registration_request_id: raw.registration_request_id,
        reference_merchant_id: raw.reference_merchant_id,
        reference_store_id: raw.reference_store_id,
        body_sha256: raw.body_sha256,
        created_at: from_stored(&raw.created_at)?,
        sends: u32::try_from(raw.sends).unwrap_or(u32::MAX),
        outcome: raw
            .outcome
            .as_deref()
            .map(RegistrationOutcome::parse)
            .transpose()?,
        result_code: raw.result_code,
        result_message: raw.result_message,
        answered_at: from_stored_opt(raw.answered_at)?,
        status: raw.status.as_deref().map(ReviewStatus::parse).transpose()?,
        status_text: raw.status_text,
        status_reasons: raw.status_reasons,
        checked_at: from_stored_opt(raw.checked_at)?,
        updated_at: from_stored(&raw.updated_at)?,
    })
}

fn by_request_id(
    conn: &Connection,
    registration_request_id: &str,
) -> Result<Option<RegistrationRecord>, JournalError> {
    let raw = conn
        .prepare_cached("SELECT * FROM registrations WHERE registration_request_id = ?1")?
        .query_row([registration_request_id], read_row)
        .optional()?;
    raw.map(|raw| complete(conn, raw)).transpose()
}

/// The newest registration of a merchant and store, if any.
pub(crate) fn latest_for(
    conn: &Connection,
    merchant: &str,
    store: &str,
) -> Result<Option<RegistrationRecord>, JournalError> {
    let raw = conn
        .prepare_cached(
            "SELECT * FROM registrations
             WHERE reference_merchant_id = ?1 AND reference_store_id = ?2
             ORDER BY id DESC LIMIT 1",
        )?
        .query_row([merchant, store], read_row)
        .optional()?;
    raw.map(|raw| complete(conn, raw)).transpose()
}

/// The newest registration of a merchant and store that Alipay accepted, if any: the one
/// whose review is the store's status.
pub(crate) fn latest_accepted_for(
    conn: &Connection,
    merchant: &str,
    store: &str,
) -> Result<Option<RegistrationRecord>, JournalError> {
    let raw = conn
        .prepare_cached(
            "SELECT * FROM registrations
             WHERE reference_merchant_id = ?1 AND reference_store_id = ?2
               AND outcome = 'accepted'
             ORDER BY id DESC LIMIT 1",
        )?
        .query_row([merchant, store], read_row)
        .optional()?;
    raw.map(|raw| complete(conn, raw)).transpose()
}

/// The registration whose review is the store's status: the newest accepted one, or else
/// the newest of any outcome (refused, unanswered).
pub(crate) fn current_for(
    conn: &Connection,
    merchant: &str,
    store: &str,
) -> Result<Option<RegistrationRecord>, JournalError> {
    match latest_accepted_for(conn, merchant, store)? {
        Some(accepted) => Ok(Some(accepted)),
        None => latest_for(conn, merchant, store),
    }
}

/// How many verified registration notifications were recorded, and how many arrivals
/// (resends and replays included) they account for.
pub(crate) fn notification_counts(conn: &Connection) -> Result<(u64, u64), JournalError> {
    let (distinct, arrivals): (i64, i64) = conn
        .prepare_cached(
            "SELECT count(*), coalesce(sum(times_received), 0) FROM registration_notifications",
        )?
        .query_row([], |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok((
        u64::try_from(distinct).unwrap_or(0),
        u64::try_from(arrivals).unwrap_or(0),
    ))
}

fn not_found(registration_request_id: &str) -> JournalError {
    JournalError::NotFound {
        what: format!("registration {registration_request_id}"),
    }
}

impl Journal {
    /// Journals a registration before its request is sent.
    pub fn create_registration(
        &mut self,
        new: NewRegistration,
    ) -> Result<RegistrationRecord, JournalError> {
        check_request_id("registration_request_id", &new.registration_request_id)?;
        check_text(
            "reference_merchant_id",
            &new.reference_merchant_id,
            64,
            true,
        )?;
        check_text("reference_store_id", &new.reference_store_id, 32, true)?;
        let now = to_stored(self.now(), "created_at")?;
        let tx = self.begin_write()?;
        tx.prepare_cached(
            "INSERT INTO registrations (registration_request_id, reference_merchant_id,
                reference_store_id, body_sha256, created_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?5)",
        )?
        .execute(params![
            new.registration_request_id,
            new.reference_merchant_id,
            new.reference_store_id,
            new.body_sha256,
            now
        ])?;
        let record = by_request_id(&tx, &new.registration_request_id)?
            .ok_or_else(|| not_found(&new.registration_request_id))?;
        tx.commit()?;
        Ok(record)
    }

    /// Counts one more send of the journaled request, before it leaves.
    pub fn record_registration_send(
        &mut self,
        registration_request_id: &str,
    ) -> Result<(), JournalError> {
        let now = to_stored(self.now(), "updated_at")?;
        let tx = self.begin_write()?;
        let changed = tx
            .prepare_cached(
                "UPDATE registrations SET sends = sends + 1, updated_at = ?2
                 WHERE registration_request_id = ?1",
            )?
            .execute(params![registration_request_id, now])?;
        if changed == 0 {
            return Err(not_found(registration_request_id));
        }
        tx.commit()?;
        Ok(())
    }

    /// Records what an answer (or its absence) said. A definite outcome is never replaced:
    /// the first accepted or refused answer is the one Alipay keeps giving for the id.
    pub fn record_registration_answer(
        &mut self,
        registration_request_id: &str,
        outcome: RegistrationOutcome,
        result_code: Option<&str>,
        result_message: Option<&str>,
    ) -> Result<RegistrationRecord, JournalError> {
        if let Some(code) = result_code {
            check_text("result_code", code, MAX_TEXT, false)?;
        }
        let message: Option<String> =
            result_message.map(|m| m.chars().take(MAX_TEXT).collect::<String>());
        let now = to_stored(self.now(), "answered_at")?;
        let tx = self.begin_write()?;
        let current = by_request_id(&tx, registration_request_id)?
            .ok_or_else(|| not_found(registration_request_id))?;
        if !current
            .outcome
            .is_some_and(RegistrationOutcome::is_definite)
        {
            tx.prepare_cached(
                "UPDATE registrations SET outcome = ?2, result_code = ?3, result_message = ?4,
                    answered_at = ?5, updated_at = ?5
                 WHERE registration_request_id = ?1",
            )?
            .execute(params![
                registration_request_id,
                outcome.as_str(),
                result_code,
                message,
                now
            ])?;
        }
        let record = by_request_id(&tx, registration_request_id)?
            .ok_or_else(|| not_found(registration_request_id))?;
        tx.commit()?;
        Ok(record)
    }

    /// Records a review learned from Alipay. Learning one proves the request was accepted,
    /// so an unknown outcome becomes accepted. Returns the record and whether the review
    /// was applied: a pending review for a registration already completed is stale (a late
    /// resend) and changes nothing but `checked_at`.
    pub fn record_registration_review(
        &mut self,
        registration_request_id: &str,
        update: ReviewUpdate,
    ) -> Result<(RegistrationRecord, bool), JournalError> {
        for wallet in &update.wallets {
            check_text("wallet", &wallet.wallet, 64, true)?;
        }
        let clip = |t: Option<String>| t.map(|t| t.chars().take(MAX_TEXT).collect::<String>());
        let now = to_stored(self.now(), "checked_at")?;
        let tx = self.begin_write()?;
        let current = by_request_id(&tx, registration_request_id)?
            .ok_or_else(|| not_found(registration_request_id))?;
        if current.outcome == Some(RegistrationOutcome::Refused) {
            return Err(JournalError::InvalidInput {
                field: "status",
                reason: format!(
                    "registration {registration_request_id} was refused; a refused request has no review"
                ),
            });
        }
        if !current
            .outcome
            .is_some_and(RegistrationOutcome::is_definite)
        {
            tx.prepare_cached(
                "UPDATE registrations SET outcome = 'accepted', answered_at = ?2,
                    result_code = coalesce(result_code, 'SUCCESS'), updated_at = ?2
                 WHERE registration_request_id = ?1",
            )?
            .execute(params![registration_request_id, now])?;
        }
        let stale = current.status == Some(ReviewStatus::Completed)
            && update.status != ReviewStatus::Completed;
        if stale {
            tx.prepare_cached(
                "UPDATE registrations SET checked_at = ?2, updated_at = ?2
                 WHERE registration_request_id = ?1",
            )?
            .execute(params![registration_request_id, now])?;
        } else {
            tx.prepare_cached(
                "UPDATE registrations SET status = ?2, status_text = ?3, status_reasons = ?4,
                    checked_at = ?5, updated_at = ?5
                 WHERE registration_request_id = ?1",
            )?
            .execute(params![
                registration_request_id,
                update.status.as_str(),
                clip(update.status_text),
                clip(update.status_reasons),
                now
            ])?;
            for wallet in update.wallets {
                tx.prepare_cached(
                    "INSERT INTO registration_wallets
                        (registration, wallet, verdict, verdict_text, reject_reasons, updated_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                     ON CONFLICT (registration, wallet) DO UPDATE SET verdict = excluded.verdict,
                        verdict_text = excluded.verdict_text,
                        reject_reasons = excluded.reject_reasons,
                        updated_at = excluded.updated_at",
                )?
                .execute(params![
                    current.id,
                    wallet.wallet,
                    wallet.verdict.as_str(),
                    clip(wallet.verdict_text),
                    clip(wallet.reject_reasons),
                    now
                ])?;
            }
        }
        let record = by_request_id(&tx, registration_request_id)?
            .ok_or_else(|| not_found(registration_request_id))?;
        tx.commit()?;
        Ok((record, !stale))
    }

    /// Records a verified `notifyRegistrationStatus` once: `body_sha256` (of the exact body
    /// received) is the key, so a resend or a replay is recognised and only counted.
    pub fn record_registration_notification(
        &mut self,
        body_sha256: &str,
        registration_request_id: &str,
        summary: &str,
    ) -> Result<NotificationReceipt, JournalError> {
        check_text("registration_request_id", registration_request_id, 64, true)?;
        let now = to_stored(self.now(), "received_at")?;
        let summary: String = summary.chars().take(MAX_TEXT).collect();
        let tx = self.begin_write()?;
        let registration: Option<i64> = tx
            .prepare_cached("SELECT id FROM registrations WHERE registration_request_id = ?1")?
            .query_row([registration_request_id], |r| r.get(0))
            .optional()?;
        let inserted = tx
            .prepare_cached(
                "INSERT INTO registration_notifications (body_sha256, registration_request_id,
                    registration, received_at, last_received_at, summary)
                 VALUES (?1, ?2, ?3, ?4, ?4, ?5)
                 ON CONFLICT (body_sha256) DO NOTHING",
            )?
            .execute(params![
                body_sha256,
                registration_request_id,
                registration,
                now,
                summary
            ])?;
        if inserted == 0 {
            tx.prepare_cached(
                "UPDATE registration_notifications
                 SET times_received = times_received + 1, last_received_at = ?2
                 WHERE body_sha256 = ?1",
            )?
            .execute(params![body_sha256, now])?;
        }
        let times: i64 = tx
            .prepare_cached(
                "SELECT times_received FROM registration_notifications WHERE body_sha256 = ?1",
            )?
            .query_row([body_sha256], |r| r.get(0))?;
        tx.commit()?;
        Ok(NotificationReceipt {
            first_time: inserted == 1,
            times_received: u32::try_from(times).unwrap_or(u32::MAX),
        })
    }

    pub fn registration_by_request_id(
        &self,
        registration_request_id: &str,
    ) -> Result<Option<RegistrationRecord>, JournalError> {
        by_request_id(&self.conn, registration_request_id)
    }

    /// The newest registration of this merchant and store, whatever its outcome.
    pub fn latest_registration(
        &self,
        merchant: &str,
        store: &str,
    ) -> Result<Option<RegistrationRecord>, JournalError> {
        latest_for(&self.conn, merchant, store)
    }

    /// The registration whose review is the store's status (see [`current_for`]).
    pub fn current_registration(
        &self,
        merchant: &str,
        store: &str,
    ) -> Result<Option<RegistrationRecord>, JournalError> {
        current_for(&self.conn, merchant, store)
    }

    /// The newest accepted registration of this merchant and store.
    pub fn latest_accepted_registration(
        &self,
        merchant: &str,
        store: &str,
    ) -> Result<Option<RegistrationRecord>, JournalError> {
        latest_accepted_for(&self.conn, merchant, store)
    }
}
