//! What a refund must get past before it is journaled and sent, when something outside
//! this terminal also refunds the same payments: the store hub's reservation.
//!
//! The engine knows no hub; the wiring (`terminal`) installs a gate with
//! [`super::Checkout::set_refund_gate`] when `[hub] url` is set, and `hub_link` implements
//! it. Without a gate the journal's own check is the only one, as it always was.

use std::future::Future;
use std::pin::Pin;

use crate::money::Money;

/// A boxed future, so the trait stays object-safe without an extra crate.
pub type GateFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A refund about to be journaled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefundToReserve {
    pub payment_request_id: String,
    pub refund_request_id: String,
    pub amount: Money,
}

/// Reserves refunds somewhere every counter shares.
pub trait RefundGate: Send + Sync {
    /// Reserves `refund`'s amount; `Err` with the reason (English, saying what to do) when
    /// it is refused or the reservation cannot be made. The engine then refunds nothing.
    fn reserve(&self, refund: RefundToReserve) -> GateFuture<'_, Result<(), String>>;

    /// Releases a reservation whose refund was never journaled (so never sent). Best
    /// effort: a reservation left behind only makes the amount unavailable, never
    /// refundable twice.
    fn release(&self, refund_request_id: String) -> GateFuture<'_, ()>;
}
