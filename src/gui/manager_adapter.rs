//! The manager screen behind the PIN: the transaction list and its filters, a payment's
//! detail with its timeline, refunds (review, confirm, status), the unresolved payments
//! with "resolve now", end-of-day totals and the read-only settings.
//!
//! Every read and every refund runs on the engine's runtime; answers come back with
//! [`post`]. The records are kept here and formatted on the UI thread, so a language switch
//! redraws them without reading the journal again. Refunds go through the engine
//! (`Checkout::refund`), which journals each one before sending it, like the CLI does.

use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use slint::{ComponentHandle, ModelRc, SharedString, TimerMode, VecModel};
use time::Date;

use super::manager_rows::{self, Detail, Listed};
use super::{
    Engine, ListNotice, Manager, ManagerTab, Page, RefundNotice, RefundStage, SettingsView,
    SettleNotice, SettleStage, Shared, StatusFilter, kiosk, post, status_adapter,
};
use crate::admin::ManagerApproval;
use crate::checkout::{Checkout, ManualOutcome};
use crate::config::Config;
use crate::journal::{
    CurrencyTotals, Journal, JournalError, PaymentFilter, PaymentRecord, PaymentState,
    RefundRecord, RefundState,
};
use crate::local_time;
use crate::money::{MinorTotal, Money};

/// The manager screen locks itself (back to the sale screen, PIN needed again) after this
/// long without a touch, so a screen left open at a busy counter does not let anyone refund.
pub const MANAGER_IDLE_LOCK: Duration = Duration::from_secs(120);

/// Lists stop here; filters narrow anything older down.
const LIST_LIMIT: u32 = 500;

/// Longest refund reason the journal keeps.
const MAX_REASON_CHARS: usize = 256;

/// What the manager screen holds between reads.
pub(crate) struct ManagerState {
    /// The approval of the PIN that opened the screen: refunds, manual settlement and
    /// leaving the kiosk need it, and the journal names its manager. Dropped when the screen
    /// is left, so the next visit needs the PIN again.
    approval: Option<Arc<ManagerApproval>>,
    list: Vec<Listed>,
    unresolved: Vec<Listed>,
    detail: Option<Detail>,
    /// The amount being confirmed (or just refunded).
    refund_amount: Option<Money>,
    totals_day: Date,
    totals: Vec<CurrencyTotals>,
    /// Each list read gets a number; an answer older than the newest request is dropped.
    list_seq: u64,
    settings: SettingsView,
}

impl ManagerState {
    pub(crate) fn new(config: &Config) -> ManagerState {
        ManagerState {
            approval: None,
            list: Vec::new(),
            unresolved: Vec::new(),
            detail: None,
            refund_amount: None,
            totals_day: local_time::today(),
            totals: Vec::new(),
            list_seq: 0,
            settings: settings_of(config, None),
        }
    }
}

/// The settings view from the configuration and, once the engine runs, its key
/// fingerprints. Paths and ids only: nothing secret is in a `SettingsView`.
fn settings_of(config: &Config, engine: Option<&Engine>) -> SettingsView {
    let (key, alipay_key) = match engine {
        Some(engine) => {
            let prints = engine.terminal.key_fingerprints();
            (prints.merchant.clone(), prints.alipay.clone())
        }
        None => (String::new(), String::new()),
    };
    let notify_url = match engine {
        Some(engine) => engine.terminal.notify_url().unwrap_or_default().to_string(),
        None => config
            .payment
            .notify_url
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default(),
    };
    // The sandbox's public URL: what the QR codes point at (a LAN address in a phone demo).
    let gateway = match engine.and_then(|engine| engine.terminal.sandbox()) {
        Some(sandbox) => format!("sandbox · {}", sandbox.sandbox().public_url()),
        None => config.alipay.gateway.to_string(),
    };
    SettingsView {
        gateway: gateway.into(),
        client_id: config.alipay.client_id.as_str().into(),
        merchant: format!(
            "{} ({})",
            config.merchant.name, config.merchant.reference_merchant_id
        )
        .into(),
        store: format!(
            "{} ({})",
            config.store.name, config.store.reference_store_id
        )
        .into(),
        terminal: config.store.terminal_id.as_str().into(),
        currency: config.payment.currency.code().into(),
        key_fingerprint: key.into(),
        alipay_key_fingerprint: alipay_key.into(),
        notify_url: notify_url.into(),
        data_dir: config.storage.data_dir.display().to_string().into(),
        // Empty (shown as "—") when no file exists and the built-in defaults are in use.
        config_file: match &config.source {
            crate::config::ConfigSource::File(path) => path.display().to_string().into(),
            crate::config::ConfigSource::Defaults => SharedString::new(),
        },
        version: env!("CARGO_PKG_VERSION").into(),
    }
}

pub(super) fn wire(shared: &Rc<Shared>, manager: &Manager<'_>) {
    macro_rules! on {
        ($setter:ident, |$shared:ident $(, $arg:ident)*| $body:expr) => {{
            let weak = Rc::downgrade(shared);
            manager.$setter(move |$($arg),*| {
                if let Some($shared) = weak.upgrade() {
                    touch(&$shared);
                    $body;
                }
            });
        }};
    }
    on!(on_show_tab, |shared, tab| show_tab(&shared, tab));
    on!(on_close, |shared| shared.set_page(shared.home()));
    on!(on_leave_kiosk, |shared| leave_kiosk(&shared));
    on!(on_filters_changed, |shared| load_transactions(&shared));
    on!(on_open_transaction, |shared, id| open_transaction(
        &shared,
        id.to_string()
    ));
    on!(on_close_transaction, |shared| close_transaction(&shared));
    on!(on_refund_review, |shared| refund_review(&shared));
    on!(on_refund_confirm, |shared| refund_confirm(&shared));
    on!(on_refund_back, |shared| refund_back(&shared));
    on!(on_settle_open, |shared| settle_open(&shared));
    on!(on_settle_review, |shared| settle_review(&shared));
    on!(on_settle_confirm, |shared| settle_confirm(&shared));
    on!(on_settle_back, |shared| settle_back(&shared));
    on!(on_resolve_now, |shared| resolve_now(&shared));
    on!(on_totals_day, |shared, delta| totals_day(&shared, delta));
}

/// The engine is up: the settings view can show the keys' fingerprints.
pub(super) fn connected(shared: &Rc<Shared>, engine: &Engine) {
    shared.manager.borrow_mut().settings = settings_of(&engine.terminal.config, Some(engine));
    push(shared);
}

/// Something was touched on the PIN or manager screen: the idle lock starts again.
pub(super) fn touch(shared: &Rc<Shared>) {
    // A kiosk's own idle reset also ends a manager's visit (see kiosk.rs).
    kiosk::activity(shared);
    let id = shared.id;
    shared
        .manager_idle
        .start(TimerMode::SingleShot, MANAGER_IDLE_LOCK, move || {
            super::with_live(id, |shared| {
                if matches!(shared.page(), Page::Pin | Page::Manager) {
                    tracing::info!("manager screen locked after being left idle");
                    shared.set_page(shared.home());
                }
            });
        });
}

/// The PIN was right: the manager screen opens on today's transactions, holding the
/// approval that PIN gave.
pub(super) fn opened(shared: &Rc<Shared>, approval: ManagerApproval) {
    let approver = SharedString::from(approval.manager());
    shared.manager.borrow_mut().approval = Some(Arc::new(approval));
    if let Some(app) = shared.app() {
        let manager = app.global::<Manager>();
        manager.set_approver(approver);
        manager.set_tab(ManagerTab::Transactions);
        manager.set_filter_today(true);
        manager.set_filter_status(StatusFilter::All);
        manager.set_filter_amount(SharedString::new());
        manager.set_filter_id(SharedString::new());
        manager.set_detail_open(false);
        manager.set_resolve_done(false);
    }
    shared.manager.borrow_mut().totals_day = local_time::today();
    shared.set_page(Page::Manager);
    touch(shared);
    load_transactions(shared);
}

/// The manager screen was left (by "Back to sales", the idle lock or a kiosk reset): what it
/// showed is dropped, so the next manager starts from the PIN and a fresh list.
pub(super) fn locked(shared: &Shared) {
    shared.manager_idle.stop();
    let mut state = shared.manager.borrow_mut();
    state.approval = None;
    state.list.clear();
    state.unresolved.clear();
    state.detail = None;
    state.refund_amount = None;
    drop(state);
    if let Some(app) = shared.app() {
        let manager = app.global::<Manager>();
        manager.set_detail_open(false);
        manager.set_refund_amount(SharedString::new());
        manager.set_refund_reason(SharedString::new());
        manager.set_refund_stage(RefundStage::Form);
        manager.set_refund_notice(RefundNotice::None);
        manager.set_approver(SharedString::new());
        reset_settle(&manager);
    }
    push(shared);
}

/// A key on the manager screen: Escape leaves a payment's detail; nothing else is taken.
pub(super) fn key(shared: &Rc<Shared>, key: &str) -> bool {
    touch(shared);
    if key == "escape" && shared.manager.borrow().detail.is_some() {
        close_transaction(shared);
        return true;
    }
    false
}

/// The engine reported a change: redraw what the manager is looking at.
pub(super) fn engine_changed(shared: &Rc<Shared>) {
    if shared.page() != Page::Manager {
        return;
    }
    let detail_id = shared
        .manager
        .borrow()
        .detail
        .as_ref()
        .map(|detail| detail.record.payment_request_id.clone());
    if let Some(id) = detail_id {
        load_detail(shared, id);
    }
    if current_tab(shared) == Some(ManagerTab::Unresolved) {
        load_unresolved(shared);
    }
}

fn current_tab(shared: &Shared) -> Option<ManagerTab> {
    shared.app().map(|app| app.global::<Manager>().get_tab())
}

fn show_tab(shared: &Rc<Shared>, tab: ManagerTab) {
    if let Some(app) = shared.app() {
        app.global::<Manager>().set_tab(tab);
    }
    match tab {
        ManagerTab::Transactions => load_transactions(shared),
        ManagerTab::Unresolved => load_unresolved(shared),
        ManagerTab::Totals => load_totals(shared),
        ManagerTab::Settings => push(shared),
    }
}

fn leave_kiosk(shared: &Rc<Shared>) {
    let approval = shared.manager.borrow().approval.clone();
    match approval {
        Some(approval) => leave_kiosk_approved(shared, &approval),
        None => tracing::warn!("leaving the kiosk refused: no manager approval"),
    }
}

/// Leaving the kiosk ends unattended selling, so it takes a manager's approval like a
/// refund does; the log names who left.
fn leave_kiosk_approved(shared: &Rc<Shared>, approval: &ManagerApproval) {
    if !shared.options.kiosk {
        return;
    }
    tracing::info!(
        manager = approval.manager(),
        "kiosk mode left by the manager"
    );
    let handler = shared.leave_kiosk.borrow().clone();
    match handler {
        Some(handler) => handler(),
        None => {
            if let Err(error) = slint::quit_event_loop() {
                tracing::error!(%error, "cannot close the terminal");
            }
        }
    }
}

/// The engine, or a notice that it has not started yet.
fn engine_or_notice(shared: &Shared) -> Option<Engine> {
    let engine = shared.engine();
    if engine.is_none()
        && let Some(app) = shared.app()
    {
        let manager = app.global::<Manager>();
        manager.set_list_notice(ListNotice::Error);
        manager
            .set_list_notice_detail("the terminal is still starting; try again in a moment".into());
    }
    engine
}

/// Reads `f` on the engine's runtime and hands the answer to `done` on the UI thread.
fn read<T: Send + 'static>(
    shared: &Shared,
    engine: &Engine,
    f: impl FnOnce(&mut Journal) -> Result<T, JournalError> + Send + 'static,
    done: impl FnOnce(&Rc<Shared>, Result<T, String>) + Send + 'static,
) {
    let checkout = engine.checkout();
    let id = shared.id;
    engine.runtime.spawn(async move {
        let result = checkout.db(f).await.map_err(|error| error.to_string());
        post(id, move |shared| done(shared, result));
    });
}

/// The payments matching the filters on screen, newest first, with what was refunded.
fn load_transactions(shared: &Rc<Shared>) {
    let Some(app) = shared.app() else { return };
    let manager = app.global::<Manager>();
    manager.set_list_notice(ListNotice::None);
    let mut filter = PaymentFilter {
        limit: Some(LIST_LIMIT),
        ..PaymentFilter::default()
    };
    if manager.get_filter_today() {
        let today = local_time::today().midnight();
        let offset = local_time::offset_at(today.assume_utc());
        filter.since = Some(today.assume_offset(offset));
    }
    let status = manager.get_filter_status();
    filter.states = match status {
        StatusFilter::All => Vec::new(),
        StatusFilter::Paid | StatusFilter::Refunded => vec![PaymentState::Paid],
        StatusFilter::Cancelled => vec![PaymentState::Cancelled],
        StatusFilter::Failed => vec![PaymentState::Failed],
        StatusFilter::Open => vec![
            PaymentState::Created,
            PaymentState::AwaitingCustomer,
            PaymentState::Cancelling,
            PaymentState::Unresolved,
        ],
    };
    let amount = manager.get_filter_amount();
    let amount = amount.trim();
    if !amount.is_empty() {
        match Money::parse(amount, shared.currency) {
            Ok(amount) => {
                filter.min_amount = Some(amount);
                filter.max_amount = Some(amount);
            }
            Err(_) => {
                manager.set_list_notice(ListNotice::BadAmount);
                shared.manager.borrow_mut().list.clear();
                push(shared);
                return;
            }
        }
    }
    let text = manager.get_filter_id();
    let text = text.trim();
    if !text.is_empty() {
        filter.text = Some(text.to_string());
    }
    let Some(engine) = engine_or_notice(shared) else {
        return;
    };
    let seq = {
        let mut state = shared.manager.borrow_mut();
        state.list_seq += 1;
        state.list_seq
    };
    manager.set_loading(true);
    let only_refunded = status == StatusFilter::Refunded;
    read(
        shared,
        &engine,
        move |journal| {
            let listed = list_with_refunds(journal, &filter)?;
            Ok(listed
                .into_iter()
                .filter(|listed| !only_refunded || !listed.refunded.is_zero())
                .collect())
        },
        move |shared, result| {
            if shared.manager.borrow().list_seq != seq {
                return;
            }
            let Some(app) = shared.app() else { return };
            let manager = app.global::<Manager>();
            manager.set_loading(false);
            match result {
                Ok(list) => shared.manager.borrow_mut().list = list,
                Err(error) => {
                    tracing::error!(%error, "cannot list payments");
                    manager.set_list_notice(ListNotice::Error);
                    manager.set_list_notice_detail(error.into());
                }
            }
            push(shared);
        },
    );
}

fn list_with_refunds(
    journal: &mut Journal,
    filter: &PaymentFilter,
) -> Result<Vec<Listed>, JournalError> {
    journal
        .list_payments(filter)?
        .into_iter()
        .map(|record| {
            let refunded = refunded_of(journal, &record)?;
            Ok(Listed { record, refunded })
        })
        .collect()
}

/// What Alipay confirmed as refunded of `record` (succeeded refunds only).
fn refunded_of(journal: &Journal, record: &PaymentRecord) -> Result<MinorTotal, JournalError> {
    succeeded_total(record, &journal.refunds_for(record.id)?)
}

fn succeeded_total(
    record: &PaymentRecord,
    refunds: &[RefundRecord],
) -> Result<MinorTotal, JournalError> {
    let mut total = MinorTotal::zero(record.amount.currency());
    for refund in refunds {
        if refund.state == RefundState::Succeeded {
            total = total.checked_add(refund.amount)?;
        }
    }
    Ok(total)
}

fn load_unresolved(shared: &Rc<Shared>) {
    let Some(engine) = engine_or_notice(shared) else {
        return;
    };
    let filter = PaymentFilter {
        states: vec![PaymentState::Unresolved],
        ..PaymentFilter::default()
    };
    read(
        shared,
        &engine,
        move |journal| list_with_refunds(journal, &filter),
        |shared, result| {
            match result {
                Ok(list) => shared.manager.borrow_mut().unresolved = list,
                Err(error) => tracing::error!(%error, "cannot list unresolved payments"),
            }
            push(shared);
        },
    );
}

fn open_transaction(shared: &Rc<Shared>, id: String) {
    if let Some(app) = shared.app() {
        let manager = app.global::<Manager>();
        manager.set_tab(ManagerTab::Transactions);
        manager.set_refund_amount(SharedString::new());
        manager.set_refund_reason(SharedString::new());
        manager.set_refund_stage(RefundStage::Form);
        manager.set_refund_notice(RefundNotice::None);
        reset_settle(&manager);
    }
    shared.manager.borrow_mut().refund_amount = None;
    load_detail(shared, id);
}

fn load_detail(shared: &Rc<Shared>, id: String) {
    let Some(engine) = engine_or_notice(shared) else {
        return;
    };
    read(
        shared,
        &engine,
        move |journal| {
            let Some(record) = journal.payment_by_request_id(&id)? else {
                return Ok(None);
            };
            let events = journal.events_for(record.entity())?;
            let refunds = journal.refunds_for(record.id)?;
            let refunded = succeeded_total(&record, &refunds)?;
            let remaining = if record.state == PaymentState::Paid {
                journal.refundable_remaining(record.id)?
            } else {
                MinorTotal::zero(record.amount.currency())
            };
            Ok(Some(Detail {
                record,
                events,
                refunds,
                refunded,
                remaining,
                driven: true,
            }))
        },
        |shared, result| {
            if shared.page() != Page::Manager {
                return;
            }
            match result {
                Ok(Some(mut detail)) => {
                    // Asked now, on the UI thread: whether a task of the engine still
                    // works on it decides whether a manager may settle it by hand.
                    detail.driven = shared.engine().is_none_or(|engine| {
                        engine
                            .checkout()
                            .is_driven(&detail.record.payment_request_id)
                    });
                    shared.manager.borrow_mut().detail = Some(detail);
                    if let Some(app) = shared.app() {
                        app.global::<Manager>().set_detail_open(true);
                    }
                }
                Ok(None) => tracing::warn!("the payment opened is not in the journal"),
                Err(error) => {
                    tracing::error!(%error, "cannot read the payment");
                    if let Some(app) = shared.app() {
                        let manager = app.global::<Manager>();
                        manager.set_list_notice(ListNotice::Error);
                        manager.set_list_notice_detail(error.into());
                    }
                }
            }
            push(shared);
        },
    );
}

fn close_transaction(shared: &Rc<Shared>) {
    shared.manager.borrow_mut().detail = None;
    if let Some(app) = shared.app() {
        app.global::<Manager>().set_detail_open(false);
    }
    load_transactions(shared);
}

fn set_refund(shared: &Shared, stage: RefundStage, notice: RefundNotice, detail: &str) {
    if let Some(app) = shared.app() {
        let manager = app.global::<Manager>();
        manager.set_refund_stage(stage);
        manager.set_refund_notice(notice);
        manager.set_refund_notice_detail(detail.into());
    }
    push(shared);
}

/// Checks the refund form and moves on to the confirmation.
fn refund_review(shared: &Rc<Shared>) {
    let Some(app) = shared.app() else { return };
    let manager = app.global::<Manager>();
    let (currency, remaining) = {
        let state = shared.manager.borrow();
        let Some(detail) = state.detail.as_ref() else {
            return;
        };
        (detail.record.amount.currency(), detail.remaining)
    };
    let Some(all) = remaining.to_money() else {
        set_refund(shared, RefundStage::Form, RefundNotice::NothingLeft, "");
        return;
    };
    let typed = manager.get_refund_amount();
    let amount = if typed.trim().is_empty() {
        all
    } else {
        match Money::parse(typed.trim(), currency) {
            Ok(amount) => amount,
            Err(_) => {
                set_refund(shared, RefundStage::Form, RefundNotice::BadAmount, "");
                return;
            }
        }
    };
    if amount.minor() > remaining.minor() {
        set_refund(shared, RefundStage::Form, RefundNotice::TooMuch, "");
        return;
    }
    if manager.get_refund_reason().trim().is_empty() {
        set_refund(shared, RefundStage::Form, RefundNotice::NoReason, "");
        return;
    }
    shared.manager.borrow_mut().refund_amount = Some(amount);
    set_refund(shared, RefundStage::Confirm, RefundNotice::None, "");
}

/// Confirmed: the engine journals the refund, sends it and reports how it ended.
fn refund_confirm(shared: &Rc<Shared>) {
    let Some(app) = shared.app() else { return };
    let manager = app.global::<Manager>();
    if manager.get_refund_stage() != RefundStage::Confirm {
        return;
    }
    let (payment, amount, approval) = {
        let state = shared.manager.borrow();
        let (Some(detail), Some(amount), Some(approval)) = (
            state.detail.as_ref(),
            state.refund_amount,
            state.approval.clone(),
        ) else {
            return;
        };
        (detail.record.payment_request_id.clone(), amount, approval)
    };
    let Some(engine) = engine_or_notice(shared) else {
        return;
    };
    let reason: String = manager
        .get_refund_reason()
        .trim()
        .chars()
        .take(MAX_REASON_CHARS)
        .collect();
    set_refund(shared, RefundStage::Sending, RefundNotice::None, "");
    let checkout: Checkout = engine.checkout();
    let id = shared.id;
    engine.runtime.spawn(async move {
        let result = checkout
            .refund(&payment, Some(amount), &reason, &approval)
            .await;
        post(id, move |shared| {
            match result {
                Ok(refund) => {
                    let code = refund.result_code.clone().unwrap_or_default();
                    let notice = match refund.state {
                        RefundState::Succeeded => RefundNotice::Succeeded,
                        RefundState::Failed => RefundNotice::Failed,
                        RefundState::Requested | RefundState::Unresolved => RefundNotice::Pending,
                    };
                    tracing::info!(refund = %refund.refund_request_id, state = refund.state.as_str(), "refund from the manager screen");
                    set_refund(shared, RefundStage::Done, notice, &code);
                }
                Err(error) => {
                    tracing::error!(%error, "refund refused");
                    set_refund(shared, RefundStage::Done, RefundNotice::Error, &error.to_string());
                }
            }
            status_adapter::refresh_unresolved(shared);
            load_detail(shared, payment);
        });
    });
}

fn refund_back(shared: &Rc<Shared>) {
    let Some(app) = shared.app() else { return };
    let manager = app.global::<Manager>();
    if manager.get_refund_stage() == RefundStage::Done {
        manager.set_refund_amount(SharedString::new());
        manager.set_refund_reason(SharedString::new());
        shared.manager.borrow_mut().refund_amount = None;
    }
    if manager.get_refund_stage() != RefundStage::Sending {
        set_refund(shared, RefundStage::Form, RefundNotice::None, "");
    }
}

fn reset_settle(manager: &Manager<'_>) {
    manager.set_settle_stage(SettleStage::Closed);
    manager.set_settle_notice(SettleNotice::None);
    manager.set_settle_notice_detail(SharedString::new());
    manager.set_settle_paid(true);
    manager.set_settle_reason(SharedString::new());
    manager.set_settle_payment_id(SharedString::new());
}

fn set_settle(shared: &Shared, stage: SettleStage, notice: SettleNotice, detail: &str) {
    if let Some(app) = shared.app() {
        let manager = app.global::<Manager>();
        manager.set_settle_stage(stage);
        manager.set_settle_notice(notice);
        manager.set_settle_notice_detail(detail.into());
    }
}

/// "Record outcome…": the form for what the merchant portal shows.
fn settle_open(shared: &Rc<Shared>) {
    let Some(app) = shared.app() else { return };
    let manager = app.global::<Manager>();
    if !manager.get_detail().can_settle {
        return;
    }
    reset_settle(&manager);
    manager.set_settle_stage(SettleStage::Form);
}

/// Checks the form (a reason; the portal's payment id when "paid" needs one) and moves on
/// to the confirmation, which names the approving manager.
fn settle_review(shared: &Rc<Shared>) {
    let Some(app) = shared.app() else { return };
    let manager = app.global::<Manager>();
    if manager.get_settle_stage() != SettleStage::Form {
        return;
    }
    if manager.get_settle_reason().trim().is_empty() {
        set_settle(shared, SettleStage::Form, SettleNotice::NoReason, "");
        return;
    }
    if manager.get_settle_paid()
        && manager.get_detail().needs_payment_id
        && manager.get_settle_payment_id().trim().is_empty()
    {
        set_settle(shared, SettleStage::Form, SettleNotice::NoPaymentId, "");
        return;
    }
    set_settle(shared, SettleStage::Confirm, SettleNotice::None, "");
}

/// Confirmed: the engine journals the manual resolution under the manager's approval.
fn settle_confirm(shared: &Rc<Shared>) {
    let Some(app) = shared.app() else { return };
    let manager = app.global::<Manager>();
    if manager.get_settle_stage() != SettleStage::Confirm {
        return;
    }
    let (payment, approval) = {
        let state = shared.manager.borrow();
        let (Some(detail), Some(approval)) = (state.detail.as_ref(), state.approval.clone()) else {
            return;
        };
        (detail.record.payment_request_id.clone(), approval)
    };
    let Some(engine) = engine_or_notice(shared) else {
        return;
    };
    let paid = manager.get_settle_paid();
    let outcome = if paid {
        let typed = manager.get_settle_payment_id().trim().to_string();
        ManualOutcome::Paid {
            alipay_payment_id: (!typed.is_empty()).then_some(typed),
        }
    } else {
        ManualOutcome::NotPaid
    };
    let reason: String = manager
        .get_settle_reason()
        .trim()
        .chars()
        .take(MAX_REASON_CHARS)
        .collect();
    set_settle(shared, SettleStage::Sending, SettleNotice::None, "");
    let checkout: Checkout = engine.checkout();
    let id = shared.id;
    engine.runtime.spawn(async move {
        let result = checkout
            .settle_manually(&payment, outcome, &reason, &approval)
            .await;
        post(id, move |shared| {
            match result {
                Ok(record) => {
                    tracing::info!(payment = %record.payment_request_id, state = record.state.as_str(), "outcome recorded from the manager screen");
                    let notice = if record.state == PaymentState::Paid {
                        SettleNotice::RecordedPaid
                    } else {
                        SettleNotice::RecordedNotPaid
                    };
                    set_settle(shared, SettleStage::Done, notice, "");
                }
                Err(error) => {
                    tracing::warn!(%error, "manual settlement refused");
                    set_settle(
                        shared,
                        SettleStage::Done,
                        SettleNotice::Error,
                        &error.to_string(),
                    );
                }
            }
            status_adapter::refresh_unresolved(shared);
            load_detail(shared, payment);
        });
    });
}

fn settle_back(shared: &Rc<Shared>) {
    let Some(app) = shared.app() else { return };
    let manager = app.global::<Manager>();
    match manager.get_settle_stage() {
        SettleStage::Confirm => set_settle(shared, SettleStage::Form, SettleNotice::None, ""),
        SettleStage::Form | SettleStage::Done => reset_settle(&manager),
        SettleStage::Closed | SettleStage::Sending => {}
    }
}

/// One resolver pass now, instead of waiting for the background resolver's next round.
fn resolve_now(shared: &Rc<Shared>) {
    let Some(app) = shared.app() else { return };
    let manager = app.global::<Manager>();
    if manager.get_resolving() {
        return;
    }
    let Some(engine) = engine_or_notice(shared) else {
        return;
    };
    manager.set_resolving(true);
    manager.set_resolve_done(false);
    let checkout = engine.checkout();
    let id = shared.id;
    engine.runtime.spawn(async move {
        let report = checkout.resolve_once().await;
        let unreachable = checkout.online() == Some(false);
        post(id, move |shared| {
            if let Some(app) = shared.app() {
                let manager = app.global::<Manager>();
                manager.set_resolving(false);
                manager.set_resolve_done(true);
                let count = |n: usize| i32::try_from(n).unwrap_or(i32::MAX);
                match report {
                    Ok(report) => {
                        manager.set_resolve_failed(unreachable);
                        manager.set_resolve_settled(count(
                            report.settled_payments.len() + report.settled_refunds.len(),
                        ));
                        manager.set_resolve_open(count(
                            report.open_payments.len() + report.open_refunds.len(),
                        ));
                    }
                    Err(error) => {
                        tracing::error!(%error, "resolve now failed");
                        manager.set_resolve_failed(true);
                    }
                }
            }
            status_adapter::refresh_unresolved(shared);
            load_unresolved(shared);
        });
    });
}

fn totals_day(shared: &Rc<Shared>, delta: i32) {
    {
        let mut state = shared.manager.borrow_mut();
        let day = if delta < 0 {
            state.totals_day.previous_day()
        } else {
            state.totals_day.next_day()
        };
        // No report for days that have not started yet.
        if let Some(day) = day.filter(|day| *day <= local_time::today()) {
            state.totals_day = day;
        }
    }
    load_totals(shared);
}

fn load_totals(shared: &Rc<Shared>) {
    let Some(engine) = engine_or_notice(shared) else {
        return;
    };
    let day = shared.manager.borrow().totals_day;
    // The offset in force at noon that day: right for every hour of the day except around a
    // daylight-saving change in the small hours.
    let offset = local_time::offset_at(day.midnight().assume_utc() + time::Duration::hours(12));
    read(
        shared,
        &engine,
        move |journal| journal.daily_totals(day..=day, offset),
        move |shared, result| {
            match result {
                Ok(totals) => {
                    let mut state = shared.manager.borrow_mut();
                    if state.totals_day == day {
                        state.totals = totals;
                    }
                }
                Err(error) => tracing::error!(%error, "cannot add up the day"),
            }
            push(shared);
        },
    );
}

/// Formats everything the manager screen shows from the records held (after a read, and
/// after a language switch).
pub(super) fn push(shared: &Shared) {
    let Some(app) = shared.app() else { return };
    let manager = app.global::<Manager>();
    let locale = shared.locale.get();
    let state = shared.manager.borrow();
    let rows = |list: &[Listed]| {
        let rows: Vec<_> = list
            .iter()
            .map(|listed| manager_rows::tx_row(listed, locale))
            .collect();
        ModelRc::new(VecModel::from(rows))
    };
    manager.set_transactions(rows(&state.list));
    manager.set_unresolved(rows(&state.unresolved));
    if let Some(detail) = &state.detail {
        manager.set_detail(manager_rows::detail(detail, locale));
        let timeline: Vec<_> = detail
            .events
            .iter()
            .map(manager_rows::timeline_row)
            .collect();
        manager.set_timeline(ModelRc::new(VecModel::from(timeline)));
        let refunds: Vec<_> = detail
            .refunds
            .iter()
            .map(|refund| manager_rows::refund_row(refund, locale))
            .collect();
        manager.set_refunds(ModelRc::new(VecModel::from(refunds)));
    }
    manager.set_refund_confirm_amount(
        state
            .refund_amount
            .map(|amount| amount.format(locale))
            .unwrap_or_default()
            .into(),
    );
    let today = local_time::today();
    manager.set_totals_date(format_date(state.totals_day).into());
    manager.set_totals_is_today(state.totals_day >= today);
    let totals: Vec<_> = state
        .totals
        .iter()
        .filter(|totals| totals.date == state.totals_day)
        .map(|totals| manager_rows::totals_row(totals, locale))
        .collect();
    manager.set_totals(ModelRc::new(VecModel::from(totals)));
    manager.set_settings(state.settings.clone());
}

/// Fills the manager screen with records read elsewhere (the screenshots' demo data).
pub(super) fn show_records(
    shared: &Shared,
    list: Vec<Listed>,
    detail: Option<Detail>,
    totals_day: Date,
    totals: Vec<CurrencyTotals>,
) {
    {
        let mut state = shared.manager.borrow_mut();
        state.unresolved = list
            .iter()
            .filter(|listed| listed.record.state == PaymentState::Unresolved)
            .cloned()
            .collect();
        state.list = list;
        state.detail = detail;
        state.totals_day = totals_day;
        state.totals = totals;
    }
    push(shared);
}

/// Replaces the settings view (the screenshots' demo data).
pub(super) fn show_settings(shared: &Shared, settings: SettingsView) {
    shared.manager.borrow_mut().settings = settings;
    push(shared);
}

/// Sets the amount a refund confirmation asks about (the screenshots' demo data).
pub(super) fn show_refund_amount(shared: &Shared, amount: Option<Money>) {
    shared.manager.borrow_mut().refund_amount = amount;
    push(shared);
}

fn format_date(day: Date) -> String {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    day.format(&format).unwrap_or_else(|_| day.to_string())
}
