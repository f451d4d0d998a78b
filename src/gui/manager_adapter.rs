//! The manager screen behind the PIN: wires the `Manager` global's callbacks to the
//! [`Manager`](super::controllers::manager::Manager) controller (transactions and their
//! filters, a payment's detail, refunds, manual outcomes, "resolve now", totals,
//! reconciliation) and maps
//! its state onto the global. Records become rows in [`manager_rows`] (pure functions), on
//! the UI thread, so a language switch redraws them without reading the journal again.

use std::rc::Rc;
use std::time::Duration;

use slint::{ComponentHandle, ModelRc, SharedString, VecModel};
use time::Date;

use super::controllers::manager::Tab;
use super::controllers::manager::day_close::CloseStage as CloseStep;
use super::controllers::manager::reconciliation::{
    AcceptStage as Accepting, ReconNotice as Reconciled,
};
use super::controllers::manager::refund::{RefundNotice as Said, RefundStage as Stage};
use super::controllers::manager::settle::{
    SettleForm, SettleNotice as Recorded, SettleStage as Step,
};
use super::controllers::manager::store::{StoreNotice as Stored, StoreView};
use super::controllers::manager::transactions::{
    Filters, ListNotice as Listing, ProductChoice, StatusChoice,
};
use super::engine_handle::{EngineFacts, EngineHandle};
use super::manager_rows;
use super::{
    AcceptStage, CloseStage, ListNotice, Manager, ManagerTab, ProductFilter, ReconNotice,
    RefundNotice, RefundStage, SettingsView, SettleNotice, SettleStage, Shared, StatusFilter,
    StoreNotice,
};
use crate::config::Config;

/// The manager screen locks itself (back to the sale screen, PIN needed again) after this
/// long without a touch, so a screen left open at a busy counter does not let anyone refund.
pub const MANAGER_IDLE_LOCK: Duration = Duration::from_secs(120);

/// What the manager screen's adapter remembers between pushes.
#[derive(Default)]
pub(crate) struct ManagerMarks {
    /// The settings view: built from the configuration, completed with the engine's facts
    /// once it runs.
    settings: Option<SettingsView>,
    /// The filters', refund's and settle form's "cleared" counters last shown, so the
    /// screen's own fields are reset once per reset and never while the manager types.
    refund_cleared: Option<u64>,
    settle_cleared: Option<u64>,
    filters_cleared: Option<u64>,
    store_cleared: Option<u64>,
    recon_cleared: Option<u64>,
}

/// The settings view from the configuration and, once the engine runs, its key
/// fingerprints. Paths and ids only: nothing secret is in a `SettingsView`.
fn settings_of(config: &Config, facts: Option<&EngineFacts>) -> SettingsView {
    let (key, alipay_key) = match facts {
        Some(facts) => (
            facts.merchant_key_fingerprint.clone(),
            facts.alipay_key_fingerprint.clone(),
        ),
        None => (String::new(), String::new()),
    };
    let notify_url = match facts {
        Some(facts) => facts.notify_url.clone().unwrap_or_default(),
        None => config
            .payment
            .notify_url
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default(),
    };
    // The sandbox's public URL: what the QR codes point at (a LAN address in a phone demo).
    let gateway = match facts.and_then(|facts| facts.sandbox_url.as_ref()) {
        Some(url) => format!("sandbox · {url}"),
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
    shared.manager_marks.borrow_mut().settings = Some(settings_of(&shared.config, None));
    macro_rules! on {
        ($setter:ident, |$shared:ident $(, $arg:ident)*| $body:expr) => {{
            let weak = Rc::downgrade(shared);
            manager.$setter(move |$($arg),*| {
                if let Some($shared) = weak.upgrade() {
                    $shared.manager_touched();
                    $body;
                }
            });
        }};
    }
    on!(on_show_tab, |shared, tab| shared
        .manager
        .show_tab(tab_of(tab)));
    on!(on_close, |shared| shared.manager.close());
    on!(on_leave_kiosk, |shared| leave_kiosk(&shared));
    on!(on_filters_changed, |shared,
                             today,
                             status,
                             amount,
                             id,
                             product| {
        shared.manager.transactions.set_filters(Filters {
            today,
            status: status_of(status),
            amount: amount.to_string(),
            id: id.to_string(),
            product: product_of(product),
        })
    });
    // The "Whole store" tab exists only with a store hub; its reads never touch the rest.
    manager.set_store_available(
        shared
            .config
            .hub
            .as_ref()
            .is_some_and(|hub| hub.url.is_some()),
    );
    on!(
        on_store_filters_changed,
        |shared, today, status, amount, id, product| {
            shared.manager.store.set_filters(Filters {
                today,
                status: status_of(status),
                amount: amount.to_string(),
                id: id.to_string(),
                product: product_of(product),
            })
        }
    );
    on!(on_store_open, |shared, id| shared
        .manager
        .store
        .open(id.to_string()));
    on!(on_store_close_detail, |shared| shared
        .manager
        .store
        .close_detail());
    on!(on_open_transaction, |shared, id| shared
        .manager
        .open_transaction(id.to_string()));
    on!(on_close_transaction, |shared| shared
        .manager
        .close_transaction());
    on!(on_refund_review, |shared, amount, reason| shared
        .manager
        .refund_review(amount.as_str(), reason.as_str()));
    on!(on_refund_confirm, |shared| shared.manager.refund_confirm());
    on!(on_reprint_receipt, |shared| shared
        .manager
        .reprint(shared.locale.get()));
    on!(on_print_refund_receipt, |shared| shared
        .manager
        .print_refund_receipt(shared.locale.get()));
    on!(on_refund_back, |shared| shared.manager.refund.back());
    on!(on_settle_open, |shared| {
        let can = shared
            .manager
            .transactions
            .detail()
            .is_some_and(|detail| detail.can_settle());
        shared.manager.settle_open(can)
    });
    on!(on_settle_review, |shared, paid, reason, payment_id| {
        let needs = shared
            .manager
            .transactions
            .detail()
            .is_some_and(|detail| detail.needs_payment_id());
        shared.manager.settle_review(
            &SettleForm {
                paid,
                reason: reason.to_string(),
                payment_id: payment_id.to_string(),
            },
            needs,
        )
    });
    on!(on_settle_confirm, |shared| shared.manager.settle_confirm());
    on!(on_settle_back, |shared| shared.manager.settle.back());
    on!(on_resolve_now, |shared| shared.manager.resolve_now());
    on!(on_check_registration, |shared| shared
        .manager
        .registration
        .check_now());
    on!(on_totals_day, |shared, delta| shared
        .manager
        .step_day(delta));
    on!(on_close_day_ask, |shared| shared.manager.day_close.ask());
    on!(on_close_day_confirm, |shared| shared
        .manager
        .close_day_confirm());
    on!(on_close_day_back, |shared| shared.manager.day_close.back());
    on!(on_close_day_report, |shared| shared
        .manager
        .day_close
        .show_report());
    on!(on_recon_day, |shared, delta| shared
        .manager
        .reconciliation
        .step(delta));
    on!(on_recon_accept_open, |shared, id| {
        if let Ok(id) = id.parse::<i64>() {
            shared.manager.reconciliation.open_accept(id)
        }
    });
    on!(on_recon_accept_confirm, |shared, id, reason| {
        if let Ok(id) = id.parse::<i64>() {
            shared.manager.accept_discrepancy(id, reason.as_str())
        }
    });
    on!(on_recon_accept_back, |shared| shared
        .manager
        .reconciliation
        .back());
}

/// The engine is up: the settings view can show the keys' fingerprints.
pub(super) fn connected(shared: &Rc<Shared>, engine: &dyn EngineHandle) {
    shared.manager_marks.borrow_mut().settings =
        Some(settings_of(&shared.config, Some(&engine.facts())));
    push(shared);
}

fn leave_kiosk(shared: &Rc<Shared>) {
    if shared.manager.leave_kiosk().is_none() {
        return;
    }
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

fn tab_of(tab: ManagerTab) -> Tab {
    match tab {
        ManagerTab::Transactions => Tab::Transactions,
        ManagerTab::Unresolved => Tab::Unresolved,
        ManagerTab::Totals => Tab::Totals,
        ManagerTab::Reconciliation => Tab::Reconciliation,
        ManagerTab::Settings => Tab::Settings,
        ManagerTab::Store => Tab::Store,
    }
}

fn manager_tab(tab: Tab) -> ManagerTab {
    match tab {
        Tab::Transactions => ManagerTab::Transactions,
        Tab::Unresolved => ManagerTab::Unresolved,
        Tab::Totals => ManagerTab::Totals,
        Tab::Reconciliation => ManagerTab::Reconciliation,
        Tab::Settings => ManagerTab::Settings,
        Tab::Store => ManagerTab::Store,
    }
}

fn status_of(status: StatusFilter) -> StatusChoice {
    match status {
        StatusFilter::All => StatusChoice::All,
        StatusFilter::Paid => StatusChoice::Paid,
        StatusFilter::Refunded => StatusChoice::Refunded,
        StatusFilter::Cancelled => StatusChoice::Cancelled,
        StatusFilter::Failed => StatusChoice::Failed,
        StatusFilter::Open => StatusChoice::Open,
    }
}

fn product_of(product: ProductFilter) -> ProductChoice {
    match product {
        ProductFilter::All => ProductChoice::All,
        ProductFilter::QrCode => ProductChoice::QrCode,
        ProductFilter::Scanned => ProductChoice::Scanned,
    }
}

fn product_filter(product: ProductChoice) -> ProductFilter {
    match product {
        ProductChoice::All => ProductFilter::All,
        ProductChoice::QrCode => ProductFilter::QrCode,
        ProductChoice::Scanned => ProductFilter::Scanned,
    }
}

fn status_filter(status: StatusChoice) -> StatusFilter {
    match status {
        StatusChoice::All => StatusFilter::All,
        StatusChoice::Paid => StatusFilter::Paid,
        StatusChoice::Refunded => StatusFilter::Refunded,
        StatusChoice::Cancelled => StatusFilter::Cancelled,
        StatusChoice::Failed => StatusFilter::Failed,
        StatusChoice::Open => StatusFilter::Open,
    }
}

/// Formats everything the manager screen shows from the controllers' state (after each
/// change, and after a language switch).
pub(super) fn push(shared: &Shared) {
    let Some(app) = shared.app() else { return };
    let manager = app.global::<Manager>();
    let locale = shared.locale.get();
    let controller = &shared.manager;
    let list = &controller.transactions;

    manager.set_approver(controller.approver().unwrap_or_default().into());
    manager.set_tab(manager_tab(controller.tab()));

    let rows = |listed: &[manager_rows::Listed]| {
        let rows: Vec<_> = listed
            .iter()
            .map(|listed| manager_rows::tx_row(listed, locale))
            .collect();
        ModelRc::new(VecModel::from(rows))
    };
    manager.set_transactions(rows(&list.list()));
    manager.set_unresolved(rows(&list.unresolved()));
    manager.set_loading(list.loading());
    match list.notice() {
        Listing::None => manager.set_list_notice(ListNotice::None),
        Listing::BadAmount => manager.set_list_notice(ListNotice::BadAmount),
        Listing::Error(detail) => {
            manager.set_list_notice(ListNotice::Error);
            manager.set_list_notice_detail(detail.into());
        }
    }
    push_store(&manager, &controller.store, locale);
    manager.set_detail_open(list.detail_open());
    if let Some(detail) = list.detail() {
        manager.set_detail(manager_rows::detail(&detail, locale));
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

    // The form fields belong to the screen; they are set only when a controller resets
    // them (a new visit, a new payment, a finished refund).
    let mut marks = shared.manager_marks.borrow_mut();
    let store = &controller.store;
    if marks.store_cleared != Some(store.cleared()) {
        let filters = Filters::default();
        manager.set_store_filter_today(filters.today);
        manager.set_store_filter_status(status_filter(filters.status));
        manager.set_store_filter_amount(SharedString::new());
        manager.set_store_filter_id(SharedString::new());
        manager.set_store_filter_product(product_filter(filters.product));
    }
    marks.store_cleared = Some(store.cleared());
    if marks.filters_cleared != Some(list.cleared()) {
        let filters = list.filters();
        manager.set_filter_today(filters.today);
        manager.set_filter_status(status_filter(filters.status));
        manager.set_filter_amount(filters.amount.into());
        manager.set_filter_id(filters.id.into());
        manager.set_filter_product(product_filter(filters.product));
    }
    let refund = &controller.refund;
    if marks.refund_cleared != Some(refund.cleared()) {
        manager.set_refund_amount(SharedString::new());
        manager.set_refund_reason(SharedString::new());
    }
    let settle = &controller.settle;
    if marks.settle_cleared != Some(settle.cleared()) {
        manager.set_settle_paid(true);
        manager.set_settle_reason(SharedString::new());
        manager.set_settle_payment_id(SharedString::new());
    }
    marks.refund_cleared = Some(refund.cleared());
    marks.settle_cleared = Some(settle.cleared());
    marks.filters_cleared = Some(list.cleared());
    let recon = &controller.reconciliation;
    if marks.recon_cleared != Some(recon.cleared()) {
        manager.set_recon_reason(SharedString::new());
    }
    marks.recon_cleared = Some(recon.cleared());

    manager.set_refund_stage(match refund.stage() {
        Stage::Form => RefundStage::Form,
        Stage::Confirm => RefundStage::Confirm,
        Stage::Sending => RefundStage::Sending,
        Stage::Done => RefundStage::Done,
    });
    let (notice, detail) = match refund.notice() {
        Said::None => (RefundNotice::None, String::new()),
        Said::BadAmount => (RefundNotice::BadAmount, String::new()),
        Said::TooMuch => (RefundNotice::TooMuch, String::new()),
        Said::NothingLeft => (RefundNotice::NothingLeft, String::new()),
        Said::NoReason => (RefundNotice::NoReason, String::new()),
        Said::Succeeded => (RefundNotice::Succeeded, String::new()),
        Said::Failed(code) => (RefundNotice::Failed, code),
        Said::Pending(code) => (RefundNotice::Pending, code),
        Said::NotPaid => (RefundNotice::NotPaid, String::new()),
        Said::NoAlipayPaymentId => (RefundNotice::NoAlipayId, String::new()),
        Said::Error(words) => (RefundNotice::Error, words),
    };
    manager.set_refund_notice(notice);
    manager.set_refund_notice_detail(detail.into());
    let receipts = &controller.receipts;
    manager.set_printer_set(receipts.available());
    manager.set_refund_receipt_ready(receipts.available() && refund.succeeded().is_some());
    let (status, detail) = super::print_status_view(&receipts.status());
    manager.set_reprint_status(status);
    manager.set_reprint_detail(detail.into());
    manager.set_refund_confirm_amount(
        refund
            .amount()
            .map(|amount| amount.format(locale))
            .unwrap_or_default()
            .into(),
    );

    manager.set_settle_stage(match settle.stage() {
        Step::Closed => SettleStage::Closed,
        Step::Form => SettleStage::Form,
        Step::Confirm => SettleStage::Confirm,
        Step::Sending => SettleStage::Sending,
        Step::Done => SettleStage::Done,
    });
    let (notice, detail) = match settle.notice() {
        Recorded::None => (SettleNotice::None, String::new()),
        Recorded::NoReason => (SettleNotice::NoReason, String::new()),
        Recorded::NoPaymentId => (SettleNotice::NoPaymentId, String::new()),
        Recorded::RecordedPaid => (SettleNotice::RecordedPaid, String::new()),
        Recorded::RecordedNotPaid => (SettleNotice::RecordedNotPaid, String::new()),
        Recorded::Error(words) => (SettleNotice::Error, words),
    };
    manager.set_settle_notice(notice);
    manager.set_settle_notice_detail(detail.into());

    let resolving = controller.resolving();
    manager.set_resolving(resolving.running);
    manager.set_resolve_done(resolving.done);
    let count = |n: usize| i32::try_from(n).unwrap_or(i32::MAX);
    match resolving.summary {
        Some(summary) => {
            manager.set_resolve_failed(summary.unreachable);
            manager.set_resolve_settled(count(summary.settled));
            manager.set_resolve_open(count(summary.open));
        }
        None => manager.set_resolve_failed(resolving.done),
    }

    let totals = &controller.totals;
    manager.set_totals_date(format_date(totals.day()).into());
    manager.set_totals_is_today(totals.is_today());
    let rows: Vec<_> = totals
        .totals()
        .iter()
        .map(|totals| manager_rows::totals_row(totals, locale))
        .collect();
    manager.set_totals(ModelRc::new(VecModel::from(rows)));

    let closer = &controller.day_close;
    manager.set_close_stage(match closer.stage() {
        CloseStep::Totals => CloseStage::Totals,
        CloseStep::Confirm => CloseStage::Confirm,
        CloseStep::Closing => CloseStage::Closing,
        CloseStep::Report => CloseStage::Report,
    });
    manager.set_close_error(closer.error().unwrap_or_default().into());
    let report = closer.report();
    manager.set_day_closed(report.is_some());
    match report {
        Some(report) => {
            manager.set_z_report(manager_rows::z_report(&report));
            manager.set_z_totals(ModelRc::new(VecModel::from(manager_rows::z_totals(
                &report, locale,
            ))));
            manager.set_z_later(ModelRc::new(VecModel::from(manager_rows::z_later(&report))));
        }
        None => {
            manager.set_z_totals(ModelRc::default());
            manager.set_z_later(ModelRc::default());
        }
    }
    push_reconciliation(&manager, controller, locale);
    if let Some(settings) = marks.settings.clone() {
        manager.set_settings(settings);
    }
    super::registration_adapter::push(&manager, &controller.registration);
}

/// The Reconciliation tab: the day's books as rows, the acceptance under way, the notice.
/// The "Whole store" tab: rows, totals, the read-only detail and why there are none.
fn push_store(manager: &Manager<'_>, store: &StoreView, locale: crate::locale::Locale) {
    let rows: Vec<_> = store
        .rows()
        .iter()
        .map(|row| manager_rows::store_row(row, locale))
        .collect();
    manager.set_store_rows(ModelRc::new(VecModel::from(rows)));
    let totals: Vec<_> = store
        .totals()
        .iter()
        .map(|totals| manager_rows::store_totals_row(totals, locale))
        .collect();
    manager.set_store_totals(ModelRc::new(VecModel::from(totals)));
    manager.set_store_loading(store.loading());
    let (notice, detail) = match store.notice() {
        Stored::None => (StoreNotice::None, String::new()),
        Stored::BadAmount => (StoreNotice::BadAmount, String::new()),
        Stored::Unreachable(why) => (StoreNotice::Unreachable, why),
        Stored::Refused(why) => (StoreNotice::Refused, why),
        Stored::Failed(why) => (StoreNotice::Failed, why),
    };
    manager.set_store_notice(notice);
    manager.set_store_notice_detail(detail.into());
    match store.detail() {
        Some(detail) => {
            manager.set_store_detail(manager_rows::store_row(&detail.transaction, locale));
            manager.set_store_detail_payment_id(
                detail
                    .transaction
                    .payment
                    .payment_id
                    .clone()
                    .unwrap_or_default()
                    .into(),
            );
            let refunds: Vec<_> = detail
                .refunds
                .iter()
                .map(|refund| manager_rows::store_refund_row(refund, locale))
                .collect();
            manager.set_store_detail_refunds(ModelRc::new(VecModel::from(refunds)));
            manager.set_store_detail_open(true);
        }
        None => manager.set_store_detail_open(false),
    }
}

fn push_reconciliation(
    manager: &Manager<'_>,
    controller: &super::ManagerScreen,
    locale: crate::locale::Locale,
) {
    let recon = &controller.reconciliation;
    let day = recon.day();
    manager.set_recon_date(format_date(day).into());
    manager.set_recon_report_date(
        super::controllers::manager::reconciliation::report_date(day).into(),
    );
    manager.set_recon_is_today(recon.is_today());
    manager.set_recon_loading(recon.loading());
    let report = recon.report();
    let count = |n: usize| i32::try_from(n).unwrap_or(i32::MAX);
    let count64 = |n: u64| i32::try_from(n).unwrap_or(i32::MAX);
    manager.set_recon_imported(report.as_ref().is_some_and(|r| r.imported()));
    manager.set_recon_matched(report.as_ref().map_or(0, |r| count64(r.matched)));
    manager.set_recon_not_ours(report.as_ref().map_or(0, |r| count64(r.not_ours)));
    manager.set_recon_resolved(report.as_ref().map_or(0, |r| count(r.resolved.len())));
    let files: Vec<_> = report
        .iter()
        .flat_map(|r| r.files.iter().map(manager_rows::report_file_row))
        .collect();
    manager.set_recon_files(ModelRc::new(VecModel::from(files)));
    let batches: Vec<_> = report
        .iter()
        .flat_map(|r| r.batches.iter().map(|b| manager_rows::batch_row(b, locale)))
        .collect();
    manager.set_recon_batches(ModelRc::new(VecModel::from(batches)));
    let open: Vec<_> = report
        .iter()
        .flat_map(|r| {
            r.open
                .iter()
                .map(|d| manager_rows::discrepancy_row(d, locale))
        })
        .collect();
    manager.set_recon_open(ModelRc::new(VecModel::from(open)));
    manager.set_recon_accept_stage(match recon.stage() {
        Accepting::Closed => AcceptStage::Closed,
        Accepting::Form => AcceptStage::Form,
        Accepting::Sending => AcceptStage::Sending,
    });
    manager.set_recon_accepting(
        recon
            .accepting()
            .map(|id| id.to_string())
            .unwrap_or_default()
            .into(),
    );
    let (notice, detail) = match recon.notice() {
        Reconciled::None => (ReconNotice::None, String::new()),
        Reconciled::NoReason => (ReconNotice::NoReason, String::new()),
        Reconciled::Accepted { id, settled_as } => (
            match settled_as {
                Some("paid") => ReconNotice::AcceptedPaid,
                Some("succeeded") => ReconNotice::AcceptedRefunded,
                _ => ReconNotice::Accepted,
            },
            id.to_string(),
        ),
        Reconciled::AlreadyResolved => (ReconNotice::AlreadyResolved, String::new()),
        Reconciled::NotFound => (ReconNotice::NotFound, String::new()),
        Reconciled::Error(words) => (ReconNotice::Error, words),
    };
    manager.set_recon_notice(notice);
    manager.set_recon_notice_detail(detail.into());
}

/// Replaces the settings view (the screenshots' demo data).
pub(super) fn show_settings(shared: &Shared, settings: SettingsView) {
    shared.manager_marks.borrow_mut().settings = Some(settings);
    push(shared);
}

fn format_date(day: Date) -> String {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    day.format(&format).unwrap_or_else(|_| day.to_string())
}
