//! The terminal's touch GUI: Slint screens in `ui/*.slint`, wired to the payment engine.
//!
//! `ui/api.slint` exports one global, `Api`, which is the whole contract: Rust sets its
//! properties and answers its callbacks; the screens never decide anything about money or
//! payments. The adapters here only connect that global to the engine:
//! - [`cashier_adapter`]: keypad and keyboard, quick items, the kiosk order, description;
//! - [`payment_adapter`]: Charge, the QR screen, Cancel, the demo customer, results;
//! - [`status_adapter`]: online/offline, unresolved payments, the sandbox banner;
//! - [`language`]: English / Simplified Chinese at run time;
//! - [`kiosk`]: the idle reset and the automatic return after a result;
//! - [`pin_adapter`]: the manager PIN, off the UI thread, with the lockout;
//! - [`manager_adapter`]: transactions, refunds, unresolved payments, totals, settings
//!   (records to rows in [`manager_rows`]).
//!
//! Threads: the Slint event loop owns the UI thread. The engine runs on a tokio runtime on
//! other threads; every engine call is spawned there and its answer comes back with
//! `slint::invoke_from_event_loop`, so the UI thread never waits on the network or the disk.

slint::include_modules!();

pub mod cart;
mod cashier_adapter;
pub mod controllers;
pub mod engine_handle;
pub mod entry;
mod kiosk;
mod language;
mod manager_adapter;
pub mod manager_rows;
mod payment_adapter;
mod pin_adapter;
pub mod qr;
pub mod result_screen;
pub mod screenshots;
mod status_adapter;

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::path::Path;
use std::rc::{Rc, Weak};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use slint::ComponentHandle;
use time::OffsetDateTime;

use crate::admin::PinGuard;
use crate::checkout::{Checkout, Policy, Recovery};
use crate::config::{CatalogItem, Config};
use crate::journal::PaymentRecord;
use crate::locale::Locale;
use crate::money::{Currency, Money};
use crate::terminal::Terminal;

use cart::Cart;
use entry::AmountEntry;
use result_screen::{Reason, ResultScreen as Outcome};

/// How long a kiosk may sit untouched with an order before it starts over.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a kiosk shows a result before it returns to the start.
pub const DEFAULT_RESULT_TIMEOUT: Duration = Duration::from_secs(10);

/// How the GUI starts.
#[derive(Debug, Clone, PartialEq)]
pub struct GuiOptions {
    /// Cashier mode in a full-screen window.
    pub fullscreen: bool,
    /// Kiosk mode: full screen, the customer orders from the catalog, no in-app quit.
    pub kiosk: bool,
    /// The language the screens start in (and a kiosk returns to).
    pub locale: Locale,
    /// Kiosk: an untouched order is cleared after this long.
    pub idle_timeout: Duration,
    /// Kiosk: a result returns to the start after this long.
    pub result_timeout: Duration,
}

impl Default for GuiOptions {
    fn default() -> Self {
        GuiOptions {
            fullscreen: false,
            kiosk: false,
            locale: Locale::English,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            result_timeout: DEFAULT_RESULT_TIMEOUT,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum GuiError {
    #[error("no display found; run under X11/Wayland or use the CLI (`alipay-pos pay`)")]
    NoDisplay,
    #[error("cannot open the window: {0}")]
    Window(String),
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    #[error("cannot start the async runtime: {0}")]
    Runtime(String),
    #[error("cannot write screenshots: {0}")]
    Screenshot(String),
}

impl GuiError {
    /// Turns Slint's start-up failure into advice. Without DISPLAY/WAYLAND_DISPLAY winit
    /// reports only "Could not initialize backend".
    fn from_platform(error: slint::PlatformError) -> GuiError {
        let text = error.to_string();
        let no_display_env = std::env::var_os("DISPLAY").is_none_or(|v| v.is_empty())
            && std::env::var_os("WAYLAND_DISPLAY").is_none_or(|v| v.is_empty());
        if no_display_env || text.contains("Could not initialize backend") {
            GuiError::NoDisplay
        } else {
            GuiError::Window(text)
        }
    }
}

/// The running engine as the GUI uses it: everything is called on `runtime`.
#[derive(Clone)]
pub(crate) struct Engine {
    /// Kept alive as long as the GUI is: dropping it stops the receiver and the sandbox.
    terminal: Arc<Terminal>,
    runtime: tokio::runtime::Handle,
    /// For the demo customer's request to the sandbox wallet; `None` if no HTTP client
    /// could be built (then the demo button does nothing and says so in the log).
    http: Option<reqwest::Client>,
}

impl Engine {
    fn checkout(&self) -> Checkout {
        self.terminal.checkout.clone()
    }

    fn is_sandbox(&self) -> bool {
        self.terminal.sandbox().is_some()
    }
}

/// The payment the QR or result screen is about.
#[derive(Debug, Clone)]
pub(crate) struct Shown {
    /// Our paymentRequestId.
    id: String,
    amount: Money,
    /// The order code on screen, if any.
    code: Option<String>,
    expires_at: Option<OffsetDateTime>,
    cancelling: bool,
    simulating: bool,
    /// Set once the payment has a result to show.
    result: Option<ResultView>,
}

impl Shown {
    fn new(id: String, amount: Money) -> Shown {
        Shown {
            id,
            amount,
            code: None,
            expires_at: None,
            cancelling: false,
            simulating: false,
            result: None,
        }
    }
}

/// What the result screen shows.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ResultView {
    outcome: Outcome,
    reason: Reason,
    /// Alipay's result code ("" when none).
    code: String,
    /// When it was paid (or settled); `None` hides the line.
    time: Option<OffsetDateTime>,
    /// Alipay's paymentId, or our paymentRequestId while Alipay's is unknown.
    payment_id: String,
}

/// Everything the screens show that Rust owns.
#[derive(Debug)]
pub(crate) struct State {
    entry: AmountEntry,
    cart: Cart,
    payment: Option<Shown>,
    /// A `pay` is on its way (Charge pressed, no answer yet).
    charging: bool,
    notice: Notice,
    notice_detail: String,
    /// Kiosk: when the result screen returns to the start by itself.
    back_at: Option<std::time::Instant>,
}

/// The GUI's Rust side, owned by the UI thread.
pub(crate) struct Shared {
    /// Key in [`LIVE`], so closures coming back from other threads find this again.
    id: u64,
    app: slint::Weak<App>,
    options: GuiOptions,
    currency: Currency,
    catalog: Vec<CatalogItem>,
    locale: Cell<Locale>,
    engine: RefCell<Option<Engine>>,
    state: RefCell<State>,
    /// Ticks the QR countdown and the kiosk's return countdown.
    ticker: slint::Timer,
    /// Kiosk idle reset.
    idle: slint::Timer,
    pin: RefCell<pin_adapter::PinState>,
    /// Counts the PIN lockout down.
    pin_timer: slint::Timer,
    manager: RefCell<manager_adapter::ManagerState>,
    /// Locks the manager screen when left untouched.
    manager_idle: slint::Timer,
    /// What "Leave kiosk mode" does; closes the window unless replaced (tests replace it).
    leave_kiosk: RefCell<Option<Rc<dyn Fn()>>>,
}

thread_local! {
    /// The GUIs alive on this (the UI) thread. Work finished on the engine's threads comes
    /// back as a `Send` closure holding only the id and finds its GUI here.
    static LIVE: RefCell<HashMap<u64, Weak<Shared>>> = RefCell::new(HashMap::new());
}

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// Runs `f` on the UI thread with the GUI `id`, if it still exists.
pub(crate) fn post(id: u64, f: impl FnOnce(&Rc<Shared>) + Send + 'static) {
    let queued = slint::invoke_from_event_loop(move || with_live(id, f));
    if let Err(error) = queued {
        // The event loop has ended: the window is closing, nothing left to update.
        tracing::debug!(%error, "GUI update dropped");
    }
}

/// Runs `f` with the GUI `id` now (on the UI thread), if it still exists.
pub(crate) fn with_live(id: u64, f: impl FnOnce(&Rc<Shared>)) {
    let shared = LIVE.with(|live| live.borrow().get(&id).and_then(Weak::upgrade));
    if let Some(shared) = shared {
        f(&shared);
    }
}

impl Shared {
    pub(crate) fn app(&self) -> Option<App> {
        self.app.upgrade()
    }

    pub(crate) fn engine(&self) -> Option<Engine> {
        self.engine.borrow().clone()
    }

    /// The page a new sale starts on.
    fn home(&self) -> Page {
        if self.options.kiosk {
            Page::Kiosk
        } else {
            Page::Cashier
        }
    }

    fn page(&self) -> Page {
        self.app()
            .map(|app| app.global::<Api>().get_page())
            .unwrap_or(Page::Cashier)
    }

    fn set_page(&self, page: Page) {
        let was_manager = matches!(self.page(), Page::Pin | Page::Manager);
        if let Some(app) = self.app() {
            app.global::<Api>().set_page(page);
        }
        if was_manager && !matches!(page, Page::Pin | Page::Manager) {
            manager_adapter::locked(self);
        }
        kiosk::page_changed(self, page);
    }

    fn prices(&self) -> Vec<Money> {
        self.catalog.iter().map(|item| item.price).collect()
    }

    fn set_notice(&self, notice: Notice, detail: String) {
        {
            let mut state = self.state.borrow_mut();
            state.notice = notice;
            state.notice_detail = detail;
        }
        self.push_notice();
    }

    fn push_notice(&self) {
        let Some(app) = self.app() else { return };
        let api = app.global::<Api>();
        let state = self.state.borrow();
        api.set_notice(state.notice);
        api.set_notice_detail(state.notice_detail.as_str().into());
    }

    /// Pushes every formatted value again (after a language switch, or at start-up).
    fn push_all(&self) {
        cashier_adapter::push_entry(self);
        cashier_adapter::push_catalog(self);
        cashier_adapter::push_cart(self);
        payment_adapter::push_payment(self);
        manager_adapter::push(self);
        self.push_notice();
    }
}

/// A GUI attached to one `App` window. Dropping it detaches the adapters.
pub struct Controller {
    shared: Rc<Shared>,
}

impl Drop for Controller {
    fn drop(&mut self) {
        LIVE.with(|live| live.borrow_mut().remove(&self.shared.id));
    }
}

impl Controller {
    /// Wires `app`'s callbacks and shows the configured merchant, currency and catalog.
    /// Charging stays off until [`Controller::connect`] hands over the engine.
    pub fn attach(app: &App, options: GuiOptions, config: &Config) -> Controller {
        let shared = Rc::new(Shared {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            app: app.as_weak(),
            currency: config.payment.currency,
            catalog: config.catalog.clone(),
            locale: Cell::new(options.locale),
            engine: RefCell::new(None),
            state: RefCell::new(State {
                entry: AmountEntry::new(config.payment.currency),
                cart: Cart::default(),
                payment: None,
                charging: false,
                notice: Notice::None,
                notice_detail: String::new(),
                back_at: None,
            }),
            ticker: slint::Timer::default(),
            idle: slint::Timer::default(),
            pin: RefCell::new(pin_adapter::PinState::new(PinGuard::from_config(
                &config.admin,
                &config.storage.data_dir,
            ))),
            pin_timer: slint::Timer::default(),
            manager: RefCell::new(manager_adapter::ManagerState::new(config)),
            manager_idle: slint::Timer::default(),
            leave_kiosk: RefCell::new(None),
            options,
        });
        LIVE.with(|live| live.borrow_mut().insert(shared.id, Rc::downgrade(&shared)));
        let api = app.global::<Api>();
        api.set_kiosk(shared.options.kiosk);
        api.set_merchant_name(config.merchant.name.as_str().into());
        api.set_store_name(config.store.name.as_str().into());
        api.set_sandbox(config.is_sandbox());
        api.set_currency_code(shared.currency.code().into());
        api.set_entry_decimals(shared.currency.exponent() > 0);
        api.set_page(shared.home());
        cashier_adapter::wire(&shared, &api);
        payment_adapter::wire(&shared, &api);
        status_adapter::wire(&shared, &api);
        language::wire(&shared, &api);
        manager_adapter::wire(&shared, &app.global::<Manager>());
        language::apply(&shared, shared.options.locale);
        Controller { shared }
    }

    /// Hands the started engine to the GUI: charging becomes possible and engine events
    /// start flowing to the screens. Call on the UI thread.
    pub fn connect(&self, terminal: Arc<Terminal>, runtime: tokio::runtime::Handle) {
        connect(&self.shared, terminal, runtime);
    }

    /// Puts a payment that [`Terminal::start_background_work`] recovered back on the
    /// customer screen. Call on the UI thread, after [`Controller::connect`].
    pub fn show_recovered(&self, record: PaymentRecord) {
        payment_adapter::show_recovered(&self.shared, record);
    }

    /// Shows why the engine could not start (charging stays off).
    pub fn startup_failed(&self, message: &str) {
        self.shared
            .set_notice(Notice::StartupFailed, message.to_string());
    }

    /// What "Leave kiosk mode" on the manager screen does instead of closing the window.
    pub fn on_leave_kiosk(&self, handler: impl Fn() + 'static) {
        *self.shared.leave_kiosk.borrow_mut() = Some(Rc::new(handler));
    }
}

/// What start-up does with an order code a crash left on screen: a cashier takes it back
/// (the customer may be scanning it); a kiosk's customer has walked away, so it is
/// cancelled.
pub fn recovery_for(options: &GuiOptions) -> Recovery {
    if options.kiosk {
        Recovery::CancelUnwatched
    } else {
        Recovery::ShowOnScreen
    }
}

/// Starts the GUI and runs it until the window closes.
///
/// The window opens first (so a missing display fails fast, before anything starts); the
/// engine (journal, sandbox, receiver) then starts on the runtime and is handed over.
pub fn run(options: GuiOptions, config_path: Option<&Path>) -> Result<(), GuiError> {
    let config = Config::discover(config_path)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("alipay-pos-engine")
        .build()
        .map_err(|e| GuiError::Runtime(e.to_string()))?;
    let app = App::new().map_err(GuiError::from_platform)?;
    // Matches packaging/alipay-pos.desktop, so docks and window managers group the window
    // with its launcher and icon.
    if let Err(error) = slint::set_xdg_app_id("alipay-pos") {
        tracing::debug!(%error, "no application id for the window");
    }
    // A counter terminal runs unattended, so its log goes to a rotating file under data_dir
    // (nobody reads its stderr); the guard flushes the file when the window closes.
    let _log_guard = match crate::logging::init_file(&config.storage.data_dir) {
        Ok(guard) => Some(guard),
        Err(error) => {
            crate::logging::init_stderr(false);
            tracing::warn!(%error, "logging to stderr instead of the log file");
            None
        }
    };
    let kiosk = options.kiosk;
    if kiosk || options.fullscreen {
        app.window().set_fullscreen(true);
    }
    if kiosk {
        // No in-app quit: closing needs the manager's PIN ("Leave kiosk mode").
        app.window()
            .on_close_requested(|| slint::CloseRequestResponse::KeepWindowShown);
    }
    let recovery = recovery_for(&options);
    let controller = Controller::attach(&app, options, &config);
    let gui_id = controller.shared.id;
    runtime.spawn(async move {
        let started = match Terminal::start(config, Policy::default()).await {
            Ok(terminal) => match terminal.start_background_work(recovery).await {
                Ok(resumed) => Ok((terminal, resumed)),
                Err(error) => Err(error.to_string()),
            },
            Err(error) => Err(error.to_string()),
        };
        let handle = tokio::runtime::Handle::current();
        match started {
            Ok((terminal, resumed)) => {
                let terminal = Arc::new(terminal);
                post(gui_id, move |shared| {
                    connect(shared, terminal, handle);
                    if let Some(record) = resumed {
                        payment_adapter::show_recovered(shared, record);
                    }
                });
            }
            Err(message) => {
                tracing::error!(%message, "the terminal could not start");
                post(gui_id, move |shared| {
                    shared.set_notice(Notice::StartupFailed, message);
                });
            }
        }
    });
    let result = app.run().map_err(GuiError::from_platform);
    drop(controller);
    drop(app);
    // Payments in flight are journaled; whatever is left open is settled by the resolver
    // on the next start.
    runtime.shutdown_timeout(Duration::from_secs(3));
    result
}

/// See [`Controller::connect`].
fn connect(shared: &Rc<Shared>, terminal: Arc<Terminal>, runtime: tokio::runtime::Handle) {
    let http = match reqwest::Client::builder()
        .timeout(Duration::from_secs(15))
        .build()
    {
        Ok(client) => Some(client),
        Err(error) => {
            tracing::error!(%error, "no HTTP client for the demo customer");
            None
        }
    };
    let engine = Engine {
        terminal,
        runtime,
        http,
    };
    *shared.engine.borrow_mut() = Some(engine.clone());
    status_adapter::connected(shared, &engine);
    manager_adapter::connected(shared, &engine);
    payment_adapter::listen(shared, &engine);
}
