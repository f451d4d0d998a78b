//! Leaving kiosk mode, headless on the real engine: only through the hidden gesture and the
//! manager PIN; "Leave kiosk mode" then hands over to whatever closes the terminal; and a
//! manager screen left alone in a kiosk goes back to the customer's screen by itself, with
//! the PIN needed again. One test in this file: the testing backend's event loop exists
//! once per process.

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use crate::support::gui::{RunningGui, click, ctrl_alt_m, demo_config, has_button, wait_until};
use alipay_pos::admin::hash_pin;
use alipay_pos::gui::{Api, GuiOptions, Manager, Page, PinNotice};
use slint::ComponentHandle;
use slint::platform::{Key, WindowEvent};

#[test]
fn the_kiosk_is_left_only_with_the_pin_and_locks_when_left_alone() {
    if crate::support::own_process::delegate(
        module_path!(),
        "the_kiosk_is_left_only_with_the_pin_and_locks_when_left_alone",
    ) {
        return;
    }
    i_slint_backend_testing::init_integration_test_with_system_time();
    let dir = tempfile::tempdir().unwrap();
    let mut config = demo_config(dir.path());
    config.admin.pin_hash = Some(hash_pin("9753").unwrap());
    let options = GuiOptions {
        kiosk: true,
        idle_timeout: Duration::from_millis(1500),
        ..GuiOptions::default()
    };
    let gui = RunningGui::start(&config, options);
    let left = Rc::new(Cell::new(0));
    let counter = left.clone();
    gui.controller
        .on_leave_kiosk(move || counter.set(counter.get() + 1));

    let ui = gui.app.clone_strong();
    let script = async move {
        let app = ui;
        let api = app.global::<Api>();
        let manager = app.global::<Manager>();
        assert_eq!(api.get_page(), Page::Kiosk);
        assert!(!has_button(&app, "Leave kiosk mode"));
        // Escape and Enter do nothing on the customer's screen.
        app.window().dispatch_event(WindowEvent::KeyPressed {
            text: Key::Escape.into(),
        });
        assert_eq!(api.get_page(), Page::Kiosk);

        ctrl_alt_m(&app);
        assert_eq!(api.get_page(), Page::Pin);
        for digit in ["9", "7", "5", "3"] {
            click(&app, digit);
        }
        click(&app, "Open manager screen");
        wait_until("the manager screen", || api.get_page() == Page::Manager).await;
        click(&app, "Leave kiosk mode");
        assert_eq!(left.get(), 1, "the manager closed the kiosk");

        // A manager screen nobody touches goes back to the customer's screen.
        wait_until("the kiosk's idle reset", || api.get_page() == Page::Kiosk).await;
        ctrl_alt_m(&app);
        assert_eq!(api.get_page(), Page::Pin, "the PIN is needed again");
        assert_eq!(manager.get_pin_length(), 0);
        assert_eq!(manager.get_pin_notice(), PinNotice::None);
    };
    gui.run(script);
}
