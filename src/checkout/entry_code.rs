//! Entry Code results the store hub relayed: the hub made those payments (it hosts the
//! wallet's page), so the engine only journals what it was told, as read-only knowledge
//! for the counter's screen, and tells the faces.

use super::engine::Checkout;
use super::{CheckoutError, CheckoutEvent};
use crate::journal::EntryCodeRecord;

impl Checkout {
    /// Journals `record`; `Ok(false)` when it was journaled already (the hub relays again a
    /// result whose acknowledgement was lost). Publishes [`CheckoutEvent::EntryCodeResult`]
    /// for a new one.
    pub async fn record_entry_code_result(
        &self,
        record: EntryCodeRecord,
    ) -> Result<bool, CheckoutError> {
        let payment_request_id = record.payment_request_id.clone();
        let outcome = record.outcome.clone();
        let new = self
            .db(move |journal| journal.record_entry_code_result(&record))
            .await?;
        if new {
            self.publish(CheckoutEvent::EntryCodeResult {
                payment_request_id,
                outcome,
            });
        }
        Ok(new)
    }
}
