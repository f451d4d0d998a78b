//! Delivers `notifyPayment` and `notifyRegistrationStatus` from the ledger's outbox.
//!
//! Alipay's rule (online notifyPayment/notifyRegistrationStatus pages): send, and while the
//! merchant does not answer the fixed acknowledgement, resend up to 8 times at intervals of
//! 0 s, 2 min, 10 min, 10 min, 1 h, 2 h, 6 h and 15 h. So a notification is attempted at most
//! 9 times. The intervals are multiplied by the sandbox's time scale. Because the outbox is in
//! the ledger, a restarted sandbox resumes where it stopped; an attempt that was in flight at
//! the stop is simply made again (the merchant de-duplicates, as it must anyway).
//!
//! Each attempt is signed afresh (new `request-time`) with the simulator key over the notify
//! URL's path and query, exactly like vector v3 of the reference.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderValue};
use tokio::task::JoinSet;

use super::clock::wire_time;
use super::gateway::JSON_UTF8;
use super::ledger::{self, NotificationRow, outbox};
use super::server::GatewayState;
use crate::ams::models::NotificationAck;
use crate::ams::signing;

pub(crate) const NOTIFY_PAYMENT: &str = "notifyPayment";
pub(crate) const NOTIFY_REGISTRATION: &str = "notifyRegistrationStatus";

/// Seconds between an unacknowledged attempt and the next one (the reference's schedule).
pub const RESEND_INTERVALS_SECS: [u64; 8] = [0, 120, 600, 600, 3_600, 7_200, 21_600, 54_000];

/// How long one delivery may take before it counts as unanswered.
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(10);
/// The loop re-reads the outbox at least this often, which bounds how late a notification
/// made due by a clock jump is sent.
const MAX_IDLE: Duration = Duration::from_millis(500);

/// When the next attempt is due after `attempts_made` unacknowledged attempts, or `None` when
/// the schedule is exhausted.
pub(crate) fn next_delay_ms(attempts_made: u32, time_scale: f64) -> Option<i64> {
    let index = usize::try_from(attempts_made).ok()?.checked_sub(1)?;
    let secs = *RESEND_INTERVALS_SECS.get(index)?;
    // Milliseconds as f64 are exact far beyond these magnitudes.
    Some((secs as f64 * 1_000.0 * time_scale).round() as i64)
}

pub(crate) async fn run(app: Arc<GatewayState>) {
    let in_flight: Arc<Mutex<HashSet<i64>>> = Arc::default();
    let mut deliveries = JoinSet::new();
    let mut stop = app.shutdown.clone();
    loop {
        if *stop.borrow() {
            break;
        }
        let now = app.clock.now_ms();
        let due = {
            let app = app.clone();
            tokio::task::spawn_blocking(move || {
                app.ledger.run(|tx| {
                    let due = ledger::notifications_due(tx, now, 64)?;
                    let next = ledger::next_notification_at(tx)?;
                    Ok((due, next))
                })
            })
            .await
        };
        let (due, next) = match due {
            Ok(Ok(found)) => found,
            Ok(Err(e)) => {
                tracing::error!(error = %e, "sandbox notifier cannot read the outbox");
                (Vec::new(), None)
            }
            Err(e) => {
                tracing::error!(error = %e, "sandbox notifier task failed");
                (Vec::new(), None)
            }
        };
        for n in due {
            let fresh = in_flight
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .insert(n.id);
            if fresh {
                let app = app.clone();
                let in_flight = in_flight.clone();
                deliveries.spawn(async move {
                    let id = n.id;
                    deliver(&app, n).await;
                    in_flight
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .remove(&id);
                    app.wake.notify_one();
                });
            }
        }
        while deliveries.try_join_next().is_some() {}
        // A due row that is still pending here is in flight; its delivery wakes the loop when
        // it ends, so there is no point in polling for it (that would spin).
        let idle = next
            .filter(|at| *at > now)
            .map(|at| Duration::from_millis(u64::try_from(at - now).unwrap_or(0)))
            .unwrap_or(MAX_IDLE)
            .min(MAX_IDLE);
        tokio::select! {
            _ = tokio::time::sleep(idle) => {}
            _ = app.wake.notified() => {}
            _ = stop.wait_for(|stopped| *stopped) => break,
        }
    }
    deliveries.shutdown().await;
}

/// One attempt, and its bookkeeping.
async fn deliver(app: &Arc<GatewayState>, n: NotificationRow) {
    let worker = app.clone();
    let (id, attempts) = (n.id, n.attempts);
    let current = tokio::task::spawn_blocking(move || {
        worker
            .ledger
            .run(|tx| ledger::notification_unchanged(tx, id, attempts))
    })
    .await;
    if !matches!(current, Ok(Ok(true))) {
        return;
    }
    if app.faults.notifications_suppressed(&n.client_id) {
        tracing::debug!(id = n.id, "fault: notification suppressed");
        let worker = app.clone();
        let _ = tokio::task::spawn_blocking(move || {
            worker.ledger.run(|tx| ledger::mark_suppressed(tx, n.id))
        })
        .await;
        return;
    }
    let error = attempt(app, &n).await.err();
    match &error {
        None => tracing::debug!(id = n.id, kind = %n.kind, "notification acknowledged"),
        Some(e) => {
            tracing::debug!(id = n.id, kind = %n.kind, error = %e, "notification not acknowledged")
        }
    }
    let now = app.clock.now_ms();
    let attempts_made = n.attempts.saturating_add(1);
    let (next_at, final_status) = match &error {
        None => (None, outbox::DELIVERED),
        Some(_) => (
            next_delay_ms(attempts_made, app.time_scale).map(|d| now.saturating_add(d)),
            outbox::ABANDONED,
        ),
    };
    let worker = app.clone();
    let recorded = tokio::task::spawn_blocking(move || {
        worker.ledger.run(|tx| {
            ledger::record_attempt(tx, n.id, now, error.as_deref(), next_at, final_status)
        })
    })
    .await;
    if !matches!(recorded, Ok(Ok(()))) {
        tracing::error!(id = n.id, "sandbox could not record a notification attempt");
    }
}

/// Sends once; `Ok` only for HTTP 200 with the fixed acknowledgement (`SUCCESS`/`S`).
async fn attempt(app: &GatewayState, n: &NotificationRow) -> Result<(), String> {
    let url = url::Url::parse(&n.url).map_err(|e| format!("bad notify URL: {e}"))?;
    let path = match url.query() {
        Some(q) => format!("{}?{q}", url.path()),
        None => url.path().to_owned(),
    };
    let request_time = wire_time(app.clock.now_ms());
    let content = signing::content_to_sign(&path, &n.client_id, &request_time, n.body.as_bytes());
    let signature = signing::sign_header(&app.alipay_key, signing::DEFAULT_KEY_VERSION, &content)
        .map_err(|e| e.to_string())?;
    let mut headers = HeaderMap::new();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(JSON_UTF8));
    let value = |s: &str| HeaderValue::from_str(s).map_err(|e| e.to_string());
    headers.insert("client-id", value(&n.client_id)?);
    headers.insert("request-time", value(&request_time)?);
    headers.insert("signature", value(&signature.to_string())?);
    let response = app
        .http
        .post(url)
        .headers(headers)
        .body(n.body.clone())
        .timeout(DELIVERY_TIMEOUT)
        .send()
        .await
        .map_err(|e| format!("not delivered: {e}"))?;
    let status = response.status();
    let body = response
        .bytes()
        .await
        .map_err(|e| format!("answer unreadable: {e}"))?;
    if status != reqwest::StatusCode::OK {
        return Err(format!("merchant answered HTTP {}", status.as_u16()));
    }
    let ack: NotificationAck = serde_json::from_slice(&body)
        .map_err(|e| format!("answer is not the acknowledgement JSON: {e}"))?;
    if ack.is_acknowledged() {
        Ok(())
    } else {
        Err(format!(
            "merchant answered {} {}",
            ack.result.result_status, ack.result.result_code
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedule_gives_eight_resends_then_stops() {
        let delays: Vec<Option<i64>> = (1..=9).map(|n| next_delay_ms(n, 1.0)).collect();
        assert_eq!(
            delays,
            [
                Some(0),
                Some(120_000),
                Some(600_000),
                Some(600_000),
                Some(3_600_000),
                Some(7_200_000),
                Some(21_600_000),
                Some(54_000_000),
                None
            ]
        );
        assert_eq!(next_delay_ms(2, 0.001), Some(120));
        assert_eq!(next_delay_ms(0, 1.0), None);
        let total: i64 = (1..=8).filter_map(|n| next_delay_ms(n, 1.0)).sum();
        assert_eq!(total, 1_462 * 60 * 1_000);
    }
}
