//! An unresolved payment on the manager screen, headless on the real engine: Alipay (the
//! embedded sandbox) goes down during `pay`, the result screen says the outcome is not
//! known, the status bar counts it; once Alipay is back, the manager's "Resolve now"
//! settles it, the list empties and the journal holds the final state. One test in this
//! file: the testing backend's event loop exists once per process.

use crate::support::Control;
use crate::support::gui::{RunningGui, click, ctrl_alt_m, demo_config, value_of, wait_until};
use alipay_pos::admin::hash_pin;
use alipay_pos::gui::{Api, GuiOptions, Manager, Page, ResultKind};
use alipay_pos::journal::PaymentState;
use serde_json::json;
use slint::{ComponentHandle, Model};

#[test]
fn resolve_now_settles_a_payment_left_unresolved_by_an_outage() {
    if crate::support::own_process::delegate(
        module_path!(),
        "resolve_now_settles_a_payment_left_unresolved_by_an_outage",
    ) {
        return;
    }
    i_slint_backend_testing::init_integration_test_with_system_time();
    let dir = tempfile::tempdir().unwrap();
    let mut config = demo_config(dir.path());
    config.admin.pin_hash = Some(hash_pin("1357").unwrap());
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
        wait_until("the status bar's count", || api.get_unresolved_count() == 1).await;
        let id = api.get_result_payment_id().to_string();
        // The engine tries inquiry and cancel for a while, then leaves it to the resolver.
        wait_until("the engine to let go", || !terminal.checkout.is_driven(&id)).await;
        let faults = control.clone();
        handle
            .spawn(async move { faults.clear_faults().await })
            .await
            .unwrap();

        click(&app, "New sale");
        ctrl_alt_m(&app);
        for digit in ["1", "3", "5", "7"] {
            click(&app, digit);
        }
        click(&app, "Open manager screen");
        wait_until("the manager screen", || api.get_page() == Page::Manager).await;
        let tab = crate::support::gui::labelled(&app, "Unresolved")
            .into_iter()
            .find(|e| e.accessible_role() == Some(i_slint_backend_testing::AccessibleRole::Tab))
            .expect("the Unresolved tab");
        tab.invoke_accessible_default_action();
        wait_until("the unresolved payment listed", || {
            value_of(&app, "Unresolved count").as_deref() == Some("1 payment")
        })
        .await;
        assert_eq!(
            manager.get_unresolved().row_data(0).unwrap().id,
            id.as_str()
        );

        click(&app, "Resolve now");
        wait_until("the resolver's pass", || manager.get_resolve_done()).await;
        assert_eq!(
            value_of(&app, "Resolve result").as_deref(),
            Some("1 settled, 0 still open.")
        );
        wait_until("an empty list", || {
            manager.get_unresolved().row_count() == 0
        })
        .await;
        wait_until("the status bar's count", || api.get_unresolved_count() == 0).await;
        let checkout = terminal.checkout.clone();
        let settled = handle
            .spawn(async move { checkout.payment(&id).await.unwrap() })
            .await
            .unwrap();
        // `down` broke the connection before Alipay processed anything.
        assert_eq!(settled.state, PaymentState::Failed);
    };
    gui.run(script);
}
