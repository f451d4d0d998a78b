//! The "DEMO: NO REAL MONEY" mark (issue 9 §5): with the embedded sandbox the customer's QR
//! screen and the result screen carry it across the whole width; the cashier's entry
//! screen does not need it, and a terminal on a real gateway never shows it. Headless
//! (Slint's testing backend), on the real engine. One test in this file: the testing
//! backend's event loop exists once per process.

use crate::support::gui::{RunningGui, click, demo_config, labelled, value_of, wait_until};
use alipay_pos::config::Gateway;
use alipay_pos::gui::{Api, App, Controller, GuiOptions, Page};
use slint::ComponentHandle;

/// The mark's accessible label (both languages, whatever the screen's language).
const MARK: &str = "DEMO: NO REAL MONEY / 演示：不涉及真实资金";

fn marked(app: &App) -> bool {
    !labelled(app, MARK).is_empty()
}

#[test]
fn the_sandbox_marks_the_qr_and_result_screens_and_a_live_terminal_does_not() {
    if crate::support::own_process::delegate(
        module_path!(),
        "the_sandbox_marks_the_qr_and_result_screens_and_a_live_terminal_does_not",
    ) {
        return;
    }
    i_slint_backend_testing::init_integration_test_with_system_time();
    let dir = tempfile::tempdir().unwrap();
    let config = demo_config(dir.path());
    let gui = RunningGui::start(&config, GuiOptions::default());

    // The same window wiring for a terminal on a real gateway (its engine never starts
    // here: the mark depends on the configuration alone).
    let mut live_config = config.clone();
    live_config.alipay.gateway = Gateway::Asia;
    assert!(!live_config.is_sandbox());

    let ui = gui.app.clone_strong();
    let script = async move {
        let app = ui;
        let api = app.global::<Api>();
        assert!(api.get_sandbox());
        assert!(
            !marked(&app),
            "the cashier's entry screen has the status badge only"
        );

        click(&app, "1");
        click(&app, "Charge");
        wait_until("the QR screen", || api.get_page() == Page::CustomerQr).await;
        assert!(marked(&app), "the customer's QR screen carries the mark");
        let mark = labelled(&app, MARK).remove(0);
        let size = mark.size();
        assert!(
            size.width >= app.window().size().width as f32 / app.window().scale_factor() - 1.0,
            "the mark spans the window: {size:?}"
        );
        assert!(size.height >= 40.0, "the mark is not a thin line: {size:?}");

        click(&app, "Simulate customer (demo)");
        wait_until("the paid result", || {
            value_of(&app, "Payment result").as_deref() == Some("Paid")
        })
        .await;
        assert!(marked(&app), "the result screen carries the mark");

        click(&app, "New sale");
        assert_eq!(api.get_page(), Page::Cashier);
        assert!(!marked(&app));

        // A live terminal on the same screens: no mark.
        let live = App::new().unwrap();
        let controller = Controller::attach(&live, GuiOptions::default(), &live_config);
        let live_api = live.global::<Api>();
        assert!(!live_api.get_sandbox());
        for page in [Page::CustomerQr, Page::Result] {
            live_api.set_page(page);
            assert!(!marked(&live), "{page:?} on a live terminal");
        }
        // And the same page on the demo window does show it: the check above can fail.
        api.set_page(Page::Result);
        assert!(marked(&app));
        drop(controller);
    };
    gui.run(script);
}
