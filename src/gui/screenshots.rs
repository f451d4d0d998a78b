//! `alipay-pos screenshots`: renders every screen in both languages to PNG files with
//! Slint's software renderer, with no display server. The screens are filled with demo
//! data (no engine runs), so the pictures are the same on every machine that has the same
//! fonts; the README and the documentation use them.

use std::cell::RefCell;
use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use slint::platform::software_renderer::{MinimalSoftwareWindow, RepaintBufferType};
use slint::platform::{Platform, WindowAdapter};
use slint::{ComponentHandle, Image, PhysicalSize, PlatformError, Rgb8Pixel};
use time::OffsetDateTime;

use super::outcome::{Outcome, Reason};
use super::{
    Api, App, Controller, GuiError, GuiOptions, Page, ResultView, Shown, language, payment_adapter,
    qr,
};
use crate::config::{CatalogItem, Config};
use crate::locale::Locale;
use crate::money::{Currency, Money};

/// Size of every screenshot: a common 10-inch POS tablet in landscape.
pub const WIDTH: u32 = 1024;
pub const HEIGHT: u32 = 768;

/// A platform whose windows draw into memory.
struct Offscreen {
    windows: Rc<RefCell<Vec<Rc<MinimalSoftwareWindow>>>>,
}

impl Platform for Offscreen {
    fn create_window_adapter(&self) -> Result<Rc<dyn WindowAdapter>, PlatformError> {
        let window = MinimalSoftwareWindow::new(RepaintBufferType::NewBuffer);
        self.windows.borrow_mut().push(window.clone());
        Ok(window)
    }
}

/// The catalog of the pictures (and of a config without `[[catalog]]`).
pub fn demo_catalog(currency: Currency) -> Vec<CatalogItem> {
    [
        ("Flat white", "澳白咖啡", "4.50"),
        ("Green tea", "绿茶", "3.20"),
        ("Croissant", "牛角包", "3.80"),
        ("Cheesecake", "芝士蛋糕", "5.60"),
        ("Orange juice", "橙汁", "4.00"),
        ("Sandwich", "三明治", "7.90"),
    ]
    .into_iter()
    .filter_map(|(name, name_zh, price)| {
        let price = if currency.exponent() == 0 {
            price.split('.').next().unwrap_or(price).to_string()
        } else {
            price.to_string()
        };
        Some(CatalogItem {
            name: name.to_string(),
            name_zh: Some(name_zh.to_string()),
            price: Money::parse(&price, currency).ok()?,
        })
    })
    .collect()
}

fn demo_config() -> Config {
    let mut config = Config::defaults();
    config.catalog = demo_catalog(config.payment.currency);
    config
}

/// Renders every screen in English and Chinese into `out` and returns the files written.
/// Must run before anything else in the process opened a Slint window.
pub fn render_all(out: &Path) -> Result<Vec<PathBuf>, GuiError> {
    std::fs::create_dir_all(out)
        .map_err(|e| GuiError::Screenshot(format!("{}: {e}", out.display())))?;
    let windows = Rc::new(RefCell::new(Vec::new()));
    slint::platform::set_platform(Box::new(Offscreen {
        windows: windows.clone(),
    }))
    .map_err(|e| GuiError::Screenshot(format!("cannot set up off-screen rendering: {e}")))?;
    let config = demo_config();
    let mut written = Vec::new();
    for kiosk in [false, true] {
        let app = App::new().map_err(|e| GuiError::Screenshot(e.to_string()))?;
        let window = windows
            .borrow()
            .last()
            .cloned()
            .ok_or_else(|| GuiError::Screenshot("no window was created".into()))?;
        window.set_size(PhysicalSize::new(WIDTH, HEIGHT));
        app.show()
            .map_err(|e| GuiError::Screenshot(e.to_string()))?;
        let options = GuiOptions {
            kiosk,
            ..GuiOptions::default()
        };
        let controller = Controller::attach(&app, options, &config);
        let api = app.global::<Api>();
        api.set_ready(true);
        api.set_online_known(true);
        api.set_online(true);
        api.set_unresolved_count(0);
        for locale in Locale::ALL {
            language::apply(&controller.shared, locale);
            let suffix = match locale {
                Locale::English => "en",
                Locale::SimplifiedChinese => "zh",
            };
            for scene in scenes(kiosk) {
                set_scene(&app, &controller, &config, scene);
                let path = out.join(format!("{}-{suffix}.png", scene.name()));
                capture(&window, &path)?;
                written.push(path);
            }
        }
        app.hide().ok();
    }
    Ok(written)
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Scene {
    Cashier,
    Kiosk,
    Qr,
    Paid,
    Failed,
    Cancelled,
    Unresolved,
}

impl Scene {
    fn name(self) -> &'static str {
        match self {
            Scene::Cashier => "cashier",
            Scene::Kiosk => "kiosk",
            Scene::Qr => "customer-qr",
            Scene::Paid => "result-paid",
            Scene::Failed => "result-failed",
            Scene::Cancelled => "result-cancelled",
            Scene::Unresolved => "result-unresolved",
        }
    }
}

fn scenes(kiosk: bool) -> Vec<Scene> {
    if kiosk {
        vec![Scene::Kiosk]
    } else {
        vec![
            Scene::Cashier,
            Scene::Qr,
            Scene::Paid,
            Scene::Failed,
            Scene::Cancelled,
            Scene::Unresolved,
        ]
    }
}

/// A fixed instant, so pictures do not change from one run to the next.
fn demo_time() -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(1_795_442_709).unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

fn set_scene(app: &App, controller: &Controller, config: &Config, scene: Scene) {
    let shared = &controller.shared;
    let api = app.global::<Api>();
    let currency = config.payment.currency;
    let locale = shared.locale.get();
    let amount = Money::parse("12.50", currency)
        .or_else(|_| Money::parse("1250", currency))
        .ok();
    {
        let mut state = shared.state.borrow_mut();
        state.payment = None;
        state.entry.clear();
        state.cart.clear();
        state.back_at = None;
        for key in "12.50".chars() {
            state.entry.push(key);
        }
        if config.catalog.len() >= 3 {
            let prices = shared.prices();
            for item in [0, 0, 2] {
                let _ = state.cart.add(item, &prices);
            }
        }
    }
    let names: Vec<&str> = config
        .catalog
        .iter()
        .take(2)
        .map(|item| item.name_in(locale))
        .collect();
    api.set_description(names.join(", ").into());
    let Some(amount) = amount else { return };
    let shown = |result: Option<ResultView>| Shown {
        id: "T01-20261123-0001".into(),
        amount,
        code: None,
        expires_at: None,
        cancelling: false,
        simulating: false,
        result,
    };
    let result = |outcome: Outcome, reason: Reason, code: &str| ResultView {
        outcome,
        reason,
        code: code.into(),
        time: Some(demo_time()),
        payment_id: "2026112319400001000000001".into(),
    };
    let (page, payment) = match scene {
        Scene::Cashier => (Page::Cashier, None),
        Scene::Kiosk => (Page::Kiosk, None),
        Scene::Qr => {
            let code = "http://127.0.0.1:8090/wallet/order/OC20261123194000000001";
            if let Ok(buffer) = qr::render(code) {
                api.set_qr_code(Image::from_rgb8(buffer));
            }
            let mut payment = shown(None);
            payment.code = Some(code.into());
            // 4:32 left; the ticker is not running, so the picture keeps this value.
            payment.expires_at = Some(OffsetDateTime::now_utc() + time::Duration::seconds(272));
            (Page::CustomerQr, Some(payment))
        }
        Scene::Paid => (
            Page::Result,
            Some(shown(Some(result(Outcome::Paid, Reason::Other, "SUCCESS")))),
        ),
        Scene::Failed => (
            Page::Result,
            Some(shown(Some(result(
                Outcome::Failed,
                Reason::Balance,
                "USER_BALANCE_NOT_ENOUGH",
            )))),
        ),
        Scene::Cancelled => (
            Page::Result,
            Some(shown(Some(result(Outcome::Cancelled, Reason::Other, "")))),
        ),
        Scene::Unresolved => {
            let mut view = result(Outcome::Unresolved, Reason::Other, "");
            view.time = None;
            view.payment_id = "T01-20261123-0001".into();
            (Page::Result, Some(shown(Some(view))))
        }
    };
    shared.state.borrow_mut().payment = payment;
    shared.push_all();
    api.set_unresolved_count(if scene == Scene::Unresolved { 1 } else { 0 });
    api.set_page(page);
    // The ticker would overwrite the fixed countdown values; pictures need none.
    shared.ticker.stop();
    api.set_seconds_left(payment_adapter::seconds_left(
        shared
            .state
            .borrow()
            .payment
            .as_ref()
            .and_then(|p| p.expires_at),
    ));
}

fn capture(window: &MinimalSoftwareWindow, path: &Path) -> Result<(), GuiError> {
    let (width, height) = (WIDTH as usize, HEIGHT as usize);
    slint::platform::update_timers_and_animations();
    window.request_redraw();
    let mut pixels = vec![Rgb8Pixel::new(0, 0, 0); width * height];
    window.draw_if_needed(|renderer| {
        renderer.render(&mut pixels, width);
    });
    let bytes: Vec<u8> = pixels.iter().flat_map(|p| [p.r, p.g, p.b]).collect();
    let failed =
        |e: &dyn std::fmt::Display| GuiError::Screenshot(format!("{}: {e}", path.display()));
    let file = File::create(path).map_err(|e| failed(&e))?;
    let mut encoder = png::Encoder::new(BufWriter::new(file), WIDTH, HEIGHT);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    encoder.set_compression(png::Compression::High);
    let mut writer = encoder.write_header().map_err(|e| failed(&e))?;
    writer.write_image_data(&bytes).map_err(|e| failed(&e))?;
    writer.finish().map_err(|e| failed(&e))?;
    Ok(())
}
