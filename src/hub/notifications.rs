//! Notifications at the hub: stored before Alipay is answered, de-duplicated by identity,
//! routed by terminal tag, acknowledged by the terminal that applied (or refused) them.
//!
//! Identity (what makes a resend the same notification): for `notifyPayment`, the SHA-256
//! of its `notifyType`, `paymentRequestId`, `paymentId` and result (`resultStatus`,
//! `resultCode`); each resend is signed afresh with a new `request-time`, so the raw
//! request differs while these do not. For `notifyRegistrationStatus`, the SHA-256 of the
//! exact body, the key the terminal's own journal uses for them. The first copy is kept;
//! later ones only count in `resends`.

use std::collections::BTreeMap;

use deadpool_postgres::Pool;

use super::HubError;
use super::wire::{AckOutcome, Relayed};
use crate::ams::notification::Notification;
use crate::ams::signing::sha256_hex;

/// Longest rejection reason kept.
const MAX_REASON_CHARS: usize = 500;

/// A verified notification, ready to be stored.
#[derive(Debug, Clone)]
pub struct NewNotification {
    pub kind: &'static str,
    pub identity: String,
    /// The terminal tag in the `paymentRequestId` (or `registrationRequestId`); `None` when
    /// the id is not of our shape, so the notification names no terminal.
    pub route_tag: Option<String>,
    pub path: String,
    pub headers: BTreeMap<String, String>,
    pub body: Vec<u8>,
}

impl NewNotification {
    /// Identity and route of a verified notification (see the module doc).
    pub fn of(
        notification: &Notification,
        path: String,
        headers: BTreeMap<String, String>,
        body: Vec<u8>,
    ) -> NewNotification {
        let (kind, identity, route_tag) = match notification {
            Notification::Payment(payment) => {
                let result = payment
                    .result
                    .as_ref()
                    .map(|r| (r.result_status, r.result_code.clone()));
                let key = serde_json::json!([
                    "notifyPayment",
                    payment.notify_type,
                    payment.payment_request_id,
                    payment.payment_id,
                    result,
                ]);
                (
                    "notifyPayment",
                    sha256_hex(key.to_string().as_bytes()),
                    crate::request_ids::tag_of(&payment.payment_request_id).map(str::to_owned),
                )
            }
            Notification::Registration {
                body_sha256,
                notification,
            } => (
                "notifyRegistrationStatus",
                body_sha256.clone(),
                crate::request_ids::tag_of(&notification.registration_request_id)
                    .map(str::to_owned),
            ),
        };
        NewNotification {
            kind,
            identity,
            route_tag,
            path,
            headers,
            body,
        }
    }
}

/// What storing did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stored {
    pub id: i64,
    /// False for a resend of a notification already stored.
    pub new: bool,
}

/// Commits the notification (or, for a resend, counts it) and returns its row id. Returns
/// only once PostgreSQL has committed: the caller may then answer SUCCESS.
///
/// A new row is announced on [`super::wakeups::CHANNEL`] in the same transaction, so every
/// listening hub wakes the streams of its tag once it is committed.
pub async fn store(pool: &Pool, notification: &NewNotification) -> Result<Stored, HubError> {
    let mut client = pool.get().await?;
    let headers = serde_json::to_string(&notification.headers)
        .map_err(|e| HubError::Database(e.to_string()))?;
    let transaction = client.transaction().await?;
    let inserted = transaction
        .query_opt(
            "INSERT INTO hub_notifications (kind, identity, route_tag, path, headers, body) \
             VALUES ($1, $2, $3, $4, $5::text::jsonb, $6) \
             ON CONFLICT (identity) DO NOTHING RETURNING id",
            &[
                &notification.kind,
                &notification.identity,
                &notification.route_tag,
                &notification.path,
                &headers,
                &notification.body,
            ],
        )
        .await?;
    if let Some(row) = inserted {
        if let Some(tag) = &notification.route_tag {
            transaction
                .execute("SELECT pg_notify($1, $2)", &[&super::wakeups::CHANNEL, tag])
                .await?;
        }
        transaction.commit().await?;
        return Ok(Stored {
            id: row.get(0),
            new: true,
        });
    }
    let row = transaction
        .query_one(
            "UPDATE hub_notifications SET resends = resends + 1 WHERE identity = $1 RETURNING id",
            &[&notification.identity],
        )
        .await?;
    transaction.commit().await?;
    Ok(Stored {
        id: row.get(0),
        new: false,
    })
}

/// Up to `limit` notifications for terminals of `tag` not acknowledged yet, except the
/// rows in `sent` (already handed to this connection), oldest first.
pub async fn waiting(
    pool: &Pool,
    tag: &str,
    sent: &[i64],
    limit: i64,
) -> Result<Vec<Relayed>, HubError> {
    use base64::Engine;
    let client = pool.get().await?;
    let rows = client
        .query(
            "SELECT id, path, headers::text, body FROM hub_notifications \
             WHERE route_tag = $1 AND acknowledged_at IS NULL AND NOT (id = ANY($2)) \
             ORDER BY id LIMIT $3",
            &[&tag, &sent, &limit],
        )
        .await?;
    rows.iter()
        .map(|row| {
            let headers: String = row.get(2);
            let body: Vec<u8> = row.get(3);
            Ok(Relayed {
                id: row.get(0),
                path: row.get(1),
                headers: serde_json::from_str(&headers)
                    .map_err(|e| HubError::Database(format!("stored headers: {e}")))?,
                body_base64: base64::engine::general_purpose::STANDARD.encode(body),
            })
        })
        .collect()
}

/// The rows of `ids` not acknowledged yet.
pub async fn still_waiting(pool: &Pool, ids: &[i64]) -> Result<Vec<i64>, HubError> {
    let client = pool.get().await?;
    let rows = client
        .query(
            "SELECT id FROM hub_notifications WHERE id = ANY($1) AND acknowledged_at IS NULL",
            &[&ids],
        )
        .await?;
    Ok(rows.iter().map(|row| row.get(0)).collect())
}

/// Notes that notification `id` was handed to terminal `terminal`'s connection.
pub async fn mark_delivered(pool: &Pool, id: i64, terminal: i64) -> Result<(), HubError> {
    let client = pool.get().await?;
    client
        .execute(
            "UPDATE hub_notifications SET delivered_at = COALESCE(delivered_at, now()), \
             delivered_to = $2 WHERE id = $1",
            &[&id, &terminal],
        )
        .await?;
    Ok(())
}

/// What an acknowledgement changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Acknowledged {
    /// Recorded now.
    Now,
    /// It was acknowledged before (a repeat after a lost answer): nothing changed.
    Already,
    /// No notification `id` is routed to this terminal.
    NotFound,
}

/// Terminal `terminal` (tag `tag`) acknowledges notification `id`.
pub async fn acknowledge(
    pool: &Pool,
    id: i64,
    terminal: i64,
    tag: &str,
    outcome: AckOutcome,
    reason: Option<&str>,
) -> Result<Acknowledged, HubError> {
    let reason: Option<String> = reason.map(|r| r.chars().take(MAX_REASON_CHARS).collect());
    let client = pool.get().await?;
    let changed = client
        .execute(
            "UPDATE hub_notifications SET acknowledged_at = now(), acknowledged_by = $2, \
             ack_outcome = $4, ack_reason = $5 \
             WHERE id = $1 AND route_tag = $3 AND acknowledged_at IS NULL",
            &[&id, &terminal, &tag, &outcome.as_str(), &reason],
        )
        .await?;
    if changed > 0 {
        return Ok(Acknowledged::Now);
    }
    let exists = client
        .query_opt(
            "SELECT 1 FROM hub_notifications WHERE id = $1 AND route_tag = $2",
            &[&id, &tag],
        )
        .await?;
    Ok(if exists.is_some() {
        Acknowledged::Already
    } else {
        Acknowledged::NotFound
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ams::notification::parse_verified_body;

    fn payment(status: &str, id: &str) -> Notification {
        let body = format!(
            r#"{{"notifyType":"PAYMENT_RESULT","result":{{"resultCode":"SUCCESS","resultStatus":"{status}","resultMessage":"x"}},"paymentRequestId":"{id}","paymentId":"2026","paymentAmount":{{"currency":"USD","value":"100"}}}}"#
        );
        Notification::Payment(Box::new(parse_verified_body(body.as_bytes()).unwrap()))
    }

    #[test]
    fn identity_ignores_the_envelope_and_routes_by_tag() {
        let of = |n: &Notification, time: &str| {
            let headers = BTreeMap::from([("request-time".to_owned(), time.to_owned())]);
            NewNotification::of(n, "/alipay/notify".into(), headers, b"raw".to_vec())
        };
        let first = of(&payment("S", "P-1-T01-ABC"), "t1");
        let resend = of(&payment("S", "P-1-T01-ABC"), "t2");
        assert_eq!(first.identity, resend.identity);
        assert_eq!(first.route_tag.as_deref(), Some("T01"));
        assert_ne!(
            first.identity,
            of(&payment("S", "P-1-T02-ABC"), "t1").identity
        );
        assert_eq!(of(&payment("S", "foreign-id"), "t1").route_tag, None);
        let registration = Notification::Registration {
            body_sha256: "ab".repeat(32),
            notification: parse_verified_body(
                br#"{"registrationRequestId":"G-1-T07-XYZ","referenceMerchantId":"M1","registrationResult":{"registrationStatus":"COMPLETED"}}"#,
            )
            .unwrap(),
        };
        let stored = of(&registration, "t1");
        assert_eq!(stored.kind, "notifyRegistrationStatus");
        assert_eq!(stored.route_tag.as_deref(), Some("T07"));
        assert_eq!(stored.identity, "ab".repeat(32));
    }
}
