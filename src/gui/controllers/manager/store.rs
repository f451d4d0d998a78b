//! The "Whole store" tab: every terminal's payments as the store hub has them, with the
//! same filters as the terminal's own list, the day's totals per currency, and a
//! read-only detail. Shown only when `[hub] url` is set.
//!
//! Read-only on purpose: a refund of another counter's payment is not possible yet, so
//! nothing here changes anything. The hub may be down or refuse the token; then the tab
//! says so (and what to do) while the rest of the manager screen works on the journal as
//! always: every read is asynchronous and its answer only touches this tab's state.

use std::cell::RefCell;
use std::rc::Rc;

use time::Date;

use super::transactions::{Filters, LIST_LIMIT, StatusChoice};
use crate::gui::controllers::{Changed, EngineSlot};
use crate::money::{Currency, Money};
use crate::terminal::{
    StoreError, StorePaymentDetail, StoreTotals, StoreTransaction, StoreTransactionsQuery,
};

/// Why the tab shows no (or no fresh) list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreNotice {
    None,
    /// The amount filter is not an amount in the terminal's currency.
    BadAmount,
    /// The hub cannot be reached (its words for the detail line).
    Unreachable(String),
    /// The hub refused this terminal's token.
    Refused(String),
    /// The hub answered with an error (its words).
    Failed(String),
}

impl StoreNotice {
    fn of(error: StoreError) -> StoreNotice {
        match error {
            StoreError::Unreachable(why) => StoreNotice::Unreachable(why),
            StoreError::Refused(why) => StoreNotice::Refused(why),
            StoreError::Failed(why) => StoreNotice::Failed(why),
        }
    }
}

/// The states the "Open" filter means, as the hub names them.
const OPEN_STATES: [&str; 4] = ["created", "awaiting_customer", "cancelling", "unresolved"];

/// The hub's query for the filters on screen, or `None` when the amount typed is not an
/// amount. "Refunded" and "Open" are narrowed further on the rows (see [`keeps`]).
pub fn store_query(
    filters: &Filters,
    currency: Currency,
    today: Date,
) -> Option<StoreTransactionsQuery> {
    let mut query = StoreTransactionsQuery {
        limit: Some(LIST_LIMIT),
        ..StoreTransactionsQuery::default()
    };
    if filters.today {
        query.date = Some(today.to_string());
    }
    query.state = match filters.status {
        StatusChoice::All | StatusChoice::Open => None,
        StatusChoice::Paid | StatusChoice::Refunded => Some("paid".into()),
        StatusChoice::Cancelled => Some("cancelled".into()),
        StatusChoice::Failed => Some("failed".into()),
    };
    query.product = match filters.product {
        super::transactions::ProductChoice::All => None,
        super::transactions::ProductChoice::QrCode => Some("order_code".into()),
        super::transactions::ProductChoice::Scanned => Some("user_presented".into()),
    };
    let amount = filters.amount.trim();
    if !amount.is_empty() {
        // Checked here so a typo says "not an amount" at once, and sent in the form the
        // hub parses (major units with the currency).
        let amount = Money::parse(amount, currency).ok()?;
        query.amount = Some(amount.major_string());
        query.currency = Some(currency.code().to_owned());
    }
    let text = filters.id.trim();
    if !text.is_empty() {
        query.request_id = Some(text.to_owned());
    }
    Some(query)
}

/// Whether a row the hub sent stays in the list: the filters the hub's one `state` cannot
/// say ("Refunded": paid with a refund; "Open": any of four states).
pub fn keeps(status: StatusChoice, row: &StoreTransaction) -> bool {
    match status {
        StatusChoice::Refunded => row.refunded_minor > 0,
        StatusChoice::Open => OPEN_STATES.contains(&row.payment.state.as_str()),
        _ => true,
    }
}

#[derive(Default)]
struct StoreState {
    filters: Filters,
    rows: Vec<StoreTransaction>,
    totals: Vec<StoreTotals>,
    detail: Option<StorePaymentDetail>,
    loading: bool,
    notice: Option<StoreNotice>,
    /// Each read gets a number; an answer older than the newest request is dropped.
    seq: u64,
    /// Bumped whenever the filter fields must be reset on screen (a new visit).
    cleared: u64,
}

#[derive(Clone)]
pub struct StoreView {
    engine: EngineSlot,
    currency: Currency,
    today: Rc<dyn Fn() -> Date>,
    state: Rc<RefCell<StoreState>>,
    changed: Changed,
}

impl StoreView {
    pub fn new(engine: EngineSlot, currency: Currency, today: Rc<dyn Fn() -> Date>) -> StoreView {
        StoreView {
            engine,
            currency,
            today,
            state: Rc::new(RefCell::new(StoreState::default())),
            changed: Changed::default(),
        }
    }

    pub fn on_change(&self, listener: impl Fn() + 'static) {
        self.changed.listen(move |()| listener());
    }

    fn update<T>(&self, f: impl FnOnce(&mut StoreState) -> T) -> T {
        let result = f(&mut self.state.borrow_mut());
        self.changed.emit(&());
        result
    }

    /// Changes each time the filter fields must be reset on screen.
    pub fn cleared(&self) -> u64 {
        self.state.borrow().cleared
    }

    pub fn rows(&self) -> Vec<StoreTransaction> {
        self.state.borrow().rows.clone()
    }

    pub fn totals(&self) -> Vec<StoreTotals> {
        self.state.borrow().totals.clone()
    }

    pub fn detail(&self) -> Option<StorePaymentDetail> {
        self.state.borrow().detail.clone()
    }

    pub fn loading(&self) -> bool {
        self.state.borrow().loading
    }

    pub fn notice(&self) -> StoreNotice {
        self.state
            .borrow()
            .notice
            .clone()
            .unwrap_or(StoreNotice::None)
    }

    /// New filters from the screen: the store is read again.
    pub fn set_filters(&self, filters: Filters) {
        self.state.borrow_mut().filters = filters;
        self.load();
    }

    /// Nothing held (a new manager's visit, or its end).
    pub fn reset(&self) {
        self.update(|state| {
            *state = StoreState {
                seq: state.seq,
                cleared: state.cleared + 1,
                ..StoreState::default()
            };
        });
    }

    /// Reads the store's transactions matching the filters and today's totals.
    pub fn load(&self) {
        let today = (self.today)();
        let (query, status) = {
            let state = self.state.borrow();
            (
                store_query(&state.filters, self.currency, today),
                state.filters.status,
            )
        };
        let Some(query) = query else {
            self.update(|state| {
                state.notice = Some(StoreNotice::BadAmount);
                state.rows.clear();
            });
            return;
        };
        let Some(engine) = self.engine.get() else {
            self.update(|state| {
                state.notice = Some(StoreNotice::Failed(
                    "the terminal is still starting; try again in a moment".into(),
                ))
            });
            return;
        };
        let seq = self.update(|state| {
            state.seq += 1;
            state.loading = true;
            state.seq
        });
        let view = self.clone();
        engine.store_view(
            query,
            today,
            Box::new(move |answer| {
                if view.state.borrow().seq != seq {
                    return;
                }
                view.update(|state| {
                    state.loading = false;
                    match answer {
                        Ok((rows, totals)) => {
                            state.notice = None;
                            state.rows =
                                rows.into_iter().filter(|row| keeps(status, row)).collect();
                            state.totals = totals;
                        }
                        Err(error) => {
                            tracing::warn!(%error, "cannot read the whole store's view at the hub");
                            state.notice = Some(StoreNotice::of(error));
                            state.rows.clear();
                            state.totals.clear();
                        }
                    }
                });
            }),
        );
    }

    /// Opens one store payment's read-only detail.
    pub fn open(&self, payment_request_id: String) {
        let Some(engine) = self.engine.get() else {
            return;
        };
        let view = self.clone();
        engine.store_payment(
            payment_request_id,
            Box::new(move |answer| match answer {
                Ok(detail) => view.update(|state| state.detail = Some(detail)),
                Err(error) => {
                    tracing::warn!(%error, "cannot read a store payment at the hub");
                    view.update(|state| state.notice = Some(StoreNotice::of(error)));
                }
            }),
        );
    }

    /// The screenshots' demo store: these rows and totals, no hub asked.
    pub fn show_demo(&self, rows: Vec<StoreTransaction>, totals: Vec<StoreTotals>) {
        self.update(|state| {
            state.rows = rows;
            state.totals = totals;
            state.notice = None;
            state.loading = false;
        });
    }

    pub fn close_detail(&self) {
        self.update(|state| state.detail = None);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gui::controllers::manager::transactions::ProductChoice;

    fn day() -> Date {
        Date::from_calendar_date(2026, time::Month::December, 1).unwrap()
    }

    #[test]
    fn the_screens_filters_become_the_hubs_query() {
        let filters = Filters {
            today: true,
            status: StatusChoice::Refunded,
            amount: " 12.5 ".into(),
            id: "  abc ".into(),
            product: ProductChoice::Scanned,
        };
        let query = store_query(&filters, Currency::from_code("CNY").unwrap(), day()).unwrap();
        assert_eq!(query.date.as_deref(), Some("2026-12-01"));
        assert_eq!(query.state.as_deref(), Some("paid"));
        assert_eq!(query.product.as_deref(), Some("user_presented"));
        assert_eq!(query.amount.as_deref(), Some("12.50"));
        assert_eq!(query.currency.as_deref(), Some("CNY"));
        assert_eq!(query.request_id.as_deref(), Some("abc"));
        let all = Filters {
            today: false,
            ..Filters::default()
        };
        let query = store_query(&all, Currency::from_code("CNY").unwrap(), day()).unwrap();
        assert_eq!(query.date, None);
        assert_eq!(query.state, None);
    }

    #[test]
    fn an_amount_that_is_not_one_asks_nothing_of_the_hub() {
        let filters = Filters {
            amount: "12,5x".into(),
            ..Filters::default()
        };
        assert_eq!(
            store_query(&filters, Currency::from_code("CNY").unwrap(), day()),
            None
        );
    }
}
