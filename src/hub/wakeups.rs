//! Waking terminal streams when a notification for them is stored, on this hub or on any
//! other hub of the same database (PostgreSQL `LISTEN/NOTIFY`).
//!
//! The table stays the truth: a wake-up only makes a stream look at `hub_notifications`
//! now rather than at its next rescan (every 2 s), so a lost wake-up costs latency, never
//! a notification. `notifications::store` sends `NOTIFY hub_notification, '<route tag>'`
//! in the transaction that inserts the row; PostgreSQL delivers it at commit, so a woken
//! stream always finds the row. Each hub listens on one connection of its own (outside the
//! pool: `LISTEN` belongs to a session) and wakes only the streams of that tag. When that
//! connection is lost it reconnects with backoff and then wakes every stream once, since
//! whatever was stored meanwhile was announced to nobody here.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use futures_util::StreamExt;
use tokio::sync::{mpsc, watch};
use tokio_postgres::AsyncMessage;

/// The channel `notifications::store` notifies; the payload is the route tag.
pub const CHANNEL: &str = "hub_notification";

const MIN_BACKOFF: Duration = Duration::from_millis(250);
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// One wake-up signal per terminal tag with a stream on this hub.
#[derive(Default)]
pub struct Wakeups {
    by_tag: Mutex<HashMap<String, watch::Sender<u64>>>,
}

impl Wakeups {
    /// A receiver that changes whenever a notification for `tag` is stored.
    pub fn subscribe(&self, tag: &str) -> watch::Receiver<u64> {
        let mut by_tag = self
            .by_tag
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        by_tag
            .entry(tag.to_owned())
            .or_insert_with(|| watch::Sender::new(0))
            .subscribe()
    }

    /// Wakes the streams of `tag`, if this hub has any.
    pub fn wake(&self, tag: &str) {
        let mut by_tag = self
            .by_tag
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(sender) = by_tag.get(tag) {
            if sender.receiver_count() == 0 {
                by_tag.remove(tag);
            } else {
                sender.send_modify(|n| *n = n.wrapping_add(1));
            }
        }
    }

    /// Wakes every stream (and forgets the tags nobody listens to any more).
    pub fn wake_all(&self) {
        let mut by_tag = self
            .by_tag
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        by_tag.retain(|_, sender| sender.receiver_count() > 0);
        for sender in by_tag.values() {
            sender.send_modify(|n| *n = n.wrapping_add(1));
        }
    }
}

/// Listens on [`CHANNEL`] with a connection made from `config` until `closing` is set,
/// waking `wakeups` for every tag announced.
pub async fn listen(
    config: tokio_postgres::Config,
    wakeups: std::sync::Arc<Wakeups>,
    mut closing: watch::Receiver<bool>,
) {
    let mut backoff = MIN_BACKOFF;
    loop {
        match config.connect(tokio_postgres::NoTls).await {
            Ok((client, mut connection)) => {
                let (tags, mut announced) = mpsc::unbounded_channel::<String>();
                // Drives the connection; its notifications come out as messages.
                let driver = tokio::spawn(async move {
                    let mut messages =
                        futures_util::stream::poll_fn(move |cx| connection.poll_message(cx));
                    while let Some(message) = messages.next().await {
                        match message {
                            Ok(AsyncMessage::Notification(notification)) => {
                                if tags.send(notification.payload().to_owned()).is_err() {
                                    return;
                                }
                            }
                            Ok(_) => {}
                            Err(error) => {
                                tracing::warn!(error = %super::db::describe(&error), "the hub's LISTEN connection broke");
                                return;
                            }
                        }
                    }
                });
                match client.batch_execute(&format!("LISTEN {CHANNEL}")).await {
                    Ok(()) => {
                        tracing::info!("listening for notifications stored by any hub");
                        backoff = MIN_BACKOFF;
                        wakeups.wake_all();
                        loop {
                            tokio::select! {
                                tag = announced.recv() => match tag {
                                    Some(tag) => wakeups.wake(&tag),
                                    None => break,
                                },
                                _ = closing.wait_for(|closing| *closing) => {
                                    driver.abort();
                                    return;
                                }
                            }
                        }
                    }
                    Err(error) => {
                        tracing::warn!(error = %super::db::describe(&error), "cannot LISTEN; retrying")
                    }
                }
                driver.abort();
                drop(client);
            }
            Err(error) => {
                tracing::warn!(error = %super::db::describe(&error), retry_in_ms = backoff.as_millis() as u64, "cannot connect to LISTEN for other hubs' notifications; streams rescan meanwhile")
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(backoff) => {}
            _ = closing.wait_for(|closing| *closing) => return,
        }
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_streams_of_the_tag_are_woken_and_idle_tags_are_forgotten() {
        let wakeups = Wakeups::default();
        let mut t01 = wakeups.subscribe("T01");
        let t02 = wakeups.subscribe("T02");
        wakeups.wake("T01");
        assert!(t01.has_changed().unwrap());
        assert!(!t02.has_changed().unwrap());
        t01.mark_unchanged();
        wakeups.wake("T99");
        wakeups.wake_all();
        assert!(t01.has_changed().unwrap() && t02.has_changed().unwrap());
        drop(t02);
        wakeups.wake("T02");
        assert!(!wakeups.by_tag.lock().unwrap().contains_key("T02"));
    }
}
