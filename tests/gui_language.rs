//! The language toggle: labels switch to Chinese and back, and amounts are formatted for
//! the language. No engine and no event loop are needed for this.

mod gui_support;

use alipay_pos::gui::{Api, App, Controller, GuiOptions};
use gui_support::{click, demo_config, has_button};
use slint::{ComponentHandle, Model};

#[test]
fn the_language_toggle_switches_labels_and_amounts() {
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
