//! Printing a receipt from a screen: the paid result's Print (automatic in a kiosk), the
//! manager's Reprint (marked COPY) and a succeeded refund's receipt.
//!
//! The receipt is made from the journal as it is when Print is pressed (read through the
//! engine), and handed to a [`ReceiptPrinter`], which prints off the UI thread and always
//! answers within a deadline. Nothing here writes the journal: the sale was journaled as
//! paid before Print was offered, so a printer that is out of paper, open or off only
//! changes what the screen says (the fault, and what to do), never the sale.

use std::cell::RefCell;
use std::rc::Rc;

use super::payment_screen::Shown;
use super::{Changed, EngineSlot};
use crate::gui::engine_handle::{Detail, Reply};
use crate::gui::result_screen::ResultScreen;
use crate::locale::Locale;
use crate::receipt::{PrintFault, Printed, Receipt, ReceiptHeader};

/// Where a receipt's printing is (mirrors `PrintStatus` in ui/api.slint).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum PrintStatus {
    #[default]
    Idle,
    Printing,
    /// On paper.
    Printed,
    /// The preview printer wrote this file.
    Saved(String),
    Failed(PrintFault),
    /// No receipt could be made (the journal could not be read, or the payment is not
    /// paid); the words say why.
    NoReceipt(String),
}

/// Which receipt to print.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PrintRequest {
    /// The sale; `copy` for a reprint.
    Sale {
        payment_request_id: String,
        copy: bool,
    },
    /// A succeeded refund of the payment.
    Refund {
        payment_request_id: String,
        refund_request_id: String,
    },
}

impl PrintRequest {
    fn payment_request_id(&self) -> &str {
        match self {
            PrintRequest::Sale {
                payment_request_id, ..
            }
            | PrintRequest::Refund {
                payment_request_id, ..
            } => payment_request_id,
        }
    }
}

/// Prints off the UI thread and answers on it, within a deadline (a printer that never
/// answers is reported offline).
pub trait ReceiptPrinter {
    fn print(&self, receipt: Receipt, done: Reply<Result<Printed, PrintFault>>);
}

#[derive(Default)]
struct PrintState {
    status: PrintStatus,
    /// The payment a kiosk printed automatically (printed once, however often the
    /// result screen is drawn again).
    auto_printed: Option<String>,
}

#[derive(Clone)]
pub struct Printing {
    engine: EngineSlot,
    printer: Rc<RefCell<Option<Rc<dyn ReceiptPrinter>>>>,
    header: Rc<RefCell<Option<ReceiptHeader>>>,
    /// `[printer] language`; `None`: the screen's language.
    language: Rc<RefCell<Option<Locale>>>,
    state: Rc<RefCell<PrintState>>,
    changed: Changed,
}

impl Printing {
    pub fn new(engine: EngineSlot) -> Printing {
        Printing {
            engine,
            printer: Rc::new(RefCell::new(None)),
            header: Rc::new(RefCell::new(None)),
            language: Rc::new(RefCell::new(None)),
            state: Rc::new(RefCell::new(PrintState::default())),
            changed: Changed::default(),
        }
    }

    /// The configured printer (`[printer]`); without one nothing is printed and the
    /// screens hide Print.
    pub fn set_printer(
        &self,
        printer: Rc<dyn ReceiptPrinter>,
        header: ReceiptHeader,
        language: Option<Locale>,
    ) {
        *self.printer.borrow_mut() = Some(printer);
        *self.header.borrow_mut() = Some(header);
        *self.language.borrow_mut() = language;
        self.changed.emit(&());
    }

    pub fn on_change(&self, listener: impl Fn() + 'static) {
        self.changed.listen(move |()| listener());
    }

    pub fn available(&self) -> bool {
        self.printer.borrow().is_some()
    }

    pub fn status(&self) -> PrintStatus {
        self.state.borrow().status.clone()
    }

    fn set(&self, status: PrintStatus) {
        self.state.borrow_mut().status = status;
        self.changed.emit(&());
    }

    /// Back to nothing said (a new sale, another payment opened).
    pub fn reset(&self) {
        let mut state = self.state.borrow_mut();
        if state.status == PrintStatus::Printing {
            // The answer still comes and is shown; only a finished print is forgotten.
            return;
        }
        state.status = PrintStatus::Idle;
        drop(state);
        self.changed.emit(&());
    }

    /// The result screen changed: a kiosk prints a paid sale's receipt by itself, once;
    /// a screen without a payment forgets what was printed.
    pub fn follow_payment(&self, shown: Option<&Shown>, kiosk: bool, locale: Locale) {
        let Some(shown) = shown else {
            self.state.borrow_mut().auto_printed = None;
            self.reset();
            return;
        };
        let paid = shown
            .result
            .as_ref()
            .is_some_and(|result| result.kind == ResultScreen::Paid);
        if !kiosk || !paid || !self.available() {
            return;
        }
        if self.state.borrow().auto_printed.as_deref() == Some(shown.id.as_str()) {
            return;
        }
        self.state.borrow_mut().auto_printed = Some(shown.id.clone());
        self.print(
            PrintRequest::Sale {
                payment_request_id: shown.id.clone(),
                copy: false,
            },
            locale,
        );
    }

    /// Prints `request` in `screen_locale` (unless `[printer] language` says otherwise).
    /// One print at a time: pressing Print again while printing does nothing.
    pub fn print(&self, request: PrintRequest, screen_locale: Locale) {
        let Some(printer) = self.printer.borrow().clone() else {
            return;
        };
        let Some(header) = self.header.borrow().clone() else {
            return;
        };
        if self.status() == PrintStatus::Printing {
            return;
        }
        let Some(engine) = self.engine.get() else {
            self.set(PrintStatus::NoReceipt(
                "the terminal is still starting; try again in a moment".into(),
            ));
            return;
        };
        let locale = self.language.borrow().unwrap_or(screen_locale);
        self.set(PrintStatus::Printing);
        let controller = self.clone();
        engine.payment_detail(
            request.payment_request_id().to_owned(),
            Box::new(move |answer| {
                let receipt = match answer {
                    Ok(Some(detail)) => receipt_for(&detail, &request, &header, locale),
                    Ok(None) => Err(format!(
                        "payment {} is not in the journal",
                        request.payment_request_id()
                    )),
                    Err(error) => Err(error),
                };
                let receipt = match receipt {
                    Ok(receipt) => receipt,
                    Err(words) => {
                        tracing::warn!(%words, "no receipt to print");
                        controller.set(PrintStatus::NoReceipt(words));
                        return;
                    }
                };
                let id = receipt.request_id().to_owned();
                printer.print(
                    receipt,
                    Box::new(move |printed| {
                        let status = match printed {
                            Ok(Printed::Paper) => {
                                tracing::info!(receipt = %id, "receipt printed");
                                PrintStatus::Printed
                            }
                            Ok(Printed::Preview(path)) => {
                                tracing::info!(receipt = %id, file = %path.display(), "receipt saved by the preview printer");
                                PrintStatus::Saved(path.display().to_string())
                            }
                            Err(fault) => {
                                tracing::warn!(receipt = %id, %fault, "the receipt was not printed; the sale is recorded");
                                PrintStatus::Failed(fault)
                            }
                        };
                        controller.set(status);
                    }),
                );
            }),
        );
    }
}

fn receipt_for(
    detail: &Detail,
    request: &PrintRequest,
    header: &ReceiptHeader,
    locale: Locale,
) -> Result<Receipt, String> {
    match request {
        PrintRequest::Sale { copy, .. } => Receipt::sale(&detail.record, header, locale, *copy),
        PrintRequest::Refund {
            refund_request_id, ..
        } => {
            let refund = detail
                .refunds
                .iter()
                .find(|r| &r.refund_request_id == refund_request_id)
                .ok_or_else(|| format!("refund {refund_request_id} is not in the journal"))?;
            Receipt::refund(&detail.record, refund, header, locale, false)
        }
    }
    .map_err(|error| error.to_string())
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;
    use std::rc::Rc;

    use super::*;
    use crate::gui::controllers::testing::{MockEngine, paid_detail};

    /// A printer that keeps what it was given and answers as told.
    struct PaperTray {
        printed: RefCell<Vec<Receipt>>,
        answer: Result<Printed, PrintFault>,
    }

    impl ReceiptPrinter for PaperTray {
        fn print(&self, receipt: Receipt, done: Reply<Result<Printed, PrintFault>>) {
            self.printed.borrow_mut().push(receipt);
            done(self.answer.clone());
        }
    }

    fn printing(answer: Result<Printed, PrintFault>) -> (Printing, Rc<PaperTray>) {
        let engine = MockEngine::new();
        *engine.detail.borrow_mut() = Some(Ok(Some(paid_detail("P1", "12.50", "0"))));
        let slot = EngineSlot::default();
        slot.set(engine);
        let printing = Printing::new(slot);
        let tray = Rc::new(PaperTray {
            printed: RefCell::new(Vec::new()),
            answer,
        });
        printing.set_printer(
            tray.clone(),
            ReceiptHeader {
                merchant: "M".into(),
                store: "S".into(),
                terminal: "T".into(),
            },
            None,
        );
        (printing, tray)
    }

    #[test]
    fn a_reprint_is_a_copy_and_a_fault_is_kept_for_the_screen() {
        let (printing, tray) = printing(Err(PrintFault::PaperOut));
        printing.print(
            PrintRequest::Sale {
                payment_request_id: "P1".into(),
                copy: true,
            },
            Locale::SimplifiedChinese,
        );
        let printed = tray.printed.borrow();
        assert_eq!(printed.len(), 1);
        assert!(printed[0].copy);
        assert_eq!(printed[0].locale, Locale::SimplifiedChinese);
        assert_eq!(printing.status(), PrintStatus::Failed(PrintFault::PaperOut));
        drop(printed);
        printing.reset();
        assert_eq!(printing.status(), PrintStatus::Idle);
    }

    #[test]
    fn a_kiosk_prints_a_paid_sale_once_and_a_cashier_only_when_asked() {
        use crate::gui::controllers::payment_screen::ResultView;
        use crate::gui::result_screen::Reason;
        let (printing, tray) = printing(Ok(Printed::Paper));
        let mut shown = Shown::new(
            "P1".into(),
            crate::money::Money::parse("12.50", crate::money::Currency::USD).unwrap(),
        );
        printing.follow_payment(Some(&shown), true, Locale::English);
        assert!(tray.printed.borrow().is_empty(), "not paid yet");
        shown.result = Some(ResultView {
            kind: ResultScreen::Paid,
            reason: Reason::Other,
            code: String::new(),
            time: None,
            payment_id: "P1".into(),
        });
        printing.follow_payment(Some(&shown), false, Locale::English);
        assert!(tray.printed.borrow().is_empty(), "a cashier presses Print");
        printing.follow_payment(Some(&shown), true, Locale::English);
        printing.follow_payment(Some(&shown), true, Locale::English);
        assert_eq!(tray.printed.borrow().len(), 1, "once per payment");
        assert_eq!(printing.status(), PrintStatus::Printed);
        printing.follow_payment(None, true, Locale::English);
        assert_eq!(
            printing.status(),
            PrintStatus::Idle,
            "a new sale starts clean"
        );
    }

    #[test]
    fn without_a_printer_nothing_is_printed() {
        let printing = Printing::new(EngineSlot::default());
        assert!(!printing.available());
        printing.print(
            PrintRequest::Sale {
                payment_request_id: "P1".into(),
                copy: false,
            },
            Locale::English,
        );
        assert_eq!(printing.status(), PrintStatus::Idle);
    }
}
