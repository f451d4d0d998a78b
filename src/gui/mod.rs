//! The terminal's touch GUI: Slint screens in `ui/*.slint`, wired to the payment engine.
//!
//! `ui/api.slint` exports one global, `Api`, which is the whole contract (the PIN and
//! manager screens have `Manager`, in ui/manager_api.slint): Rust sets its properties and
//! answers its callbacks; the screens never decide anything about money or payments.
//!
//! The shape is Slint's todo-mvc: plain-Rust [`controllers`] own each screen's state and
//! logic and reach the engine through [`engine_handle::EngineHandle`]; the adapters only
//! wire, each for one part of the globals:
//! - [`cashier_adapter`]: keypad and keyboard, quick items, the kiosk order, description;
//! - [`payment_adapter`]: Charge, the QR screen, Cancel, the demo customer, results;
//! - [`status_adapter`]: online/offline, the store hub's link, unresolved payments, the
//!   sandbox banner;
//! - [`language`]: English / Simplified Chinese at run time;
//! - [`kiosk`]: the idle reset and the automatic return after a result;
//! - [`pin_adapter`]: the manager PIN, checked off the UI thread, with the lockout;
//! - [`manager_adapter`]: transactions, refunds, unresolved payments, totals,
//!   reconciliation, settings (records to rows in [`manager_rows`]).
//!
//! No adapter calls another: an effect on another screen goes through a controller (the
//! [`controllers::navigation`] controller is the only one that changes the page) or
//! through the few cross-screen steps on [`Shared`] (Charge, New sale, the manager's
//! shortcut), which call controllers only.
//!
//! Threads: the Slint event loop owns the UI thread. The engine runs on a tokio runtime on
//! other threads; every engine call is spawned there and its answer comes back to the UI
//! thread (see [`engine_handle`]), so the UI thread never waits on the network or the disk.

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
mod receipt_printer;
mod registration_adapter;
pub mod result_screen;
mod screen_fill;
pub mod screenshots;
mod service;
mod status_adapter;

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::path::Path;
use std::rc::{Rc, Weak};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use slint::ComponentHandle;

use crate::admin::PinGuard;
use crate::checkout::{Policy, Recovery};
use crate::config::Config;
use crate::journal::PaymentRecord;
use crate::locale::Locale;
use crate::service_manager::{self, ServiceManager};
use crate::terminal::Terminal;

use controllers::EngineSlot;
use controllers::hub_status::HubStatus;
use controllers::manager::Manager as ManagerScreen;
use controllers::navigation::{Navigation, PageChange, Screen};
use controllers::payment_screen::{PaymentNews, PaymentScreen};
use controllers::pin::Pin;
use controllers::printing::Printing;
use controllers::sale::{Sale, SaleNotice};
use controllers::scan_input::ScanInput;
use engine_handle::{EngineEvent, EngineHandle, TerminalHandle};

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

/// The GUI's Rust side, owned by the UI thread: the controllers, and what only the
/// adapters need (timers, the window).
pub(crate) struct Shared {
    /// Key in [`LIVE`], so closures coming back from other threads find this again.
    id: u64,
    app: slint::Weak<App>,
    options: GuiOptions,
    config: Config,
    locale: Cell<Locale>,
    engine: EngineSlot,
    nav: Navigation,
    sale: Sale,
    payment: PaymentScreen,
    /// Print on the paid result (automatic in a kiosk).
    receipt: Printing,
    pin: Pin,
    manager: ManagerScreen,
    /// The status bar's store-hub indicator.
    hub_status: HubStatus,
    /// Ticks the QR countdown and the kiosk's return countdown.
    ticker: slint::Timer,
    /// Kiosk idle reset.
    idle: slint::Timer,
    /// Kiosk: when the result screen returns to the start by itself.
    back_at: Cell<Option<Instant>>,
    /// Counts the PIN lockout down.
    pin_timer: slint::Timer,
    /// Locks the manager screen when left untouched.
    manager_idle: slint::Timer,
    /// What the manager screen's adapter remembers between pushes.
    manager_marks: RefCell<manager_adapter::ManagerMarks>,
    /// The order code whose QR image is on screen (drawn again only when it changes).
    qr_code: RefCell<Option<String>>,
    /// The keyboard between the keys and the page: tells a scanner's burst from typing.
    scan_input: ScanInput,
    /// Releases held keys once they can no longer be a scan.
    scan_timer: slint::Timer,
    /// The clock the scan detector measures key gaps on.
    started: Instant,
    /// The evdev scanner grabbed for this GUI (`[scanner] device`), while it works.
    grabbed_scanner: RefCell<Option<crate::scanner::GrabbedScanner>>,
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
fn post(id: u64, f: impl FnOnce(&Rc<Shared>) + Send + 'static) {
    let queued = slint::invoke_from_event_loop(move || with_live(id, f));
    if let Err(error) = queued {
        // The event loop has ended: the window is closing, nothing left to update.
        tracing::debug!(%error, "GUI update dropped");
    }
}

/// Runs `f` with the GUI `id` now (on the UI thread), if it still exists.
fn with_live(id: u64, f: impl FnOnce(&Rc<Shared>)) {
    let shared = LIVE.with(|live| live.borrow().get(&id).and_then(Weak::upgrade));
    if let Some(shared) = shared {
        f(&shared);
    }
}

impl Shared {
    pub(crate) fn app(&self) -> Option<App> {
        self.app.upgrade()
    }

    /// Something was touched or typed (a kiosk's idle countdown starts again).
    fn activity(self: &Rc<Self>) {
        kiosk::activity(self);
    }

    /// Something was touched on the PIN or manager screen: the idle lock starts again.
    fn manager_touched(self: &Rc<Self>) {
        // A kiosk's own idle reset also ends a manager's visit (see kiosk.rs).
        self.activity();
        let nav = self.nav.clone();
        self.manager_idle.start(
            slint::TimerMode::SingleShot,
            manager_adapter::MANAGER_IDLE_LOCK,
            move || {
                if nav.page().is_manager() {
                    tracing::info!("manager screen locked after being left idle");
                    nav.go_home();
                }
            },
        );
    }

    /// Charge: the sale becomes a payment.
    fn charge(self: &Rc<Self>) {
        if self.payment.in_progress() || self.payment.has_payment() {
            return;
        }
        // Charge while typing the customer's code uses the code, as Enter does.
        if let Some(digits) = self.sale.finish_typing_code() {
            self.scanned(&digits);
            return;
        }
        if let Some(request) = self.sale.charge_request(self.locale.get()) {
            self.payment.charge(request);
        }
    }

    /// A customer's payment code from the scanner (keyboard wedge or evdev) or typed by hand:
    /// a User-presented charge when a sale is open for it.
    fn scanned(self: &Rc<Self>, code: &str) {
        self.activity();
        let page = self.nav.page();
        let open_sale = matches!(page, Screen::Cashier | Screen::Kiosk | Screen::KioskScan)
            && !self.payment.in_progress()
            && !self.payment.has_payment();
        if !open_sale {
            tracing::info!(?page, "a scan was ignored: no sale is open for it");
            return;
        }
        if let Some(request) = self.sale.scanned(code, self.locale.get()) {
            self.payment.charge(request);
        }
    }

    /// The scanner cannot be used: said on screen (in the cashier's language) and logged.
    fn scanner_problem(&self, error: &crate::scanner::ScannerError) {
        tracing::warn!(%error, "the barcode scanner cannot be used");
        self.grabbed_scanner.borrow_mut().take();
        self.sale.set_notice(
            SaleNotice::ScannerProblem,
            &error.message(self.locale.get()),
        );
    }

    /// New sale: back to an empty keypad (or an empty kiosk order), when the payment on
    /// screen has ended.
    fn new_sale(&self) {
        self.payment.new_sale();
    }

    /// The hidden gesture or Ctrl+Alt+M: the PIN screen, unless a payment is under way
    /// (the customer's QR code must not disappear behind it).
    fn open_admin(self: &Rc<Self>) {
        if self.payment.in_progress() {
            tracing::info!("manager screen not opened: a payment is on screen");
            return;
        }
        if self.payment.has_payment() {
            // A finished sale is done with; the next sale starts fresh after the manager.
            self.new_sale();
        }
        if self.nav.page().is_manager() {
            return;
        }
        self.pin.open();
        self.manager_touched();
    }

    /// Switches every screen to `locale`.
    fn set_locale(&self, locale: Locale) {
        // The bundled translation is named after its folder, `zh_CN`; English is the source.
        if let Err(error) = slint::select_bundled_translation(locale.code()) {
            tracing::warn!(%error, language = locale.code(), "cannot switch the language");
            return;
        }
        self.locale.set(locale);
        if let Some(app) = self.app() {
            app.global::<Api>().set_language(locale.code().into());
        }
        self.push_all();
    }

    /// Pushes every formatted value again (after a language switch, or at start-up).
    fn push_all(&self) {
        cashier_adapter::push_catalog(self);
        cashier_adapter::push(self);
        payment_adapter::push(self);
        manager_adapter::push(self);
        pin_adapter::push(self);
    }

    /// A change of page: the page on screen, the kiosk's countdowns, the manager's lock.
    fn page_changed(self: &Rc<Self>, change: &PageChange) {
        if let Some(app) = self.app() {
            app.global::<Api>().set_page(page_of(change.to));
        }
        self.manager.page_changed(change);
        if change.left_manager() {
            self.manager_idle.stop();
            self.pin_timer.stop();
        }
        kiosk::page_changed(self, change.to);
    }

    /// What the payment screen tells the others.
    fn payment_news(self: &Rc<Self>, news: &PaymentNews) {
        match news {
            PaymentNews::NotReady => self.sale.set_notice(SaleNotice::NotReady, ""),
            PaymentNews::ChargeFailed(message) => {
                self.sale.set_notice(SaleNotice::ChargeFailed, message)
            }
            PaymentNews::CodeUsed => self.sale.set_notice(SaleNotice::CodeUsed, ""),
            PaymentNews::Finished => {
                self.back_at.set(None);
                self.sale.reset();
                if self.options.kiosk {
                    // The next customer starts in the kiosk's own language.
                    self.set_locale(self.options.locale);
                }
                self.nav.go_home();
                if let Some(app) = self.app() {
                    app.invoke_focus_keys();
                }
            }
        }
    }

    /// An event from the engine, for every screen that follows it.
    fn engine_event(self: &Rc<Self>, event: &EngineEvent) {
        match event {
            EngineEvent::Connectivity { online } => status_adapter::set_online(self, *online),
            EngineEvent::PaymentChanged { .. } | EngineEvent::Resync => {
                status_adapter::refresh_unresolved(self)
            }
            EngineEvent::CodeReady { .. }
            | EngineEvent::RefundChanged
            | EngineEvent::RegistrationChanged => {}
        }
        self.payment.on_event(event);
        self.manager.on_event(event);
    }
}

/// A print's state as the screens show it: the status and its detail (the file written, or
/// a fault's technical words).
fn print_status_view(status: &controllers::printing::PrintStatus) -> (PrintStatus, String) {
    use crate::receipt::PrintFault;
    use controllers::printing::PrintStatus as Status;
    match status {
        Status::Idle => (PrintStatus::Idle, String::new()),
        Status::Printing => (PrintStatus::Printing, String::new()),
        Status::Printed => (PrintStatus::Printed, String::new()),
        Status::Saved(file) => (PrintStatus::Saved, file.clone()),
        Status::Failed(PrintFault::Offline(detail)) => (PrintStatus::Offline, detail.clone()),
        Status::Failed(PrintFault::PaperOut) => (PrintStatus::PaperOut, String::new()),
        Status::Failed(PrintFault::CoverOpen) => (PrintStatus::CoverOpen, String::new()),
        Status::Failed(PrintFault::PrinterError) => (PrintStatus::PrinterError, String::new()),
        Status::Failed(PrintFault::Preview(detail)) => (PrintStatus::PreviewFailed, detail.clone()),
        Status::NoReceipt(words) => (PrintStatus::NoReceipt, words.clone()),
    }
}

/// Whole seconds the order code on screen has left (the QR page's countdown).
fn code_seconds_left(expires_at: Option<time::OffsetDateTime>) -> i32 {
    let left =
        controllers::payment_screen::seconds_left(expires_at, time::OffsetDateTime::now_utc());
    i32::try_from(left).unwrap_or(i32::MAX)
}

/// The Slint page of a screen.
fn page_of(screen: Screen) -> Page {
    match screen {
        Screen::Cashier => Page::Cashier,
        Screen::Kiosk => Page::Kiosk,
        Screen::CustomerQr => Page::CustomerQr,
        Screen::Confirming => Page::Confirming,
        Screen::KioskScan => Page::KioskScan,
        Screen::Result => Page::Result,
        Screen::Pin => Page::Pin,
        Screen::Manager => Page::Manager,
    }
}

/// A GUI attached to one `App` window. Dropping it detaches the adapters.
pub struct Controller {
    shared: Rc<Shared>,
}

impl Drop for Controller {
    fn drop(&mut self) {
        LIVE.with(|live| live.borrow_mut().remove(&self.shared.id));
        // The terminal (and the lock on its data folder) must not outlive the GUI, even if
        // an answer still on its way holds a controller for a moment.
        self.shared.engine.clear();
    }
}

impl Controller {
    /// Wires `app`'s callbacks and shows the configured merchant, currency and catalog.
    /// Charging stays off until [`Controller::connect`] hands over the engine.
    pub fn attach(app: &App, options: GuiOptions, config: &Config) -> Controller {
        let engine = EngineSlot::default();
        let nav = Navigation::new(options.kiosk);
        let currency = config.payment.currency;
        let pin = Pin::new(
            PinGuard::from_config(&config.admin, &config.storage.data_dir),
            nav.clone(),
            pin_adapter::verifier(),
            Rc::new(std::time::SystemTime::now),
        );
        let shared = Rc::new(Shared {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            app: app.as_weak(),
            config: config.clone(),
            locale: Cell::new(options.locale),
            sale: Sale::new(options.kiosk, currency, config.catalog.clone()),
            payment: PaymentScreen::new(engine.clone(), nav.clone()),
            receipt: Printing::new(engine.clone()),
            pin,
            manager: ManagerScreen::new(
                engine.clone(),
                nav.clone(),
                currency,
                Rc::new(crate::local_time::today),
                Rc::new(crate::local_time::day_bounds),
            ),
            hub_status: HubStatus::default(),
            engine,
            nav,
            ticker: slint::Timer::default(),
            idle: slint::Timer::default(),
            back_at: Cell::new(None),
            pin_timer: slint::Timer::default(),
            manager_idle: slint::Timer::default(),
            manager_marks: RefCell::new(manager_adapter::ManagerMarks::default()),
            qr_code: RefCell::new(None),
            scan_input: ScanInput::new(crate::scanner::WedgeSettings::from(&config.scanner)),
            scan_timer: slint::Timer::default(),
            started: Instant::now(),
            grabbed_scanner: RefCell::new(None),
            leave_kiosk: RefCell::new(None),
            options,
        });
        LIVE.with(|live| live.borrow_mut().insert(shared.id, Rc::downgrade(&shared)));
        if let Some(printer) = &config.printer {
            let thread_printer: Rc<dyn controllers::printing::ReceiptPrinter> =
                Rc::new(receipt_printer::ThreadPrinter::new(printer.clone()));
            let header = crate::receipt::ReceiptHeader::from_config(config);
            for printing in [&shared.receipt, &shared.manager.receipts] {
                printing.set_printer(thread_printer.clone(), header.clone(), printer.language);
            }
        }
        let api = app.global::<Api>();
        api.set_kiosk(shared.options.kiosk);
        api.set_scan_offered(shared.options.kiosk && config.scanner.kiosk);
        api.set_merchant_name(config.merchant.name.as_str().into());
        api.set_store_name(config.store.name.as_str().into());
        api.set_sandbox(config.is_sandbox());
        api.set_currency_code(currency.code().into());
        api.set_entry_decimals(currency.exponent() > 0);
        api.set_page(page_of(shared.nav.page()));
        listen(&shared);
        cashier_adapter::wire(&shared, &api);
        payment_adapter::wire(&shared, &api);
        status_adapter::wire(&shared, &api);
        language::wire(&shared, &api);
        manager_adapter::wire(&shared, &app.global::<Manager>());
        shared.set_locale(shared.options.locale);
        Controller { shared }
    }

    /// Hands the started engine to the GUI: charging becomes possible and engine events
    /// start flowing to the screens. Call on the UI thread.
    pub fn connect(&self, terminal: Arc<Terminal>, runtime: tokio::runtime::Handle) {
        connect(&self.shared, terminal, runtime);
        grab_scanner(&self.shared);
    }

    /// Puts a payment that [`Terminal::start_background_work`] recovered back on the
    /// customer screen. Call on the UI thread, after [`Controller::connect`].
    pub fn show_recovered(&self, record: PaymentRecord) {
        self.shared.payment.show_recovered(record);
    }

    /// Shows why the engine could not start (charging stays off).
    pub fn startup_failed(&self, message: &str) {
        self.shared
            .sale
            .set_notice(SaleNotice::StartupFailed, message);
    }

    /// What "Leave kiosk mode" on the manager screen does instead of closing the window.
    pub fn on_leave_kiosk(&self, handler: impl Fn() + 'static) {
        *self.shared.leave_kiosk.borrow_mut() = Some(Rc::new(handler));
    }
}

/// `[scanner] device`: grabs the evdev scanner exclusively, so its keys never reach the
/// screens as typing; each code it reads arrives as a scan. A scanner that is missing or
/// cannot be read is a warning on screen and in the log (the cashier can still type the
/// code), never a reason not to take payments.
fn grab_scanner(shared: &Rc<Shared>) {
    let Some(path) = shared.config.scanner.device.clone() else {
        return;
    };
    let id = shared.id;
    let settings = crate::scanner::WedgeSettings::from(&shared.config.scanner);
    let grabbed = crate::scanner::grab(&path, &settings, move |event| {
        post(id, move |shared| match event {
            crate::scanner::ScannerEvent::Scanned(code) => shared.scanned(&code),
            crate::scanner::ScannerEvent::Lost(error) => shared.scanner_problem(&error),
        });
    });
    match grabbed {
        Ok(scanner) => {
            tracing::info!(device = %path.display(), "barcode scanner grabbed");
            *shared.grabbed_scanner.borrow_mut() = Some(scanner);
        }
        Err(error) => shared.scanner_problem(&error),
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
    // (nobody reads its stderr); the guard flushes the file when the window closes. As a
    // systemd service its stderr is the journal, which rotates and keeps the lines itself.
    let _log_guard = if crate::logging::stderr_is_the_journal() {
        crate::logging::init_journal();
        None
    } else {
        match crate::logging::init_file(&config.storage.data_dir) {
            Ok(guard) => Some(guard),
            Err(error) => {
                crate::logging::init_stderr(false);
                tracing::warn!(%error, "logging to stderr instead of the log file");
                None
            }
        }
    };
    let service = ServiceManager::from_env();
    service.status(service_manager::texts::STARTING);
    if let Some(warning) = service.misplaced_data_dir(&config.storage.data_dir) {
        tracing::warn!("{warning}");
        service.status(&warning);
    }
    // Petted by the event loop: a frozen UI stops it, and systemd restarts the terminal.
    let _watchdog = service::pet_from_event_loop(&service);
    let kiosk = options.kiosk;
    if kiosk || options.fullscreen {
        app.window().set_fullscreen(true);
        // Without a window manager the request above is not honoured.
        screen_fill::cover_the_monitor(&app);
    }
    if kiosk {
        // No in-app quit: closing needs the manager's PIN ("Leave kiosk mode").
        app.window()
            .on_close_requested(|| slint::CloseRequestResponse::KeepWindowShown);
    }
    let recovery = recovery_for(&options);
    let controller = Controller::attach(&app, options, &config);
    let gui_id = controller.shared.id;
    let gateway = config.alipay.gateway.name();
    let ready = service.clone();
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
                        shared.payment.show_recovered(record);
                    }
                    // Only now can the terminal take payments: systemd's start-up is over.
                    ready.ready(&service_manager::texts::ready(&gateway));
                });
            }
            Err(message) => {
                tracing::error!(%message, "the terminal could not start");
                // No READY=1: the screen shows why, and TimeoutStartSec= restarts the
                // service (a journal another process held may be free by then).
                ready.status(&service_manager::texts::start_failed(&message));
                post(gui_id, move |shared| {
                    shared.sale.set_notice(SaleNotice::StartupFailed, &message);
                });
            }
        }
    });
    let result = app.run().map_err(GuiError::from_platform);
    service.stopping();
    drop(controller);
    drop(app);
    // Payments in flight are journaled; whatever is left open is settled by the resolver
    // on the next start.
    runtime.shutdown_timeout(Duration::from_secs(3));
    result
}

/// Each controller's changes go to its adapter; news crosses to the controllers that
/// care. Set up once, when the GUI is attached.
fn listen(shared: &Rc<Shared>) {
    let weak = Rc::downgrade(shared);
    shared.nav.on_change(move |change| {
        if let Some(shared) = weak.upgrade() {
            shared.page_changed(change);
        }
    });
    macro_rules! push_on_change {
        ($controller:expr, $push:path) => {{
            let weak = Rc::downgrade(shared);
            $controller.on_change(move || {
                if let Some(shared) = weak.upgrade() {
                    $push(&shared);
                }
            });
        }};
    }
    push_on_change!(shared.sale, cashier_adapter::push);
    push_on_change!(shared.payment, payment_adapter::push);
    push_on_change!(shared.receipt, payment_adapter::push);
    push_on_change!(shared.manager.receipts, manager_adapter::push);
    // A kiosk prints a paid sale's receipt by itself; a new sale forgets the last print.
    let weak = Rc::downgrade(shared);
    shared.payment.on_change(move || {
        if let Some(shared) = weak.upgrade() {
            let shown = shared.payment.shown();
            shared.receipt.follow_payment(
                shown.as_ref(),
                shared.options.kiosk,
                shared.locale.get(),
            );
        }
    });
    // The Charge button shows whether a charge is on its way.
    push_on_change!(shared.payment, cashier_adapter::push);
    push_on_change!(shared.pin, pin_adapter::push);
    push_on_change!(shared.manager, manager_adapter::push);
    push_on_change!(shared.manager.transactions, manager_adapter::push);
    push_on_change!(shared.manager.store, manager_adapter::push);
    push_on_change!(shared.manager.refund, manager_adapter::push);
    push_on_change!(shared.manager.settle, manager_adapter::push);
    push_on_change!(shared.manager.totals, manager_adapter::push);
    push_on_change!(shared.manager.day_close, manager_adapter::push);
    push_on_change!(shared.manager.reconciliation, manager_adapter::push);
    push_on_change!(shared.manager.registration, manager_adapter::push);
    let weak = Rc::downgrade(shared);
    shared.payment.on_news(move |news| {
        if let Some(shared) = weak.upgrade() {
            shared.payment_news(news);
        }
    });
    let weak = Rc::downgrade(shared);
    shared.pin.on_opened(move |approval| {
        if let Some(shared) = weak.upgrade() {
            shared.manager.open(approval.clone());
            shared.manager_touched();
        }
    });
    let weak = Rc::downgrade(shared);
    shared.manager.on_news(move |_| {
        if let Some(shared) = weak.upgrade() {
            status_adapter::refresh_unresolved(&shared);
        }
    });
}

/// See [`Controller::connect`].
fn connect(shared: &Rc<Shared>, terminal: Arc<Terminal>, runtime: tokio::runtime::Handle) {
    let handle: Rc<dyn EngineHandle> = Rc::new(TerminalHandle::new(terminal, runtime));
    shared.engine.set(handle.clone());
    let weak = Rc::downgrade(shared);
    handle.subscribe(Box::new(move |event| {
        if let Some(shared) = weak.upgrade() {
            shared.engine_event(&event);
        }
    }));
    let weak = Rc::downgrade(shared);
    handle.follow_hub_link(Box::new(move |state| {
        if let Some(shared) = weak.upgrade() {
            shared.hub_status.link_changed(state.as_ref());
        }
    }));
    status_adapter::connected(shared, handle.as_ref());
    manager_adapter::connected(shared, handle.as_ref());
    warn_if_not_registered(shared, handle.as_ref());
}

/// The mode check: with a real gateway, a store no wallet has approved may have its
/// payments refused, so the cashier is told once, at start (the sandbox takes payments
/// whatever the registration says, so it says nothing there).
fn warn_if_not_registered(shared: &Rc<Shared>, engine: &dyn EngineHandle) {
    if engine.facts().sandbox {
        return;
    }
    let weak = Rc::downgrade(shared);
    engine.registration(Box::new(move |answer| {
        let Some(shared) = weak.upgrade() else { return };
        let approved = match answer {
            Ok(record) => record.is_some_and(|r| r.any_wallet_approved()),
            Err(error) => {
                tracing::warn!(%error, "cannot read the registration for the start-up check");
                return;
            }
        };
        if !approved {
            tracing::warn!(
                "no wallet has approved this store's registration; run `alipay-pos merchant status` (or `merchant register`)"
            );
            shared.sale.set_notice(SaleNotice::NotRegistered, "");
        }
    }));
}
