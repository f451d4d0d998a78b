//! End-of-day totals: one local day at a time, stepped back and forth, never into days
//! that have not started. The day's bounds are `local_time::day_bounds` (behind the
//! engine handle's `day_totals`), so the totals count the same payments as the list's
//! "today".

use std::cell::RefCell;
use std::rc::Rc;

use time::Date;

use crate::gui::controllers::{Changed, EngineSlot};
use crate::journal::CurrencyTotals;

struct TotalsState {
    day: Date,
    totals: Vec<CurrencyTotals>,
}

#[derive(Clone)]
pub struct Totals {
    engine: EngineSlot,
    /// Today's local date (a test's own date in unit tests).
    today: Rc<dyn Fn() -> Date>,
    state: Rc<RefCell<TotalsState>>,
    changed: Changed,
}

impl Totals {
    pub fn new(engine: EngineSlot, today: Rc<dyn Fn() -> Date>) -> Totals {
        let day = today();
        Totals {
            engine,
            today,
            state: Rc::new(RefCell::new(TotalsState {
                day,
                totals: Vec::new(),
            })),
            changed: Changed::default(),
        }
    }

    pub fn on_change(&self, listener: impl Fn() + 'static) {
        self.changed.listen(move |()| listener());
    }

    pub fn day(&self) -> Date {
        self.state.borrow().day
    }

    /// Whether the day shown is today (the "next day" button is off then).
    pub fn is_today(&self) -> bool {
        self.day() >= (self.today)()
    }

    /// The totals of the day shown, per currency.
    pub fn totals(&self) -> Vec<CurrencyTotals> {
        let state = self.state.borrow();
        state
            .totals
            .iter()
            .filter(|totals| totals.date == state.day)
            .cloned()
            .collect()
    }

    /// Back to today (a new manager's visit).
    pub fn reset(&self) {
        self.show(self.today_date(), Vec::new());
    }

    fn today_date(&self) -> Date {
        (self.today)()
    }

    /// One day back (`delta < 0`) or forward; never past today. The day is read again.
    pub fn step(&self, delta: i32) {
        let today = self.today_date();
        {
            let mut state = self.state.borrow_mut();
            let next = if delta < 0 {
                state.day.previous_day()
            } else {
                state.day.next_day()
            };
            // No report for days that have not started yet.
            if let Some(day) = next.filter(|day| *day <= today) {
                state.day = day;
            }
        }
        self.load();
    }

    /// Reads the day shown.
    pub fn load(&self) {
        let Some(engine) = self.engine.get() else {
            return;
        };
        let day = self.day();
        let controller = self.clone();
        engine.day_totals(
            day,
            Box::new(move |result| {
                match result {
                    Ok(totals) => {
                        let mut state = controller.state.borrow_mut();
                        // A day stepped away from while it was read is not shown.
                        if state.day == day {
                            state.totals = totals;
                        }
                    }
                    Err(error) => tracing::error!(%error, "cannot add up the day"),
                }
                controller.changed.emit(&());
            }),
        );
    }

    /// Shows `totals` for `day` (the screenshots' demo data).
    pub fn show(&self, day: Date, totals: Vec<CurrencyTotals>) {
        {
            let mut state = self.state.borrow_mut();
            state.day = day;
            state.totals = totals;
        }
        self.changed.emit(&());
    }
}

#[cfg(test)]
mod tests {
    use time::macros::date;

    use super::*;
    use crate::gui::controllers::testing::{Call, MockEngine};

    #[test]
    fn totals_step_between_days_and_never_into_the_future() {
        let engine = MockEngine::new();
        *engine.totals.borrow_mut() = Some(Ok(Vec::new()));
        let slot = EngineSlot::default();
        slot.set(engine.clone());
        let totals = Totals::new(slot, Rc::new(|| date!(2026 - 03 - 01)));
        assert!(totals.is_today());
        totals.step(1);
        assert_eq!(
            totals.day(),
            date!(2026 - 03 - 01),
            "tomorrow has not started"
        );
        totals.step(-1);
        assert_eq!(
            totals.day(),
            date!(2026 - 02 - 28),
            "across the month's end"
        );
        assert!(!totals.is_today());
        totals.step(-1);
        totals.step(1);
        assert_eq!(totals.day(), date!(2026 - 02 - 28));
        let days: Vec<_> = engine
            .calls()
            .into_iter()
            .filter_map(|call| match call {
                Call::DayTotals(day) => Some(day),
                _ => None,
            })
            .collect();
        assert_eq!(
            days,
            vec![
                date!(2026 - 03 - 01),
                date!(2026 - 02 - 28),
                date!(2026 - 02 - 27),
                date!(2026 - 02 - 28)
            ]
        );
        totals.reset();
        assert_eq!(totals.day(), date!(2026 - 03 - 01));
    }

    /// The day's totals keep their per-product split, and another day's never show.
    #[test]
    fn a_days_totals_keep_the_paid_money_per_product() {
        use crate::journal::{CurrencyTotals, Product, ProductTotals, SignedTotal};
        use crate::money::{Currency, MinorTotal, Money};

        let usd = |minor| MinorTotal::from(Money::from_minor(minor, Currency::USD).unwrap());
        let day = |date, by_product: Vec<ProductTotals>| {
            let paid = by_product
                .iter()
                .fold(MinorTotal::zero(Currency::USD), |sum, p| {
                    sum.checked_add(p.paid).unwrap()
                });
            CurrencyTotals {
                date,
                currency: Currency::USD,
                paid_count: by_product.iter().map(|p| p.paid_count).sum(),
                paid,
                refunded_count: 0,
                refunded: MinorTotal::zero(Currency::USD),
                net: SignedTotal::from_minor(i128::from(paid.minor()), Currency::USD).unwrap(),
                by_product,
            }
        };
        let split = vec![
            ProductTotals {
                product: Product::OrderCode,
                paid_count: 1,
                paid: usd(1000),
            },
            ProductTotals {
                product: Product::UserPresented,
                paid_count: 2,
                paid: usd(375),
            },
        ];
        let engine = MockEngine::new();
        *engine.totals.borrow_mut() = Some(Ok(vec![
            day(date!(2026 - 02 - 28), Vec::new()),
            day(date!(2026 - 03 - 01), split.clone()),
        ]));
        let slot = EngineSlot::default();
        slot.set(engine.clone());
        let totals = Totals::new(slot, Rc::new(|| date!(2026 - 03 - 01)));
        totals.load();
        let shown = totals.totals();
        assert_eq!(shown.len(), 1, "only the day shown");
        assert_eq!(shown[0].by_product, split);
        assert_eq!(shown[0].paid.minor(), 1375);
    }
}
