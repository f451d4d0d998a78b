//! "Close day" on the manager screen, headless (Slint's testing backend), on the real engine
//! with the embedded sandbox: a paid sale, the PIN, End of day, the confirmation (Back
//! closes nothing), the close and its Z report on screen, the closed day's mark and its
//! report reachable again, a refund after the close shown against it, and the close stored
//! in the journal in the manager's name. One test in this file: the testing backend's event
//! loop exists once per process.

use crate::support::gui::{RunningGui, click, ctrl_alt_m, demo_config, has_button, value_of};
use crate::support::gui::{labelled, wait_until};
use alipay_pos::admin::hash_pin;
use alipay_pos::gui::{Api, CloseStage, GuiOptions, Manager, Page};
use i_slint_backend_testing::AccessibleRole;
use slint::{ComponentHandle, Model};

const PIN: &str = "2468";

#[test]
fn the_manager_closes_the_day_and_sees_its_z_report() {
    if crate::support::own_process::delegate(
        module_path!(),
        "the_manager_closes_the_day_and_sees_its_z_report",
    ) {
        return;
    }
    i_slint_backend_testing::init_integration_test_with_system_time();
    let dir = tempfile::tempdir().unwrap();
    let mut config = demo_config(dir.path());
    config.admin.pin_hash = Some(hash_pin(PIN).unwrap());
    let gui = RunningGui::start(&config, GuiOptions::default());
    let handle = gui.runtime.handle().clone();
    let terminal = gui.terminal.clone();
    let ui = gui.app.clone_strong();
    let script = async move {
        let app = ui;
        let api = app.global::<Api>();
        let manager = app.global::<Manager>();

        for key in ["1", "2", "Decimal point", "5", "0"] {
            click(&app, key);
        }
        click(&app, "Charge");
        wait_until("the QR screen", || api.get_page() == Page::CustomerQr).await;
        click(&app, "Simulate customer (demo)");
        wait_until("the paid result", || {
            value_of(&app, "Payment result").as_deref() == Some("Paid")
        })
        .await;

        ctrl_alt_m(&app);
        for digit in PIN.chars() {
            click(&app, &digit.to_string());
        }
        click(&app, "Open manager screen");
        wait_until("the manager screen", || api.get_page() == Page::Manager).await;
        let tab: Vec<_> = labelled(&app, "End of day")
            .into_iter()
            .filter(|e| e.accessible_role() == Some(AccessibleRole::Tab))
            .collect();
        tab[0].invoke_accessible_default_action();
        wait_until("today's totals", || manager.get_totals().row_count() == 1).await;
        wait_until("the day read as open", || has_button(&app, "Close day…")).await;
        assert!(!manager.get_day_closed());

        // The confirmation, and Back closes nothing.
        click(&app, "Close day…");
        assert!(
            value_of(&app, "Close day confirmation")
                .is_some_and(|text| text.contains("can never be changed")),
            "{:?}",
            value_of(&app, "Close day confirmation")
        );
        click(&app, "Back");
        assert_eq!(manager.get_close_stage(), CloseStage::Totals);
        let reader = terminal.reader().unwrap();
        assert!(reader.day_closes().unwrap().is_empty());

        // Confirmed: the Z report.
        click(&app, "Close day…");
        click(&app, "Close day");
        wait_until("the Z report", || {
            manager.get_close_stage() == CloseStage::Report && manager.get_day_closed()
        })
        .await;
        let today = alipay_pos::local_time::today();
        assert_eq!(
            value_of(&app, "Z report").as_deref(),
            Some(format!("Z report #1 · {today}").as_str())
        );
        assert_eq!(
            value_of(&app, "At close in USD").as_deref(),
            Some("Paid USD 12.50, refunded USD 0.00, net USD 12.50")
        );
        assert_eq!(value_of(&app, "Closed by").as_deref(), Some("manager"));
        assert_eq!(
            value_of(&app, "After the close").as_deref(),
            Some("Nothing happened to this day after the close.")
        );
        let closes = reader.day_closes().unwrap();
        assert_eq!(closes.len(), 1);
        assert_eq!((closes[0].number, closes[0].date), (1, today));
        assert_eq!(closes[0].closed_by, "manager", "the PIN's manager");

        // Back to the totals: the day is marked closed, no second close is offered.
        click(&app, "Back to totals");
        assert!(
            value_of(&app, "Day closed").is_some_and(|text| text.contains("Z report #1")),
            "{:?}",
            value_of(&app, "Day closed")
        );
        assert!(!has_button(&app, "Close day…"));

        // A refund after the close: the report lists it and shows the totals now.
        let checkout = terminal.checkout.clone();
        let paid = reader.transactions(&Default::default()).unwrap()[0]
            .payment
            .payment_request_id
            .clone();
        handle
            .spawn(async move {
                checkout
                    .refund(&paid, None, "after close", &crate::support::approval("Bo"))
                    .await
                    .unwrap()
            })
            .await
            .unwrap();
        click(&app, "Z report");
        wait_until("the refund after the close", || {
            manager.get_z_later().row_count() >= 1 && value_of(&app, "Now in USD").is_some()
        })
        .await;
        assert_eq!(
            value_of(&app, "Now in USD").as_deref(),
            Some("Paid USD 12.50, refunded USD 12.50, net USD 0.00")
        );
        assert_eq!(
            value_of(&app, "At close in USD").as_deref(),
            Some("Paid USD 12.50, refunded USD 0.00, net USD 12.50"),
            "the close keeps its figures"
        );
        assert!(
            value_of(&app, "After the close").is_some_and(|t| t.contains("After the close (")),
            "{:?}",
            value_of(&app, "After the close")
        );
    };
    gui.run(script);
}
