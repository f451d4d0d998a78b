//! A manager records the outcome of an unresolved payment on the manager screen, headless
//! on the real engine: Alipay (the embedded sandbox) stays unreachable, so the terminal can
//! never settle the payment itself. PIN → manager screen → the unresolved payment → "Record
//! outcome" → Paid, a reason and the portal's payment id → confirmation naming the manager
//! → the journal holds a manual resolution by that manager, and the refund is offered. One
//! test in this file: the testing backend's event loop exists once per process.

use crate::support::Control;
use crate::support::gui::{
    RunningGui, click, ctrl_alt_m, demo_config, has_button, labelled, value_of, wait_until,
};
use alipay_pos::config::ManagerPin;
use alipay_pos::gui::{Api, App, GuiOptions, Manager, Page, ResultKind, SettleNotice, SettleStage};
use alipay_pos::journal::{Actor, PaymentState, Resolution};
use serde_json::json;
use slint::{ComponentHandle, Model};

/// Types into the text field labelled `label`, as a screen reader would.
fn fill(app: &App, label: &str, text: &str) {
    let fields = labelled(app, label);
    assert!(!fields.is_empty(), "no field labelled {label:?}");
    fields[0].set_accessible_value(text);
}

#[test]
fn a_manager_records_an_unresolved_payment_as_paid_and_is_offered_the_refund() {
    if crate::support::own_process::delegate(
        module_path!(),
        "a_manager_records_an_unresolved_payment_as_paid_and_is_offered_the_refund",
    ) {
        return;
    }
    i_slint_backend_testing::init_integration_test_with_system_time();
    let dir = tempfile::tempdir().unwrap();
    let mut config = demo_config(dir.path());
    config.admin.named_managers = vec![
        ManagerPin {
            name: "Ana Lim".into(),
            pin_hash: alipay_pos::admin::hash_pin("2468").unwrap(),
        },
        ManagerPin {
            name: "Bo".into(),
            pin_hash: alipay_pos::admin::hash_pin("1357").unwrap(),
        },
    ];
    let gui = RunningGui::start(&config, GuiOptions::default());
    let handle = gui.runtime.handle().clone();
    let terminal = gui.terminal.clone();
    let control = Control::of(&terminal);
    let ui = gui.app.clone_strong();
    let script = async move {
        let app = ui;
        let api = app.global::<Api>();
        let manager = app.global::<Manager>();
        let faults = control.clone();
        handle
            .spawn(async move { faults.set_faults(json!({ "down": true })).await })
            .await
            .unwrap();

        for key in ["1", "5"] {
            click(&app, key);
        }
        click(&app, "Charge");
        wait_until("the not-known-yet result", || {
            api.get_page() == Page::Result && api.get_result_kind() == ResultKind::Unresolved
        })
        .await;
        let id = api.get_result_payment_id().to_string();
        wait_until("the engine to let go", || !terminal.checkout.is_driven(&id)).await;

        // Bo's PIN: the journal must name Bo.
        click(&app, "New sale");
        ctrl_alt_m(&app);
        for digit in ["1", "3", "5", "7"] {
            click(&app, digit);
        }
        click(&app, "Open manager screen");
        wait_until("the manager screen", || api.get_page() == Page::Manager).await;
        assert_eq!(manager.get_approver(), "Bo");
        let tab = labelled(&app, "Unresolved")
            .into_iter()
            .find(|e| e.accessible_role() == Some(i_slint_backend_testing::AccessibleRole::Tab))
            .expect("the Unresolved tab");
        tab.invoke_accessible_default_action();
        wait_until("the unresolved payment listed", || {
            manager.get_unresolved().row_count() == 1
        })
        .await;
        click(&app, &format!("Payment {id}"));
        wait_until("the payment's detail", || {
            manager.get_detail_open() && manager.get_detail().id == id.as_str()
        })
        .await;
        assert!(manager.get_detail().can_settle);
        assert!(manager.get_detail().needs_payment_id);
        assert!(
            !has_button(&app, "Review refund"),
            "not paid, nothing to refund"
        );

        click(&app, "Record outcome");
        wait_until("the outcome form", || {
            manager.get_settle_stage() == SettleStage::Form
        })
        .await;
        click(&app, "Outcome paid");
        // A reason is required, and "paid" needs the portal's payment id here.
        click(&app, "Review outcome");
        assert_eq!(manager.get_settle_notice(), SettleNotice::NoReason);
        fill(
            &app,
            "Outcome reason",
            "Portal shows SUCCESS 15.00 at 10:02",
        );
        click(&app, "Review outcome");
        assert_eq!(manager.get_settle_notice(), SettleNotice::NoPaymentId);
        fill(
            &app,
            "Alipay payment id from the portal",
            "2026120119400001000000042",
        );
        click(&app, "Review outcome");
        wait_until("the confirmation", || {
            manager.get_settle_stage() == SettleStage::Confirm
        })
        .await;
        let question = value_of(&app, "Outcome confirmation").unwrap();
        assert!(
            question.contains("as paid, approved by Bo")
                && question.contains("Portal shows SUCCESS 15.00"),
            "{question}"
        );
        click(&app, "Confirm outcome");
        wait_until("the outcome recorded", || {
            manager.get_settle_stage() == SettleStage::Done
        })
        .await;
        assert_eq!(
            manager.get_settle_notice(),
            SettleNotice::RecordedPaid,
            "{}",
            manager.get_settle_notice_detail()
        );
        // The detail is read again: paid, and the refund is offered.
        wait_until("the refund offered", || {
            manager.get_detail().can_refund && has_button(&app, "Review refund")
        })
        .await;
        assert!(!manager.get_detail().can_settle);
        wait_until("the status bar's count", || api.get_unresolved_count() == 0).await;

        let checkout = terminal.checkout.clone();
        let journal_id = id.clone();
        let (record, events) = handle
            .spawn(async move {
                let record = checkout.payment(&journal_id).await.unwrap();
                let entity = record.entity();
                let events = checkout
                    .journal_for_tests(move |j| j.events_for(entity))
                    .await
                    .unwrap();
                let report = checkout.journal_for_tests(|j| j.check()).await.unwrap();
                assert!(report.is_clean(), "{report:#?}");
                (record, events)
            })
            .await
            .unwrap();
        assert_eq!(record.state, PaymentState::Paid);
        assert_eq!(record.resolution, Some(Resolution::Manual));
        assert_eq!(
            record.payment_id.as_deref(),
            Some("2026120119400001000000042")
        );
        let last = events.last().unwrap();
        assert_eq!(last.actor, Actor::Manager);
        assert!(last.detail.contains("Bo"), "{}", last.detail);
        assert!(
            last.detail.contains("Portal shows SUCCESS"),
            "{}",
            last.detail
        );
    };
    gui.run(script);
}
