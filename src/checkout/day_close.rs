//! Closing a local business day (the Z report), approved by a manager.
//!
//! The engine is the journal's only writer, so the close goes through it like every other
//! write: the journal adds the day up and stores the record in one transaction on the
//! engine's connection. Nothing is sent to Alipay.

use time::Date;

use super::{Checkout, CheckoutError};
use crate::admin::ManagerApproval;
use crate::journal::DayClose;

impl Checkout {
    /// Closes the local day `date` in the manager's name. A day already closed, or one
    /// that has not started, is refused by the journal with a message that says so.
    pub async fn close_day(
        &self,
        date: Date,
        approval: &ManagerApproval,
    ) -> Result<DayClose, CheckoutError> {
        let manager = approval.manager().to_string();
        let close = self.db(move |j| j.close_day(date, &manager)).await?;
        tracing::info!(
            day = %close.date,
            number = close.number,
            manager = approval.manager(),
            unresolved_payments = close.unresolved_payments,
            unresolved_refunds = close.unresolved_refunds,
            "day closed"
        );
        Ok(close)
    }
}
