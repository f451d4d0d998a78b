//! `alipay-pos screenshots`: renders every screen in both languages to PNG files with
//! Slint's software renderer, with no display server. The screens are filled with demo
//! data (no engine runs), so the pictures are the same on every machine that has the same
//! fonts; the README and the documentation use them.

use std::cell::RefCell;
use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use slint::platform::software_renderer::{MinimalSoftwareWindow, RepaintBufferType};
use slint::platform::{Platform, WindowAdapter};
use slint::{ComponentHandle, PhysicalSize, PlatformError, Rgb8Pixel};
use time::OffsetDateTime;

use super::controllers::manager::Tab;
use super::controllers::manager::day_close::CloseStage;
use super::controllers::manager::settle::SettleStage;
use super::controllers::navigation::Screen;
use super::controllers::payment_screen::{ResultView, Shown};
use super::controllers::pin::PinStatus;
use super::manager_rows::{Detail, Listed};
use super::result_screen::{Reason, ResultScreen};
use super::{Api, App, Controller, GuiError, GuiOptions, Manager, manager_adapter};
use crate::config::{CatalogItem, Config};
use crate::journal::{
    Actor, CurrencyTotals, DayClose, DayCloseReport, DiscrepancyKind, DiscrepancyRecord,
    DiscrepancyResolution, EntityRef, EventKind, EventRecord, ImportedFile, LaterEvent, ListedType,
    PaymentLocalId, PaymentMark, PaymentRecord, PaymentState, RefundLocalId, RefundRecord,
    RefundState, RegistrationOutcome, RegistrationRecord, ReportKind, ReviewStatus,
    SettlementBatch, SignedTotal, WalletRecord, WalletVerdict,
};
use crate::locale::Locale;
use crate::money::MinorTotal;
use crate::money::{Currency, Money};
use crate::reconcile::day_report::{BatchFigures, DayReport};

/// Size of every screenshot: a common 10-inch POS tablet in landscape.
pub const WIDTH: u32 = 1024;
pub const HEIGHT: u32 = 768;

/// A platform whose windows draw into memory.
struct Offscreen {
    windows: Rc<RefCell<Vec<Rc<MinimalSoftwareWindow>>>>,
}

impl Platform for Offscreen {
    fn create_window_adapter(&self) -> Result<Rc<dyn WindowAdapter>, PlatformError> {
        let window = MinimalSoftwareWindow::new(RepaintBufferType::NewBuffer);
        self.windows.borrow_mut().push(window.clone());
        Ok(window)
    }
}

/// The catalog of the pictures: the demo café's, which a terminal without a config file
/// offers too.
pub fn demo_catalog(currency: Currency) -> Vec<CatalogItem> {
    crate::config::demo_catalog(currency)
}

fn demo_config() -> Config {
    let mut config = Config::defaults();
    config.catalog = demo_catalog(config.payment.currency);
    // The kiosk pictures show "Scan your payment code", as a kiosk with a scanner does.
    config.scanner.kiosk = true;
    config
}

/// The demo customer's code in the pictures (needs the wallet's confirmation).
const DEMO_CUSTOMER_CODE: &str = "281006020000001111";

/// Renders every screen in English and Chinese into `out` and returns the files written.
/// Must run before anything else in the process opened a Slint window.
pub fn render_all(out: &Path) -> Result<Vec<PathBuf>, GuiError> {
    std::fs::create_dir_all(out)
        .map_err(|e| GuiError::Screenshot(format!("{}: {e}", out.display())))?;
    let windows = Rc::new(RefCell::new(Vec::new()));
    slint::platform::set_platform(Box::new(Offscreen {
        windows: windows.clone(),
    }))
    .map_err(|e| GuiError::Screenshot(format!("cannot set up off-screen rendering: {e}")))?;
    let config = demo_config();
    let mut written = Vec::new();
    for kiosk in [false, true] {
        let app = App::new().map_err(|e| GuiError::Screenshot(e.to_string()))?;
        let window = windows
            .borrow()
            .last()
            .cloned()
            .ok_or_else(|| GuiError::Screenshot("no window was created".into()))?;
        window.set_size(PhysicalSize::new(WIDTH, HEIGHT));
        app.show()
            .map_err(|e| GuiError::Screenshot(e.to_string()))?;
        let options = GuiOptions {
            kiosk,
            ..GuiOptions::default()
        };
        let controller = Controller::attach(&app, options, &config);
        let api = app.global::<Api>();
        api.set_ready(true);
        api.set_online_known(true);
        api.set_online(true);
        api.set_unresolved_count(0);
        for locale in Locale::ALL {
            controller.shared.set_locale(locale);
            let suffix = match locale {
                Locale::English => "en",
                Locale::SimplifiedChinese => "zh",
            };
            for scene in scenes(kiosk) {
                set_scene(&app, &controller, &config, scene);
                let path = out.join(format!("{}-{suffix}.png", scene.name()));
                capture(&window, &path)?;
                written.push(path);
            }
        }
        app.hide().ok();
    }
    written.extend(render_receipts(out, &config)?);
    Ok(written)
}

/// The preview printer's pictures of a demo sale's receipt, in both languages
/// (`receipt-en.png`, `receipt-zh.png`), drawn as `[printer] kind = "preview"` draws them.
fn render_receipts(out: &Path, config: &Config) -> Result<Vec<PathBuf>, GuiError> {
    let currency = config.payment.currency;
    let Some(payment) = demo_payment(7, "12.50", currency, PaymentState::Paid, "Flat white", 3)
    else {
        return Err(GuiError::Screenshot("no demo payment".into()));
    };
    let header = crate::receipt::ReceiptHeader::from_config(config);
    let mut written = Vec::new();
    for (locale, suffix) in [(Locale::English, "en"), (Locale::SimplifiedChinese, "zh")] {
        let receipt = crate::receipt::Receipt::sale(&payment, &header, locale, false)
            .map_err(|e| GuiError::Screenshot(e.to_string()))?;
        let png = crate::receipt::preview::render_png(&receipt).map_err(GuiError::Screenshot)?;
        let path = out.join(format!("receipt-{suffix}.png"));
        std::fs::write(&path, png)
            .map_err(|e| GuiError::Screenshot(format!("{}: {e}", path.display())))?;
        written.push(path);
    }
    Ok(written)
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Scene {
    Cashier,
    CashierScanned,
    CashierTypingCode,
    Kiosk,
    KioskScan,
    Qr,
    Confirming,
    CodeExpired,
    Paid,
    Failed,
    Cancelled,
    Unresolved,
    Pin,
    PinLocked,
    ManagerList,
    ManagerDetail,
    ManagerRefundConfirm,
    ManagerUnresolved,
    ManagerRecordOutcome,
    ManagerTotals,
    ManagerZReport,
    ManagerReconciliation,
    ManagerReconciliationAccept,
    ManagerSettings,
    /// Settings with a store one wallet approved and another rejected.
    ManagerRegistration,
    /// The cashier's screen on a terminal whose store hub is away (the status bar says so).
    CashierHubReconnecting,
    /// The Whole store tab (a store hub is configured): two counters' payments.
    ManagerWholeStore,
}

impl Scene {
    fn name(self) -> &'static str {
        match self {
            Scene::Cashier => "cashier",
            Scene::CashierScanned => "cashier-code-scanned",
            Scene::CashierTypingCode => "cashier-code-typed",
            Scene::Kiosk => "kiosk",
            Scene::KioskScan => "kiosk-scan",
            Scene::Qr => "customer-qr",
            Scene::Confirming => "customer-confirming",
            Scene::CodeExpired => "result-code-expired",
            Scene::Paid => "result-paid",
            Scene::Failed => "result-failed",
            Scene::Cancelled => "result-cancelled",
            Scene::Unresolved => "result-unresolved",
            Scene::Pin => "manager-pin",
            Scene::PinLocked => "manager-pin-locked",
            Scene::ManagerList => "manager-transactions",
            Scene::ManagerDetail => "manager-detail",
            Scene::ManagerRefundConfirm => "manager-refund-confirm",
            Scene::ManagerUnresolved => "manager-unresolved",
            Scene::ManagerRecordOutcome => "manager-record-outcome",
            Scene::ManagerTotals => "manager-end-of-day",
            Scene::ManagerZReport => "manager-z-report",
            Scene::ManagerReconciliation => "manager-reconciliation",
            Scene::ManagerReconciliationAccept => "manager-reconciliation-accept",
            Scene::ManagerSettings => "manager-settings",
            Scene::ManagerRegistration => "manager-registration",
            Scene::CashierHubReconnecting => "cashier-hub-reconnecting",
            Scene::ManagerWholeStore => "manager-whole-store",
        }
    }
}

fn scenes(kiosk: bool) -> Vec<Scene> {
    if kiosk {
        vec![Scene::Kiosk, Scene::KioskScan]
    } else {
        vec![
            Scene::Cashier,
            Scene::CashierScanned,
            Scene::CashierTypingCode,
            Scene::Qr,
            Scene::Confirming,
            Scene::Paid,
            Scene::Failed,
            Scene::CodeExpired,
            Scene::Cancelled,
            Scene::Unresolved,
            Scene::Pin,
            Scene::PinLocked,
            Scene::ManagerList,
            Scene::ManagerDetail,
            Scene::ManagerRefundConfirm,
            Scene::ManagerUnresolved,
            Scene::ManagerRecordOutcome,
            Scene::ManagerTotals,
            Scene::ManagerZReport,
            Scene::ManagerReconciliation,
            Scene::ManagerReconciliationAccept,
            Scene::ManagerSettings,
            Scene::ManagerRegistration,
            Scene::CashierHubReconnecting,
            Scene::ManagerWholeStore,
        ]
    }
}

/// A fixed instant, so pictures do not change from one run to the next.
fn demo_time() -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(1_795_442_709).unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

fn set_scene(app: &App, controller: &Controller, config: &Config, scene: Scene) {
    let shared = &controller.shared;
    let api = app.global::<Api>();
    let currency = config.payment.currency;
    let locale = shared.locale.get();
    let amount = Money::parse("12.50", currency)
        .or_else(|_| Money::parse("1250", currency))
        .ok();
    let names: Vec<&str> = config
        .catalog
        .iter()
        .take(2)
        .map(|item| item.name_in(locale))
        .collect();
    let items: &[usize] = if config.catalog.len() >= 3 {
        &[0, 0, 2]
    } else {
        &[]
    };
    // Only its own scene shows a store hub; the others are of a terminal without one.
    let hub_link = (scene == Scene::CashierHubReconnecting)
        .then(|| crate::hub_link::LinkState::Unreachable("the hub does not answer".into()));
    shared.hub_status.link_changed(hub_link.as_ref());
    shared.payment.show_demo(None);
    shared.sale.show_demo("12.50", items, &names.join(", "));
    let Some(amount) = amount else { return };
    let shown = |result: Option<ResultView>| Shown {
        id: "T01-20261123-0001".into(),
        amount,
        product: crate::journal::Product::OrderCode,
        customer_code: None,
        code: None,
        expires_at: None,
        cancelling: false,
        simulating: false,
        result,
    };
    let result = |kind: ResultScreen, reason: Reason, code: &str| ResultView {
        kind,
        reason,
        code: code.into(),
        time: Some(demo_time()),
        payment_id: "2026112319400001000000001".into(),
    };
    let (page, payment) = match scene {
        Scene::Pin
        | Scene::PinLocked
        | Scene::ManagerList
        | Scene::ManagerDetail
        | Scene::ManagerRefundConfirm
        | Scene::ManagerUnresolved
        | Scene::ManagerRecordOutcome
        | Scene::ManagerTotals
        | Scene::ManagerZReport
        | Scene::ManagerReconciliation
        | Scene::ManagerReconciliationAccept
        | Scene::ManagerSettings
        | Scene::ManagerRegistration
        | Scene::ManagerWholeStore => (manager_scene(app, controller, currency, scene), None),
        Scene::Cashier | Scene::CashierHubReconnecting => (Screen::Cashier, None),
        Scene::CashierScanned => {
            // Scanned before the amount: the code waits for it (the real path).
            shared.sale.show_demo("", &[], "");
            shared.sale.scanned(DEMO_CUSTOMER_CODE, locale);
            (Screen::Cashier, None)
        }
        Scene::CashierTypingCode => {
            shared.sale.start_typing_code();
            for digit in DEMO_CUSTOMER_CODE[..12].chars() {
                shared.sale.key(&digit.to_string());
            }
            (Screen::Cashier, None)
        }
        Scene::Kiosk => (Screen::Kiosk, None),
        Scene::KioskScan => (Screen::KioskScan, None),
        Scene::Confirming => {
            let mut payment = shown(None);
            payment.product = crate::journal::Product::UserPresented;
            payment.customer_code = Some(crate::checkout::payment_code::mask("1111"));
            (Screen::Confirming, Some(payment))
        }
        Scene::CodeExpired => {
            let mut payment = shown(Some(result(
                ResultScreen::Failed,
                Reason::CodeExpired,
                "EXPIRED_CODE",
            )));
            payment.product = crate::journal::Product::UserPresented;
            (Screen::Result, Some(payment))
        }
        Scene::Qr => {
            let mut payment = shown(None);
            payment.code = Some("http://127.0.0.1:8090/wallet/order/OC20261123194000000001".into());
            // 4:32 left; the ticker is stopped below, so the picture keeps this value.
            payment.expires_at = Some(OffsetDateTime::now_utc() + time::Duration::seconds(272));
            (Screen::CustomerQr, Some(payment))
        }
        Scene::Paid => (
            Screen::Result,
            Some(shown(Some(result(
                ResultScreen::Paid,
                Reason::Other,
                "SUCCESS",
            )))),
        ),
        Scene::Failed => (
            Screen::Result,
            Some(shown(Some(result(
                ResultScreen::Failed,
                Reason::Balance,
                "USER_BALANCE_NOT_ENOUGH",
            )))),
        ),
        Scene::Cancelled => (
            Screen::Result,
            Some(shown(Some(result(
                ResultScreen::Cancelled,
                Reason::Other,
                "",
            )))),
        ),
        Scene::Unresolved => {
            let mut view = result(ResultScreen::Unresolved, Reason::Other, "");
            view.time = None;
            view.payment_id = "T01-20261123-0001".into();
            (Screen::Result, Some(shown(Some(view))))
        }
    };
    if payment.is_some() {
        shared.payment.show_demo(payment);
    }
    // The demo journal of the manager scenes holds one unresolved payment.
    let unresolved = scene == Scene::Unresolved || page.is_manager();
    api.set_unresolved_count(i32::from(unresolved));
    shared.nav.go(page);
    // The countdowns would overwrite the fixed values; pictures need none.
    shared.ticker.stop();
    shared.back_at.set(None);
    api.set_return_seconds(0);
}

/// A payment as the journal would hold it, `minutes` before the demo time.
fn demo_payment(
    n: i64,
    amount: &str,
    currency: Currency,
    state: PaymentState,
    description: &str,
    minutes: i64,
) -> Option<PaymentRecord> {
    let at = demo_time() - time::Duration::minutes(minutes);
    let amount = Money::parse(amount, currency)
        .or_else(|_| Money::parse(amount.split('.').next().unwrap_or(amount), currency))
        .ok()?;
    let paid = matches!(state, PaymentState::Paid);
    Some(PaymentRecord {
        id: PaymentLocalId(n),
        payment_request_id: format!("T01-20261123-{n:04}"),
        order_ref: format!("T01-ORD-20261123-{n:04}"),
        amount,
        description: description.into(),
        operator: "T01".into(),
        product: crate::journal::Product::OrderCode,
        state,
        payment_id: paid.then(|| format!("20261123194000010000000{n:02}")),
        code_value: None,
        code_expires_at: None,
        result_code: match state {
            PaymentState::Failed => Some("USER_BALANCE_NOT_ENOUGH".into()),
            PaymentState::Paid => Some("SUCCESS".into()),
            _ => None,
        },
        result_message: None,
        resolution: None,
        paid_at: paid.then_some(at + time::Duration::seconds(21)),
        created_at: at,
        updated_at: at,
        final_at: state.is_final().then_some(at + time::Duration::seconds(21)),
        customer_code_last4: None,
    })
}

fn demo_event(
    seq: i64,
    seconds: i64,
    actor: Actor,
    kind: EventKind,
    to: Option<&str>,
    detail: &str,
) -> EventRecord {
    EventRecord {
        seq,
        at: demo_time() - time::Duration::minutes(42) + time::Duration::seconds(seconds),
        actor,
        entity: EntityRef::Payment(PaymentLocalId(1)),
        kind,
        from_state: None,
        to_state: to.map(str::to_string),
        detail: detail.into(),
    }
}

/// Fills the PIN or manager screen with demo records and returns its page.
/// The demo payments as two counters of one store took them (odd ones at T02).
fn demo_store(payments: &[PaymentRecord]) -> Vec<crate::terminal::StoreTransaction> {
    payments
        .iter()
        .enumerate()
        .map(|(n, payment)| {
            let terminal = if n % 2 == 0 { "T01" } else { "T02" };
            crate::terminal::demo_store_transaction(terminal, "S1", payment.clone(), 0)
        })
        .collect()
}

/// The whole store's totals of the demo day: the paid demo payments, nothing refunded.
fn demo_store_totals(
    payments: &[PaymentRecord],
    currency: Currency,
) -> Vec<crate::terminal::StoreTotals> {
    let paid: Vec<&PaymentRecord> = payments
        .iter()
        .filter(|p| p.state == PaymentState::Paid)
        .collect();
    let minor: u64 = paid.iter().map(|p| p.amount.minor()).sum();
    let major = crate::money::MinorTotal::from_minor(minor, currency)
        .map(|total| total.major_string())
        .unwrap_or_default();
    vec![crate::terminal::StoreTotals {
        date: demo_time().date().to_string(),
        store_id: "S1".into(),
        currency: currency.code().into(),
        paid_count: paid.len() as u64,
        paid: major.clone(),
        paid_minor: minor,
        refunded_count: 0,
        refunded: "0".into(),
        refunded_minor: 0,
        net: major,
        net_minor: i64::try_from(minor).unwrap_or(i64::MAX),
    }]
}

fn manager_scene(app: &App, controller: &Controller, currency: Currency, scene: Scene) -> Screen {
    let shared = &controller.shared;
    let manager = app.global::<Manager>();
    let payments: Vec<PaymentRecord> = [
        (1, "12.50", PaymentState::Paid, "Flat white, Croissant", 42),
        (2, "8.40", PaymentState::Paid, "Green tea ×2", 35),
        (
            3,
            "23.10",
            PaymentState::Unresolved,
            "Sandwich ×2, Orange juice",
            28,
        ),
        (4, "4.00", PaymentState::Cancelled, "Orange juice", 17),
        (5, "7.90", PaymentState::Failed, "Sandwich", 9),
        (
            6,
            "9.00",
            PaymentState::Cancelled,
            "Cheesecake, Green tea",
            4,
        ),
    ]
    .into_iter()
    .rev()
    .filter_map(|(n, amount, state, description, minutes)| {
        let record = demo_payment(n, amount, currency, state, description, minutes)?;
        // Two were paid by scanning the customer's code, so the pictures show both products.
        Some(if matches!(n, 2 | 5) {
            PaymentRecord {
                product: crate::journal::Product::UserPresented,
                customer_code_last4: Some(if n == 2 { "1111" } else { "4821" }.into()),
                ..record
            }
        } else {
            record
        })
    })
    .collect();
    let refund_amount = Money::parse("5.00", currency)
        .or_else(|_| Money::parse("500", currency))
        .ok();
    let refunded_of = |record: &PaymentRecord| {
        let zero = MinorTotal::zero(currency);
        match (record.id.get(), refund_amount) {
            (1, Some(amount)) => zero.checked_add(amount).unwrap_or(zero),
            _ => zero,
        }
    };
    let list: Vec<Listed> = payments
        .iter()
        .map(|record| Listed {
            record: record.clone(),
            refunded: refunded_of(record),
        })
        .collect();
    let recording = scene == Scene::ManagerRecordOutcome;
    let detail_id = if recording { 3 } else { 1 };
    let detail = payments
        .iter()
        .find(|p| p.id.get() == detail_id)
        .map(|record| {
            let refunded = refunded_of(record);
            let remaining = MinorTotal::from(record.amount)
                .checked_sub(refunded)
                .unwrap_or(refunded);
            let refunds = refund_amount
                .filter(|_| !recording)
                .map(|amount| RefundRecord {
                    id: RefundLocalId(1),
                    refund_request_id: "T01-R-20261123-0001".into(),
                    payment: record.id,
                    amount,
                    reason: "Customer returned one item".into(),
                    manager: "Ana Lim".into(),
                    state: RefundState::Succeeded,
                    refund_id: Some("2026112319400002000000001".into()),
                    result_code: Some("SUCCESS".into()),
                    result_message: None,
                    resolution: None,
                    refunded_at: Some(demo_time() - time::Duration::minutes(12)),
                    created_at: demo_time() - time::Duration::minutes(12),
                    updated_at: demo_time() - time::Duration::minutes(12),
                    final_at: Some(demo_time() - time::Duration::minutes(12)),
                })
                .into_iter()
                .collect();
            Detail {
                record: record.clone(),
                events: if recording {
                    vec![
                        demo_event(
                            1,
                            840,
                            Actor::Cashier,
                            EventKind::Created,
                            Some("created"),
                            "payment journaled before sending pay",
                        ),
                        demo_event(
                            2,
                            841,
                            Actor::System,
                            EventKind::Transition,
                            Some("awaiting_customer"),
                            "order code received; shown to the customer",
                        ),
                        demo_event(
                            3,
                            1160,
                            Actor::System,
                            EventKind::Transition,
                            Some("unresolved"),
                            "Alipay unreachable while settling; nobody shows this payment",
                        ),
                    ]
                } else {
                    vec![
                        demo_event(
                            1,
                            0,
                            Actor::Cashier,
                            EventKind::Created,
                            Some("created"),
                            "payment journaled before sending pay",
                        ),
                        demo_event(
                            2,
                            1,
                            Actor::System,
                            EventKind::Transition,
                            Some("awaiting_customer"),
                            "order code received; shown to the customer",
                        ),
                        demo_event(
                            3,
                            21,
                            Actor::System,
                            EventKind::Transition,
                            Some("paid"),
                            "SUCCESS (notifyPayment, signature verified)",
                        ),
                        demo_event(
                            4,
                            1800,
                            Actor::Manager,
                            EventKind::Note,
                            None,
                            "refund of 5.00 requested: Customer returned one item",
                        ),
                    ]
                },
                refunds,
                refunded,
                remaining,
                driven: false,
            }
        });
    let totals = demo_totals(&payments, refund_amount);
    let screen = &shared.manager;
    screen.transactions.show_demo(
        list,
        detail,
        matches!(
            scene,
            Scene::ManagerDetail | Scene::ManagerRefundConfirm | Scene::ManagerRecordOutcome
        ),
    );
    let report = demo_report(&payments, &totals, currency);
    screen.totals.show(demo_time().date(), totals);
    screen.day_close.show(
        demo_time().date(),
        report,
        if scene == Scene::ManagerZReport {
            CloseStage::Report
        } else {
            CloseStage::Totals
        },
    );
    screen.show_demo(match scene {
        Scene::ManagerUnresolved => Tab::Unresolved,
        Scene::ManagerTotals | Scene::ManagerZReport => Tab::Totals,
        Scene::ManagerReconciliation | Scene::ManagerReconciliationAccept => Tab::Reconciliation,
        Scene::ManagerSettings | Scene::ManagerRegistration => Tab::Settings,
        Scene::ManagerWholeStore => Tab::Store,
        _ => Tab::Transactions,
    });
    manager.set_store_available(scene == Scene::ManagerWholeStore);
    screen.store.show_demo(
        demo_store(&payments),
        demo_store_totals(&payments, currency),
    );
    let accepting = scene == Scene::ManagerReconciliationAccept;
    screen.reconciliation.show_demo(
        demo_alipay_day(),
        Some(demo_day_report(currency)),
        accepting.then_some(1),
    );
    screen
        .registration
        .show(Some(demo_registration(scene == Scene::ManagerRegistration)));
    shared.pin.show_demo(
        if scene == Scene::Pin { 3 } else { 0 },
        if scene == Scene::PinLocked {
            PinStatus::Locked { seconds_left: 287 }
        } else {
            PinStatus::None
        },
    );
    // The lockout's countdown would change the picture.
    shared.pin_timer.stop();
    let recording = scene == Scene::ManagerRecordOutcome;
    screen.settle.show_demo(if recording {
        SettleStage::Form
    } else {
        SettleStage::Closed
    });
    let confirming = scene == Scene::ManagerRefundConfirm;
    screen.refund.show_demo(
        confirming
            .then(|| Money::parse("2.50", currency).ok())
            .flatten(),
    );
    let mut settings = manager.get_settings();
    settings.gateway = "sandbox · http://127.0.0.1:41873/".into();
    settings.key_fingerprint =
        "9c1d4e0b7a52f3e8c6a1d2b4f0e9c8a7b6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1".into();
    settings.alipay_key_fingerprint =
        "41f0e2d3c4b5a69788796a5b4c3d2e1f0a9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d".into();
    settings.notify_url = "http://127.0.0.1:41875/alipay/notify".into();
    settings.data_dir = "/home/pos/.local/share/alipay-pos".into();
    manager_adapter::show_settings(shared, settings);
    // What the screen's own fields hold, and what needs a PIN in real use. (The demo day
    // is shown as a past day, with "Day after" enabled, as the committed pictures show.)
    manager.set_approver("Ana Lim".into());
    if recording {
        manager.set_settle_paid(true);
        manager.set_settle_reason("Portal shows SUCCESS 23.10 at 14:02".into());
        manager.set_settle_payment_id("2026112314020001000000003".into());
    }
    if accepting {
        manager.set_recon_reason("Portal shows SUCCESS 23.10 at 14:02".into());
    }
    manager.set_refund_amount(if confirming { "2.50".into() } else { "".into() });
    manager.set_refund_reason(if confirming {
        "Wrong size".into()
    } else {
        "".into()
    });
    match scene {
        Scene::Pin | Scene::PinLocked => Screen::Pin,
        _ => Screen::Manager,
    }
}

/// The demo day closed (Z report #42) at the demo time, with one refund after the close;
/// the End of day picture shows it as closed, the Z report picture shows the report.
fn demo_report(
    payments: &[PaymentRecord],
    at_close: &[CurrencyTotals],
    currency: Currency,
) -> Option<DayCloseReport> {
    let closed_at = demo_time();
    let day = crate::local_time::day_bounds(closed_at.date());
    let mut paid: Vec<&PaymentRecord> = payments.iter().filter(|p| p.paid_at.is_some()).collect();
    paid.sort_by_key(|p| p.paid_at);
    let mark = |p: &&PaymentRecord| {
        p.paid_at.map(|paid_at| PaymentMark {
            payment_request_id: p.payment_request_id.clone(),
            paid_at,
        })
    };
    let count_of =
        |state: PaymentState| payments.iter().filter(|p| p.state == state).count() as u64;
    let late_refund = Money::parse("2.50", currency)
        .or_else(|_| Money::parse("250", currency))
        .ok()?;
    let totals_now: Vec<CurrencyTotals> = at_close
        .iter()
        .map(|t| {
            let mut now = t.clone();
            now.refunded_count += 1;
            now.refunded = now
                .refunded
                .checked_add(late_refund)
                .unwrap_or(now.refunded);
            let net = i128::from(now.paid.minor()) - i128::from(now.refunded.minor());
            if let Ok(net) = SignedTotal::from_minor(net, now.currency) {
                now.net = net;
            }
            now
        })
        .collect();
    let later = LaterEvent {
        event: EventRecord {
            seq: 120,
            at: closed_at + time::Duration::minutes(25),
            actor: Actor::Manager,
            entity: EntityRef::Refund(RefundLocalId(2)),
            kind: EventKind::Transition,
            from_state: Some("requested".into()),
            to_state: Some("succeeded".into()),
            detail: format!(
                "refund of {} succeeded: Wrong size",
                late_refund.major_string()
            ),
        },
        request_id: "T01-20261123-R0002".into(),
    };
    Some(DayCloseReport {
        close: DayClose {
            number: 42,
            date: closed_at.date(),
            time_zone: crate::local_time::zone_name(),
            day,
            closed_at,
            closed_by: "Ana Lim".into(),
            last_event_seq: 118,
            totals: at_close.to_vec(),
            payment_counts: PaymentState::ALL
                .into_iter()
                .map(|state| (state, count_of(state)))
                .collect(),
            refund_counts: RefundState::ALL
                .into_iter()
                .map(|state| (state, u64::from(state == RefundState::Succeeded)))
                .collect(),
            first_payment: paid.first().and_then(mark),
            last_payment: paid.last().and_then(mark),
            unresolved_payments: count_of(PaymentState::Unresolved),
            unresolved_refunds: 0,
            reconciliation: None,
        },
        totals_now,
        later_events: vec![later],
    })
}

/// The demo's Alipay day (GMT+8): the day of the demo payments.
fn demo_alipay_day() -> time::Date {
    demo_time()
        .to_offset(crate::reconcile::import::ALIPAY_DAY_OFFSET)
        .date()
}

/// A reconciled demo day: the day's transactions file and its settlement summary imported,
/// one batch, two open discrepancies (the unresolved payment, which Alipay lists as paid,
/// and a payment of this terminal the journal never had) and one resolved by a later file.
fn demo_day_report(currency: Currency) -> DayReport {
    let date = super::controllers::manager::reconciliation::report_date(demo_alipay_day());
    let at = demo_time();
    let transactions = format!("transactionItems_{date}_000.csv");
    let summary = format!(
        "settlementSummary_{}_B{date}{}_000.csv",
        currency.code(),
        currency.code()
    );
    let file = |id, name: &str, kind, rows, matched, not_ours| ImportedFile {
        id,
        name: name.to_string(),
        sha256: "0".repeat(64),
        kind,
        report_date: date.clone(),
        settlement_batch_id: None,
        rows,
        matched,
        not_ours,
        imported_at: at,
    };
    let minor =
        |major: &str| crate::reconcile::amount::minor_from_major(major, currency).unwrap_or(0);
    let major = |major: &str| crate::reconcile::amount::major_from_minor(minor(major), currency);
    let discrepancy =
        |id, kind, request_id: &str, line, alipay: String, journal: String| DiscrepancyRecord {
            id,
            kind,
            report_date: date.clone(),
            transaction_request_id: request_id.to_string(),
            transaction_type: ListedType::Payment,
            file: transactions.clone(),
            line: Some(line),
            entity: None,
            alipay,
            journal,
            found_at: at,
            resolution: None,
            resolved_at: None,
        };
    let code = currency.code();
    let open = vec![
        discrepancy(
            1,
            DiscrepancyKind::StateMismatch,
            "T01-20261123-0003",
            4,
            format!(r#"{{"amount":"{}","currency":"{code}"}}"#, major("23.10")),
            format!(
                r#"{{"paymentRequestId":"T01-20261123-0003","state":"unresolved","amount":"{}","currency":"{code}"}}"#,
                major("23.10")
            ),
        ),
        discrepancy(
            2,
            DiscrepancyKind::MissingLocally,
            "P-1795440120-T01-7F3A9C2E51D0",
            7,
            format!(r#"{{"amount":"{}","currency":"{code}"}}"#, major("6.80")),
            "null".to_string(),
        ),
    ];
    let mut resolved = discrepancy(
        3,
        DiscrepancyKind::MissingAtAlipay,
        "T01-20261122-0031",
        1,
        r#"{"listed":false}"#.to_string(),
        "null".to_string(),
    );
    resolved.resolution = Some(DiscrepancyResolution::ListedLater {
        note: format!("listed by {transactions} line 1"),
    });
    let (fee, net) = (minor("0.42"), minor("41.38"));
    DayReport {
        date: date.clone(),
        files: vec![
            file(1, &transactions, ReportKind::Transactions, 8, 5, 1),
            file(2, &summary, ReportKind::SettlementSummary, 3, 0, 0),
        ],
        matched: 5,
        not_ours: 1,
        open,
        resolved: vec![resolved],
        batches: vec![BatchFigures {
            batch: SettlementBatch {
                settlement_batch_id: format!("B{date}{code}"),
                settlement_date: date.clone(),
                file: summary.clone(),
                count: 5,
                net_minor: net,
                fee_minor: fee,
                currency,
                settled_at: Some(at),
            },
            gross_minor: net.saturating_add(fee),
        }],
    }
}

/// The demo café's registration: approved by AlipayCN; with `rejected`, a second wallet
/// rejected it with a reason.
fn demo_registration(rejected: bool) -> RegistrationRecord {
    let at = demo_time() - time::Duration::days(2);
    let wallet = |name: &str, verdict, reasons: Option<&str>| WalletRecord {
        wallet: name.into(),
        verdict,
        verdict_text: None,
        reject_reasons: reasons.map(str::to_owned),
        updated_at: at,
    };
    let mut wallets = vec![wallet("AlipayCN", WalletVerdict::Approved, None)];
    if rejected {
        wallets.push(wallet(
            "AlipayHK",
            WalletVerdict::Rejected,
            Some("The store address could not be verified; give the full street address."),
        ));
    }
    RegistrationRecord {
        id: 1,
        registration_request_id: "G-1795269909-T01-8K2M4Q7RTV3X".into(),
        reference_merchant_id: "M0001".into(),
        reference_store_id: "S0001".into(),
        body_sha256: "0".repeat(64),
        created_at: at,
        sends: 1,
        outcome: Some(RegistrationOutcome::Accepted),
        result_code: Some("SUCCESS".into()),
        result_message: None,
        answered_at: Some(at),
        status: Some(ReviewStatus::Completed),
        status_text: None,
        status_reasons: None,
        checked_at: Some(demo_time() - time::Duration::minutes(12)),
        wallets,
        updated_at: at,
    }
}

fn demo_totals(payments: &[PaymentRecord], refunded: Option<Money>) -> Vec<CurrencyTotals> {
    let Some(first) = payments.first() else {
        return Vec::new();
    };
    let currency = first.amount.currency();
    let zero = MinorTotal::zero(currency);
    let sum = |keep: &dyn Fn(&PaymentRecord) -> bool| {
        payments
            .iter()
            .filter(|p| keep(p))
            .fold((0u64, zero), |(n, total), p| {
                (n + 1, total.checked_add(p.amount).unwrap_or(total))
            })
    };
    let (paid_count, paid) = sum(&|p| p.paid_at.is_some());
    let by_product = crate::journal::Product::ALL
        .into_iter()
        .filter_map(|product| {
            let (paid_count, paid) = sum(&|p| p.paid_at.is_some() && p.product == product);
            (paid_count > 0).then_some(crate::journal::ProductTotals {
                product,
                paid_count,
                paid,
            })
        })
        .collect();
    let refunded_total = refunded.map_or(zero, |r| zero.checked_add(r).unwrap_or(zero));
    let net = i128::from(paid.minor()) - i128::from(refunded_total.minor());
    let Ok(net) = SignedTotal::from_minor(net, currency) else {
        return Vec::new();
    };
    vec![CurrencyTotals {
        date: demo_time().date(),
        currency,
        paid_count,
        paid,
        refunded_count: u64::from(refunded.is_some()),
        refunded: refunded_total,
        net,
        by_product,
    }]
}

fn capture(window: &MinimalSoftwareWindow, path: &Path) -> Result<(), GuiError> {
    let (width, height) = (WIDTH as usize, HEIGHT as usize);
    slint::platform::update_timers_and_animations();
    window.request_redraw();
    let mut pixels = vec![Rgb8Pixel::new(0, 0, 0); width * height];
    window.draw_if_needed(|renderer| {
        renderer.render(&mut pixels, width);
    });
    let bytes: Vec<u8> = pixels.iter().flat_map(|p| [p.r, p.g, p.b]).collect();
    let failed =
        |e: &dyn std::fmt::Display| GuiError::Screenshot(format!("{}: {e}", path.display()));
    let file = File::create(path).map_err(|e| failed(&e))?;
    let mut encoder = png::Encoder::new(BufWriter::new(file), WIDTH, HEIGHT);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    encoder.set_compression(png::Compression::High);
    let mut writer = encoder.write_header().map_err(|e| failed(&e))?;
    writer.write_image_data(&bytes).map_err(|e| failed(&e))?;
    writer.finish().map_err(|e| failed(&e))?;
    Ok(())
}
