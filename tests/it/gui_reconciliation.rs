//! The manager screen's Reconciliation tab through the real screens, headless (Slint's
//! testing backend), on the real engine with the embedded sandbox in a temporary folder.
//!
//! Before the GUI starts, the journal gets yesterday's (Alipay's day, GMT+8) payments: one
//! paid, one the terminal left unresolved; then a hand-written transactions file of that day
//! is imported with `reconcile::import_files`, listing both as paid and a neighbouring
//! till's payment. The tab shows the counts, the file and the one discrepancy (the
//! unresolved payment Alipay lists as paid); the manager accepts it with a reason, and the
//! journal has the payment paid by reconciliation and the discrepancy accepted by that
//! manager. One test in this file: the testing backend's event loop exists once per process.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::support::gui::{
    RunningGui, click, ctrl_alt_m, demo_config, labelled, value_of, wait_until,
};
use alipay_pos::admin::hash_pin;
use alipay_pos::gui::{AcceptStage, Api, App, GuiOptions, Manager, Page, ReconNotice};
use alipay_pos::journal::{
    Actor, DiscrepancyKind, DiscrepancyResolution, Journal, JournalError, NewPayment, PaymentState,
    PaymentUpdate, Product, ReconciliationReads, Resolution,
};
use alipay_pos::money::{Currency, Money};
use alipay_pos::reconcile::{Scope, import_files};
use alipay_pos::terminal::Terminal;
use i_slint_backend_testing::AccessibleRole;
use slint::ComponentHandle;
use time::{Date, OffsetDateTime, Time};

const PIN: &str = "2468";

/// Alipay's sample header (flows.md §8), in Alipay's order.
const HEADER: &str = "customerId,acquirer,acquirerReferenceNo,referenceMerchantId,referenceStoreId,transactionId,originalTransactionId,transactionRequestId,referenceTransactionId,orderDescription,paymentMethodType,pspName,transactionType,paymentTime,productCode,transactionAmountValue,transactionCurrency,originalTransactionRequestId,issuingCountry,cardBrand,funding";

fn alipay_offset() -> time::UtcOffset {
    alipay_pos::reconcile::import::ALIPAY_DAY_OFFSET
}

/// Yesterday in Alipay's calendar: the day the tab opens on.
fn alipay_yesterday() -> Date {
    let today = OffsetDateTime::now_utc().to_offset(alipay_offset()).date();
    today.previous_day().unwrap()
}

fn yyyymmdd(day: Date) -> String {
    format!(
        "{:04}{:02}{:02}",
        day.year(),
        u8::from(day.month()),
        day.day()
    )
}

fn iso(day: Date) -> String {
    format!(
        "{:04}-{:02}-{:02}",
        day.year(),
        u8::from(day.month()),
        day.day()
    )
}

/// One PAYMENT row of the transactions file.
fn row(store: &str, request_id: &str, amount: &str, day: Date) -> String {
    format!(
        "1022188000000000001,Alipay,,M0001,{store},A{request_id},,{request_id},,Coffee,CONNECT_WALLET,ALIPAY_CN,PAYMENT,{}T12:00:00+08:00,IN_STORE_PAYMENT,{amount},USD,,,,",
        iso(day)
    )
}

struct Books {
    paid: String,
    unresolved: String,
    discrepancy: i64,
}

/// Yesterday's payments in the journal and Alipay's file for the day, imported.
fn prepare_books(data_dir: &Path, reports: &Path, config: &alipay_pos::config::Config) -> Books {
    let day = alipay_yesterday();
    let noon = day
        .with_time(Time::from_hms(12, 0, 0).unwrap())
        .assume_offset(alipay_offset());
    let mut journal = Journal::open_in(data_dir).unwrap().with_clock(move || noon);
    let tag = alipay_pos::request_ids::terminal_tag(&config.store.terminal_id);
    let id = |n: u32| format!("P-{}-{tag}-{n:012}", noon.unix_timestamp());
    let usd = |minor| Money::from_minor(minor, Currency::from_code("USD").unwrap()).unwrap();
    let mut create = |request_id: &str, amount: Money| {
        journal
            .create_payment(
                NewPayment {
                    payment_request_id: request_id.to_string(),
                    order_ref: format!("O-{request_id}"),
                    amount,
                    description: "Coffee".into(),
                    operator: config.store.terminal_id.clone(),
                    product: Product::OrderCode,
                    customer_code: None,
                },
                Actor::Cashier,
            )
            .unwrap()
    };
    let (paid, unresolved) = (id(1), id(2));
    let first = create(&paid, usd(1250));
    let second = create(&unresolved, usd(2310));
    journal
        .transition_payment(
            &first,
            PaymentState::Paid,
            Actor::System,
            "paid",
            PaymentUpdate {
                payment_id: Some(format!("A{paid}")),
                resolution: Some(Resolution::Pay),
                paid_at: Some(noon),
                ..PaymentUpdate::default()
            },
        )
        .unwrap();
    journal
        .transition_payment(
            &second,
            PaymentState::Unresolved,
            Actor::System,
            "Alipay unreachable",
            PaymentUpdate::default(),
        )
        .unwrap();

    let store = config.store.reference_store_id.as_str();
    let neighbour = format!("P-{}-T99-000000000009", noon.unix_timestamp());
    let text = format!(
        "{HEADER}\n{}\n{}\n{}\n<END>\n",
        row(store, &paid, "12.50", day),
        row(store, &unresolved, "23.10", day),
        row(store, &neighbour, "9.99", day),
    );
    let file: PathBuf = reports.join(format!("transactionItems_{}_000.csv", yyyymmdd(day)));
    std::fs::write(&file, text).unwrap();
    let scope = Scope {
        terminal_id: config.store.terminal_id.clone(),
        store_id: config.store.reference_store_id.clone(),
        customer_id: None,
    };
    let summary = import_files(&mut journal, &[file], &scope).unwrap();
    assert_eq!((summary.matched, summary.not_ours), (1, 1));
    assert_eq!(
        summary.discrepancies.len(),
        1,
        "{:?}",
        summary.discrepancies
    );
    assert_eq!(
        summary.discrepancies[0].kind,
        DiscrepancyKind::StateMismatch
    );
    Books {
        paid,
        unresolved,
        discrepancy: summary.discrepancies[0].id,
    }
}

fn type_pin(app: &App, pin: &str) {
    for digit in pin.chars() {
        click(app, &digit.to_string());
    }
    click(app, "Open manager screen");
}

/// Types into the text field labelled `label`, as a screen reader would.
fn fill(app: &App, label: &str, text: &str) {
    let fields = labelled(app, label);
    assert!(!fields.is_empty(), "no field labelled {label:?}");
    fields[0].set_accessible_value(text);
}

async fn on_runtime<T: Send + 'static>(
    runtime: &tokio::runtime::Handle,
    terminal: &Arc<Terminal>,
    f: impl FnOnce(&mut Journal) -> Result<T, JournalError> + Send + 'static,
) -> T {
    let checkout = terminal.checkout.clone();
    runtime
        .spawn(async move { checkout.journal_for_tests(f).await.unwrap() })
        .await
        .unwrap()
}

#[test]
fn a_manager_accepts_alipays_report_and_the_unresolved_payment_becomes_paid() {
    if crate::support::own_process::delegate(
        module_path!(),
        "a_manager_accepts_alipays_report_and_the_unresolved_payment_becomes_paid",
    ) {
        return;
    }
    i_slint_backend_testing::init_integration_test_with_system_time();
    let dir = tempfile::tempdir().unwrap();
    let mut config = demo_config(dir.path());
    config.admin.pin_hash = Some(hash_pin(PIN).unwrap());
    let reports = dir.path().join("reports");
    std::fs::create_dir_all(&reports).unwrap();
    let books = prepare_books(&config.storage.data_dir, &reports, &config);

    let gui = RunningGui::start(&config, GuiOptions::default());
    let handle = gui.runtime.handle().clone();
    let terminal = gui.terminal.clone();
    let ui = gui.app.clone_strong();
    let script = async move {
        let app = ui;
        let api = app.global::<Api>();
        let manager = app.global::<Manager>();

        ctrl_alt_m(&app);
        type_pin(&app, PIN);
        wait_until("the manager screen", || api.get_page() == Page::Manager).await;
        let tab = labelled(&app, "Reconciliation")
            .into_iter()
            .find(|e| e.accessible_role() == Some(AccessibleRole::Tab))
            .expect("the Reconciliation tab");
        tab.invoke_accessible_default_action();

        // Yesterday's books: the counts, the file, the one open discrepancy.
        let day = alipay_yesterday();
        wait_until("yesterday's books", || {
            value_of(&app, "Reconciliation summary").as_deref()
                == Some("1 matched, 1 not ours, 1 open, 0 resolved")
        })
        .await;
        assert_eq!(
            value_of(&app, "Report date"),
            Some(format!("Alipay day {}", iso(day)))
        );
        let file = format!("transactionItems_{}_000.csv", yyyymmdd(day));
        assert_eq!(
            value_of(&app, &format!("Report file {file}")).as_deref(),
            Some("3 rows, 1 matched, 1 not ours")
        );
        let n = books.discrepancy;
        let shown = value_of(&app, &format!("Discrepancy {n}")).unwrap();
        assert!(
            shown.starts_with("Different outcome · Payment ") && shown.ends_with(&books.unresolved),
            "{shown}"
        );
        assert!(
            !shown.contains(&books.paid),
            "the matched payment is no discrepancy"
        );
        assert_eq!(
            value_of(&app, &format!("Evidence of discrepancy {n}")).as_deref(),
            Some("Alipay: USD 23.10 · Journal: USD 23.10 (Unresolved)")
        );

        // The day after is Alipay's today: nothing imported, and the way to get it said.
        click(&app, "Next day");
        wait_until("today's empty books", || {
            value_of(&app, "Reconciliation summary").as_deref()
                == Some("No reports imported for this day")
        })
        .await;
        assert!(manager.get_recon_is_today());
        assert_eq!(
            crate::support::gui::button(&app, "Next day").accessible_enabled(),
            Some(false),
            "no reports for days that have not ended"
        );
        click(&app, "Previous day");
        wait_until("yesterday again", || {
            value_of(&app, "Reconciliation summary").as_deref()
                == Some("1 matched, 1 not ours, 1 open, 0 resolved")
        })
        .await;

        // Accept: a reason is required, then Confirm under the PIN's approval.
        click(&app, &format!("Accept discrepancy {n}"));
        wait_until("the reason field", || {
            manager.get_recon_accept_stage() == AcceptStage::Form
        })
        .await;
        click(&app, "Confirm acceptance");
        assert_eq!(manager.get_recon_notice(), ReconNotice::NoReason);
        fill(&app, "Acceptance reason", "Portal shows SUCCESS 23.10");
        click(&app, "Confirm acceptance");
        wait_until("the acceptance", || {
            manager.get_recon_notice() == ReconNotice::AcceptedPaid
        })
        .await;
        assert_eq!(
            value_of(&app, "Reconciliation status"),
            Some(format!(
                "Discrepancy {n} accepted: the journal now has the payment as paid (by reconciliation)."
            ))
        );
        wait_until("the day read again", || {
            value_of(&app, "Reconciliation summary").as_deref()
                == Some("1 matched, 1 not ours, 0 open, 1 resolved")
        })
        .await;
        assert_eq!(manager.get_recon_accept_stage(), AcceptStage::Closed);
        assert!(labelled(&app, &format!("Discrepancy {n}")).is_empty());

        // The journal: the payment paid by reconciliation with Alipay's id, the discrepancy
        // accepted by the manager whose PIN opened the screen, with the reason.
        let approver = manager.get_approver().to_string();
        let unresolved = books.unresolved.clone();
        let (payment, discrepancy) = on_runtime(&handle, &terminal, move |j| {
            let payment = j
                .list_payments(&Default::default())?
                .into_iter()
                .find(|p| p.payment_request_id == unresolved)
                .unwrap();
            Ok((payment, j.discrepancy(n)?.unwrap()))
        })
        .await;
        assert_eq!(payment.state, PaymentState::Paid);
        assert_eq!(payment.resolution, Some(Resolution::Reconciliation));
        assert_eq!(
            payment.payment_id.as_deref(),
            Some(format!("A{}", books.unresolved).as_str())
        );
        assert_eq!(
            discrepancy.resolution,
            Some(DiscrepancyResolution::Accepted {
                manager: approver,
                reason: "Portal shows SUCCESS 23.10".into(),
            })
        );
    };
    gui.run(script);
}
