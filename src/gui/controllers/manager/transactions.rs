//! The transaction list and its filters, the unresolved list, and the payment whose
//! detail is open. Filters arrive as values from the screen (nothing is read back from
//! it); a filter that is not valid says so instead of listing.

use std::cell::RefCell;
use std::ops::Range;
use std::rc::Rc;

use time::OffsetDateTime;

use crate::gui::controllers::navigation::{Navigation, Screen};
use crate::gui::controllers::{Changed, EngineSlot};
use crate::gui::engine_handle::{Detail, Listed};
use crate::journal::{PaymentFilter, PaymentState, Product};
use crate::money::{Currency, Money};

/// Lists stop here; filters narrow anything older down.
pub const LIST_LIMIT: u32 = 500;

/// What an engine that has not started yet makes a read say.
const NOT_STARTED: &str = "the terminal is still starting; try again in a moment";

/// The status filter (mirrors `StatusFilter` in ui/manager_api.slint).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StatusChoice {
    #[default]
    All,
    Paid,
    Refunded,
    Cancelled,
    Failed,
    Open,
}

/// The product filter (mirrors `ProductFilter`): the products the faces take, named as a
/// manager tells them apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ProductChoice {
    #[default]
    All,
    /// Order Code: the customer scanned the terminal's QR code.
    QrCode,
    /// User-presented: the cashier scanned the customer's payment code.
    Scanned,
}

/// The filters on screen, as the screen passes them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filters {
    pub today: bool,
    pub status: StatusChoice,
    /// An exact amount as typed; empty for any.
    pub amount: String,
    /// Part of an id or the order reference, as typed; empty for any.
    pub id: String,
    pub product: ProductChoice,
}

impl Default for Filters {
    fn default() -> Self {
        Filters {
            today: true,
            status: StatusChoice::All,
            amount: String::new(),
            id: String::new(),
            product: ProductChoice::All,
        }
    }
}

/// Why the list is not what the filters asked for (mirrors `ListNotice`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListNotice {
    None,
    BadAmount,
    /// The journal could not be read (the engine's words).
    Error(String),
}

/// The journal filter for `filters`, or `None` when the amount typed is not an amount.
/// `today` is the local day the "today" filter means.
pub fn journal_filter(
    filters: &Filters,
    currency: Currency,
    today: Range<OffsetDateTime>,
) -> Option<PaymentFilter> {
    let mut filter = PaymentFilter {
        limit: Some(LIST_LIMIT),
        ..PaymentFilter::default()
    };
    if filters.today {
        filter.since = Some(today.start);
        filter.until = Some(today.end);
    }
    filter.states = match filters.status {
        StatusChoice::All => Vec::new(),
        StatusChoice::Paid | StatusChoice::Refunded => vec![PaymentState::Paid],
        StatusChoice::Cancelled => vec![PaymentState::Cancelled],
        StatusChoice::Failed => vec![PaymentState::Failed],
        StatusChoice::Open => vec![
            PaymentState::Created,
            PaymentState::AwaitingCustomer,
            PaymentState::Cancelling,
            PaymentState::Unresolved,
        ],
    };
    // In the journal's query, not after it: the list's limit must not hide older matches.
    filter.products = match filters.product {
        ProductChoice::All => Vec::new(),
        ProductChoice::QrCode => vec![Product::OrderCode],
        ProductChoice::Scanned => vec![Product::UserPresented],
    };
    let amount = filters.amount.trim();
    if !amount.is_empty() {
        let amount = Money::parse(amount, currency).ok()?;
        filter.min_amount = Some(amount);
        filter.max_amount = Some(amount);
    }
    let text = filters.id.trim();
    if !text.is_empty() {
        filter.text = Some(text.to_string());
    }
    Some(filter)
}

#[derive(Default)]
struct ListState {
    filters: Filters,
    list: Vec<Listed>,
    unresolved: Vec<Listed>,
    detail: Option<Detail>,
    detail_open: bool,
    loading: bool,
    notice: Option<ListNotice>,
    /// Each list read gets a number; an answer older than the newest request is dropped.
    seq: u64,
    /// Bumped whenever the filter fields must be reset on screen.
    cleared: u64,
}

#[derive(Clone)]
pub struct Transactions {
    engine: EngineSlot,
    nav: Navigation,
    currency: Currency,
    /// The local day "today" means (a test's own day in unit tests).
    today: Rc<dyn Fn() -> Range<OffsetDateTime>>,
    state: Rc<RefCell<ListState>>,
    changed: Changed,
}

impl Transactions {
    pub fn new(
        engine: EngineSlot,
        nav: Navigation,
        currency: Currency,
        today: Rc<dyn Fn() -> Range<OffsetDateTime>>,
    ) -> Transactions {
        Transactions {
            engine,
            nav,
            currency,
            today,
            state: Rc::new(RefCell::new(ListState::default())),
            changed: Changed::default(),
        }
    }

    pub fn on_change(&self, listener: impl Fn() + 'static) {
        self.changed.listen(move |()| listener());
    }

    fn update<T>(&self, f: impl FnOnce(&mut ListState) -> T) -> T {
        let result = f(&mut self.state.borrow_mut());
        self.changed.emit(&());
        result
    }

    /// Changes each time the filter fields must be reset on screen.
    pub fn cleared(&self) -> u64 {
        self.state.borrow().cleared
    }

    pub fn filters(&self) -> Filters {
        self.state.borrow().filters.clone()
    }

    pub fn list(&self) -> Vec<Listed> {
        self.state.borrow().list.clone()
    }

    pub fn unresolved(&self) -> Vec<Listed> {
        self.state.borrow().unresolved.clone()
    }

    pub fn detail(&self) -> Option<Detail> {
        self.state.borrow().detail.clone()
    }

    pub fn detail_open(&self) -> bool {
        self.state.borrow().detail_open
    }

    pub fn loading(&self) -> bool {
        self.state.borrow().loading
    }

    pub fn notice(&self) -> ListNotice {
        self.state
            .borrow()
            .notice
            .clone()
            .unwrap_or(ListNotice::None)
    }

    /// New filters from the screen: the list is read again.
    pub fn set_filters(&self, filters: Filters) {
        self.state.borrow_mut().filters = filters;
        self.load();
    }

    /// Back to "today, all" with nothing held (a new manager's visit, or its end).
    pub fn reset(&self) {
        self.update(|state| {
            *state = ListState {
                seq: state.seq,
                cleared: state.cleared + 1,
                ..ListState::default()
            };
        });
    }

    /// Reads the payments matching the filters.
    pub fn load(&self) {
        let filter = {
            let state = self.state.borrow();
            journal_filter(&state.filters, self.currency, (self.today)())
        };
        let Some(filter) = filter else {
            self.update(|state| {
                state.notice = Some(ListNotice::BadAmount);
                state.list.clear();
            });
            return;
        };
        let Some(engine) = self.engine.get() else {
            self.update(|state| state.notice = Some(ListNotice::Error(NOT_STARTED.into())));
            return;
        };
        let only_refunded = self.state.borrow().filters.status == StatusChoice::Refunded;
        let seq = self.update(|state| {
            state.notice = None;
            state.seq += 1;
            state.loading = true;
            state.seq
        });
        let controller = self.clone();
        engine.transactions(
            filter,
            Box::new(move |result| {
                if controller.state.borrow().seq != seq {
                    return;
                }
                controller.update(|state| {
                    state.loading = false;
                    match result {
                        Ok(list) => {
                            state.list = list
                                .into_iter()
                                .filter(|listed| !only_refunded || !listed.refunded.is_zero())
                                .collect();
                        }
                        Err(error) => {
                            tracing::error!(%error, "cannot list payments");
                            state.notice = Some(ListNotice::Error(error));
                        }
                    }
                });
            }),
        );
    }

    /// Reads the unresolved payments (their own tab).
    pub fn load_unresolved(&self) {
        let Some(engine) = self.engine.get() else {
            self.update(|state| state.notice = Some(ListNotice::Error(NOT_STARTED.into())));
            return;
        };
        let filter = PaymentFilter {
            states: vec![PaymentState::Unresolved],
            ..PaymentFilter::default()
        };
        let controller = self.clone();
        engine.transactions(
            filter,
            Box::new(move |result| match result {
                Ok(list) => controller.update(|state| state.unresolved = list),
                Err(error) => tracing::error!(%error, "cannot list unresolved payments"),
            }),
        );
    }

    /// Reads one payment's detail and opens it (if the manager screen is still up).
    pub fn load_detail(&self, payment_request_id: String) {
        let Some(engine) = self.engine.get() else {
            self.update(|state| state.notice = Some(ListNotice::Error(NOT_STARTED.into())));
            return;
        };
        let controller = self.clone();
        engine.payment_detail(
            payment_request_id,
            Box::new(move |result| {
                if controller.nav.page() != Screen::Manager {
                    return;
                }
                match result {
                    Ok(Some(detail)) => controller.update(|state| {
                        state.detail = Some(detail);
                        state.detail_open = true;
                    }),
                    Ok(None) => tracing::warn!("the payment opened is not in the journal"),
                    Err(error) => {
                        tracing::error!(%error, "cannot read the payment");
                        controller.update(|state| state.notice = Some(ListNotice::Error(error)));
                    }
                }
            }),
        );
    }

    /// Leaves the detail for the list, which is read again.
    pub fn close_detail(&self) {
        self.update(|state| {
            state.detail = None;
            state.detail_open = false;
        });
        self.load();
    }

    /// The open detail's payment, if any.
    pub fn detail_id(&self) -> Option<String> {
        self.state
            .borrow()
            .detail
            .as_ref()
            .map(|detail| detail.record.payment_request_id.clone())
    }

    /// Fills the lists with records read elsewhere (the screenshots' demo data).
    pub fn show_demo(&self, list: Vec<Listed>, detail: Option<Detail>, detail_open: bool) {
        self.update(|state| {
            state.unresolved = list
                .iter()
                .filter(|listed| listed.record.state == PaymentState::Unresolved)
                .cloned()
                .collect();
            state.list = list;
            state.detail = detail;
            state.detail_open = detail_open;
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gui::controllers::testing::{
        Call, MockEngine, paid_detail, record, record_with_product, usd,
    };
    use crate::money::MinorTotal;

    fn day() -> Range<OffsetDateTime> {
        let start = OffsetDateTime::from_unix_timestamp(1_795_392_000).unwrap();
        start..start + time::Duration::hours(24)
    }

    fn controller(engine: &Rc<MockEngine>) -> (Transactions, Navigation) {
        let slot = EngineSlot::default();
        slot.set(engine.clone());
        let nav = Navigation::new(false);
        nav.go(Screen::Manager);
        let list = Transactions::new(slot, nav.clone(), Currency::USD, Rc::new(day));
        (list, nav)
    }

    #[test]
    fn filters_become_one_journal_filter() {
        let filters = Filters {
            today: true,
            status: StatusChoice::Open,
            amount: " 12.50 ".into(),
            id: " 0001 ".into(),
            product: ProductChoice::Scanned,
        };
        let filter = journal_filter(&filters, Currency::USD, day()).unwrap();
        assert_eq!(filter.since, Some(day().start));
        assert_eq!(filter.until, Some(day().end));
        assert_eq!(filter.states.len(), 4);
        assert_eq!(filter.min_amount, Some(usd("12.50")));
        assert_eq!(filter.max_amount, Some(usd("12.50")));
        assert_eq!(filter.text.as_deref(), Some("0001"));
        assert_eq!(filter.limit, Some(LIST_LIMIT));
        assert_eq!(filter.products, vec![Product::UserPresented]);

        let all = journal_filter(
            &Filters {
                today: false,
                ..Filters::default()
            },
            Currency::USD,
            day(),
        )
        .unwrap();
        assert_eq!((all.since, all.until, all.states.len()), (None, None, 0));
        assert!(all.products.is_empty(), "every product");
    }

    /// The product filter goes to the journal's query, and what comes back keeps each
    /// payment's product and masked code for the rows.
    #[test]
    fn the_product_filter_asks_the_journal_and_the_list_keeps_each_product() {
        let engine = MockEngine::new();
        let (list, _) = controller(&engine);
        let scanned = Listed {
            record: record_with_product(
                "P1",
                "4.20",
                PaymentState::Paid,
                Product::UserPresented,
                Some("1111"),
            ),
            refunded: MinorTotal::zero(Currency::USD),
        };
        *engine.transactions.borrow_mut() = Some(Ok(vec![scanned.clone()]));
        list.set_filters(Filters {
            product: ProductChoice::Scanned,
            ..Filters::default()
        });
        let asked: Vec<Vec<Product>> = engine
            .calls()
            .into_iter()
            .filter_map(|call| match call {
                Call::Transactions(filter) => Some(filter.products),
                _ => None,
            })
            .collect();
        assert_eq!(asked, vec![vec![Product::UserPresented]]);
        let shown = list.list();
        assert_eq!(shown, vec![scanned]);
        assert_eq!(shown[0].record.product, Product::UserPresented);
        assert_eq!(shown[0].record.customer_code_last4.as_deref(), Some("1111"));

        engine.clear_calls();
        list.set_filters(Filters {
            product: ProductChoice::QrCode,
            ..Filters::default()
        });
        assert!(matches!(
            &engine.calls()[0],
            Call::Transactions(f) if f.products == vec![Product::OrderCode]
        ));
        assert_eq!(list.filters().product, ProductChoice::QrCode);
        list.reset();
        assert_eq!(
            list.filters().product,
            ProductChoice::All,
            "a new visit shows every product"
        );
    }

    #[test]
    fn a_bad_amount_filter_lists_nothing_and_says_so() {
        let engine = MockEngine::new();
        let (list, _) = controller(&engine);
        list.set_filters(Filters {
            amount: "12,5x".into(),
            ..Filters::default()
        });
        assert_eq!(list.notice(), ListNotice::BadAmount);
        assert!(list.list().is_empty());
        assert!(
            engine.calls().is_empty(),
            "nothing is read for a bad filter"
        );
    }

    #[test]
    fn refunded_keeps_only_payments_with_a_refund_and_old_answers_are_dropped() {
        let engine = MockEngine::new();
        let (list, _) = controller(&engine);
        let plain = Listed {
            record: record("P1", "12.50", PaymentState::Paid),
            refunded: MinorTotal::zero(Currency::USD),
        };
        let refunded = Listed {
            record: record("P2", "8.00", PaymentState::Paid),
            refunded: MinorTotal::from(usd("2.00")),
        };
        *engine.transactions.borrow_mut() = Some(Ok(vec![plain.clone(), refunded.clone()]));
        list.set_filters(Filters {
            status: StatusChoice::Refunded,
            ..Filters::default()
        });
        assert_eq!(list.list(), vec![refunded]);
        assert!(
            matches!(&engine.calls()[0], Call::Transactions(f) if f.states == vec![PaymentState::Paid])
        );

        // A read still on its way is overtaken by a newer one.
        *engine.transactions.borrow_mut() = None;
        list.set_filters(Filters::default());
        assert!(list.loading());
        *engine.transactions.borrow_mut() = Some(Ok(vec![plain.clone()]));
        list.load();
        assert!(!list.loading());
        assert_eq!(list.list(), vec![plain]);
    }

    #[test]
    fn a_detail_opens_only_while_the_manager_screen_is_up() {
        let engine = MockEngine::new();
        let (list, nav) = controller(&engine);
        *engine.detail.borrow_mut() = Some(Ok(Some(paid_detail("P1", "12.50", "12.50"))));
        list.load_detail("P1".into());
        assert!(list.detail_open());
        assert_eq!(list.detail_id().as_deref(), Some("P1"));
        list.close_detail();
        assert!(!list.detail_open());

        nav.go_home();
        list.load_detail("P1".into());
        assert!(
            !list.detail_open(),
            "an answer after the screen was left is dropped"
        );
    }

    #[test]
    fn no_engine_yet_says_the_terminal_is_starting() {
        let nav = Navigation::new(false);
        let list = Transactions::new(EngineSlot::default(), nav, Currency::USD, Rc::new(day));
        list.load();
        assert_eq!(list.notice(), ListNotice::Error(NOT_STARTED.into()));
    }
}
