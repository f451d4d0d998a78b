//! Screen behaviour that needs no engine and no event loop: the language toggle (labels
//! switch to Chinese and back, amounts follow the language) and the hidden manager gesture
//! (long press on the store name, or Ctrl+Alt+M), the only way out of kiosk mode.

use std::time::Duration;

use crate::support::gui::{click, demo_config, has_button, labelled};
use alipay_pos::gui::{Api, App, Controller, GuiOptions, Manager, Page, PinNotice};
use slint::platform::{Key, PointerEventButton, WindowEvent};
use slint::{ComponentHandle, LogicalPosition, LogicalSize, Model};

#[test]
fn the_language_toggle_switches_labels_and_amounts() {
    if crate::support::own_process::delegate(
        module_path!(),
        "the_language_toggle_switches_labels_and_amounts",
    ) {
        return;
    }
    i_slint_backend_testing::init_no_event_loop();
    let dir = tempfile::tempdir().unwrap();
    let config = demo_config(dir.path());
    let app = App::new().unwrap();
    let _controller = Controller::attach(&app, GuiOptions::default(), &config);
    let api = app.global::<Api>();

    assert!(has_button(&app, "Clear"));
    assert!(!has_button(&app, "清除"));
    let catalog: Vec<_> = api.get_catalog().iter().collect();
    assert_eq!(catalog[0].price, "USD 4.50");
    assert_eq!(catalog[0].name, "Flat white");

    click(&app, "Switch language");
    assert_eq!(api.get_language(), "zh_CN");
    assert!(has_button(&app, "清除"), "the Clear button reads 清除");
    assert!(!has_button(&app, "Clear"));
    assert!(has_button(&app, "收款"), "Charge reads 收款");
    let catalog: Vec<_> = api.get_catalog().iter().collect();
    assert_eq!(catalog[0].price, "4.50 美元");
    assert_eq!(catalog[0].name, "澳白咖啡");

    click(&app, "切换语言");
    assert_eq!(api.get_language(), "en");
    assert!(has_button(&app, "Clear"));
    assert!(!has_button(&app, "清除"));
}

#[test]
fn holding_the_store_name_or_ctrl_alt_m_opens_the_pin_screen() {
    if crate::support::own_process::delegate(
        module_path!(),
        "holding_the_store_name_or_ctrl_alt_m_opens_the_pin_screen",
    ) {
        return;
    }
    i_slint_backend_testing::init_no_event_loop();
    let dir = tempfile::tempdir().unwrap();
    let config = demo_config(dir.path());
    let app = App::new().unwrap();
    app.window().set_size(LogicalSize::new(1024.0, 768.0));
    let options = GuiOptions {
        kiosk: true,
        ..GuiOptions::default()
    };
    let _controller = Controller::attach(&app, options, &config);
    let api = app.global::<Api>();
    let manager = app.global::<Manager>();
    app.show().unwrap();

    // Press and hold the store name in the status bar.
    let store = labelled(&app, &config.store.name)
        .into_iter()
        .next()
        .expect("the store name is on screen");
    let at = store.absolute_position();
    let size = store.size();
    let position = LogicalPosition::new(at.x + size.width / 2.0, at.y + size.height / 2.0);
    let window = app.window();
    window.dispatch_event(WindowEvent::PointerMoved { position });
    window.dispatch_event(WindowEvent::PointerPressed {
        position,
        button: PointerEventButton::Left,
    });
    i_slint_backend_testing::mock_elapsed_time(Duration::from_millis(1000));
    assert_eq!(
        api.get_page(),
        Page::Kiosk,
        "a short press is not the gesture"
    );
    i_slint_backend_testing::mock_elapsed_time(Duration::from_millis(2500));
    assert_eq!(api.get_page(), Page::Pin, "held for 3 s: the PIN screen");
    assert_eq!(
        manager.get_pin_notice(),
        PinNotice::NotSet,
        "this config has no PIN, and the screen says how to set one"
    );
    window.dispatch_event(WindowEvent::PointerReleased {
        position,
        button: PointerEventButton::Left,
    });
    click(&app, "Cancel");
    assert_eq!(api.get_page(), Page::Kiosk, "Cancel goes back to the kiosk");

    // A quick tap does nothing.
    window.dispatch_event(WindowEvent::PointerPressed {
        position,
        button: PointerEventButton::Left,
    });
    window.dispatch_event(WindowEvent::PointerReleased {
        position,
        button: PointerEventButton::Left,
    });
    i_slint_backend_testing::mock_elapsed_time(Duration::from_millis(5000));
    assert_eq!(api.get_page(), Page::Kiosk, "a tap is not the gesture");

    // Ctrl+Alt+M on a keyboard.
    crate::support::gui::ctrl_alt_m(&app);
    assert_eq!(api.get_page(), Page::Pin, "Ctrl+Alt+M: the PIN screen");
    window.dispatch_event(WindowEvent::KeyPressed {
        text: Key::Escape.into(),
    });
    assert_eq!(api.get_page(), Page::Kiosk, "Escape leaves the PIN screen");
    // Without the modifiers, "m" is just a letter the kiosk ignores.
    window.dispatch_event(WindowEvent::KeyPressed { text: "m".into() });
    assert_eq!(api.get_page(), Page::Kiosk);
}

#[test]
fn yen_amounts_have_no_decimal_point() {
    if crate::support::own_process::delegate(module_path!(), "yen_amounts_have_no_decimal_point") {
        return;
    }
    i_slint_backend_testing::init_no_event_loop();
    let dir = tempfile::tempdir().unwrap();
    let mut config = demo_config(dir.path());
    config.payment.currency = alipay_pos::money::Currency::JPY;
    config.catalog = alipay_pos::gui::screenshots::demo_catalog(config.payment.currency);
    let app = App::new().unwrap();
    let _controller = Controller::attach(&app, GuiOptions::default(), &config);
    let api = app.global::<Api>();

    let point = crate::support::gui::button(&app, "Decimal point");
    assert_eq!(
        point.accessible_enabled(),
        Some(false),
        "no '.' key for JPY"
    );
    for key in ["1", "2", "0", "0"] {
        click(&app, key);
    }
    // The keyboard's "." is refused too.
    app.window()
        .dispatch_event(WindowEvent::KeyPressed { text: ".".into() });
    click(&app, "5");
    assert_eq!(
        crate::support::gui::value_of(&app, "Amount entered").as_deref(),
        Some("12005")
    );
    assert_eq!(api.get_charge_amount(), "JPY 12,005");
    click(&app, "Add Flat white");
    assert_eq!(
        crate::support::gui::value_of(&app, "Amount entered").as_deref(),
        Some("12009"),
        "a quick item adds its whole-yen price"
    );
    assert_eq!(api.get_description(), "Flat white");
}
