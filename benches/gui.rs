//! The GUI's figures for the README (`cargo bench --features test-support --bench gui`):
//! - Charge → QR on screen: from the Charge callback (amount typed) until the customer QR
//!   page shows the new payment's code and a frame of it has been rendered;
//! - scan → Paid on screen (User-presented): from the scanner's last key (Enter, delivered
//!   to the window as a keyboard-wedge scanner types it) until the result page says Paid and
//!   a frame of it has been rendered; beside it the engine's own `start_payment` for the
//!   same kind of payment (the network round trip: sign, HTTP, sandbox, verify, journal),
//!   and from the last key to the sandbox recording the `pay` request;
//! - cold start: from spawning a fresh process until the cashier page is shown with the
//!   engine connected and its first frame rendered;
//! - resident memory of that process idle on the cashier page and while showing a QR code;
//! - the size of the release binary, as built and stripped.
//!
//! All of it runs the real GUI code (`alipay_pos::gui`) and the real engine on the embedded
//! sandbox, headless, with Slint's *software* renderer, so a "frame" is 1024×768 pixels
//! drawn by the CPU (see [`headless`]). The real window uses
//! winit with femtovg (OpenGL), so its frame cost and memory differ (GL driver, glyph
//! atlases); these figures are for the GUI code, engine and renderer-independent work.
//!
//! A plain binary rather than criterion: the figures are distributions, process start-up and
//! process-level memory, which criterion's per-iteration timing does not report. The cold
//! start and memory figures come from child processes: this binary runs itself again with
//! [`CHILD_ENV`] set to the data folder to use.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::rc::Rc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use alipay_pos::checkout::{Policy, Recovery};
use alipay_pos::config::Config;
use alipay_pos::gui::{Api, App, Controller, GuiOptions, Page, ResultKind, screenshots};
use alipay_pos::terminal::Terminal;
use slint::ComponentHandle;

/// Set in a child process to the data folder it runs in; its stdout then carries the
/// `ready`, `rss-idle`, `rss-qr` and `rss-peak` lines the parent reads.
const CHILD_ENV: &str = "ALIPAY_POS_GUI_BENCH_CHILD";
/// Measured Charge → QR rounds (after [`WARMUP_ROUNDS`] that are not counted).
const ROUNDS: usize = 120;
const WARMUP_ROUNDS: usize = 3;
/// Measured cold starts (after one not counted, which creates the journal and ledger).
const COLD_STARTS: usize = 10;
/// The window size of the README's screenshots.
const WIDTH: u32 = 1024;
const HEIGHT: u32 = 768;
/// Bounds a hang; never what is measured.
const DEADLINE: Duration = Duration::from_secs(60);
/// How long the child sits on the cashier page before its idle memory is read, so the
/// start-up work (recovery, the first resolver pass, the first frame) has settled.
const IDLE_BEFORE_RSS: Duration = Duration::from_secs(2);

/// A headless Slint platform: one window drawn into memory by Slint's software renderer
/// (a `MinimalSoftwareWindow`, as `alipay-pos screenshots` uses), and an event loop that is
/// a copy of Slint's testing backend's plus one thing: after every event it checks the
/// conditions the bench is waiting for (see [`wait_for`]). A wait then ends on the very
/// event that made its condition true, not on the next tick of a polling timer, which
/// would add up to the polling period to every sample.
///
/// Not `i_slint_backend_testing` itself: its windows only draw real pixels with its
/// `renderer-software` feature, which this crate's dev-dependency does not enable.
mod headless {
    use super::*;
    use slint::platform::software_renderer::{MinimalSoftwareWindow, RepaintBufferType};
    use slint::platform::{EventLoopProxy, Platform, WindowAdapter};
    use slint::{EventLoopError, PlatformError, Rgb8Pixel};

    enum Event {
        Quit,
        Run(Box<dyn FnOnce() + Send>),
    }

    struct Queue {
        events: Mutex<VecDeque<Event>>,
        /// The UI thread, woken when an event arrives.
        thread: std::thread::Thread,
    }

    impl Queue {
        fn push(&self, event: Event) {
            self.events.lock().expect("queue").push_back(event);
            self.thread.unpark();
        }
    }

    struct Proxy(Arc<Queue>);

    impl EventLoopProxy for Proxy {
        fn quit_event_loop(&self) -> Result<(), EventLoopError> {
            self.0.push(Event::Quit);
            Ok(())
        }

        fn invoke_from_event_loop(
            &self,
            event: Box<dyn FnOnce() + Send>,
        ) -> Result<(), EventLoopError> {
            self.0.push(Event::Run(event));
            Ok(())
        }
    }

    /// The window and the frame buffer it is drawn into (kept, as a display's is).
    struct Screen {
        window: Rc<MinimalSoftwareWindow>,
        pixels: RefCell<Vec<Rgb8Pixel>>,
    }

    thread_local! {
        static SCREEN: RefCell<Option<Rc<Screen>>> = const { RefCell::new(None) };
    }

    struct BenchPlatform {
        queue: Arc<Queue>,
    }

    impl Platform for BenchPlatform {
        fn create_window_adapter(&self) -> Result<Rc<dyn WindowAdapter>, PlatformError> {
            let window = MinimalSoftwareWindow::new(RepaintBufferType::NewBuffer);
            let pixels = vec![Rgb8Pixel::new(0, 0, 0); (WIDTH * HEIGHT) as usize];
            SCREEN.with(|screen| {
                *screen.borrow_mut() = Some(Rc::new(Screen {
                    window: window.clone(),
                    pixels: RefCell::new(pixels),
                }))
            });
            Ok(window)
        }

        fn run_event_loop(&self) -> Result<(), PlatformError> {
            loop {
                slint::platform::update_timers_and_animations();
                let next = self.queue.events.lock().expect("queue").pop_front();
                match next {
                    Some(Event::Quit) => return Ok(()),
                    Some(Event::Run(event)) => event(),
                    None => match slint::platform::duration_until_next_timer_update() {
                        Some(timeout) => std::thread::park_timeout(timeout),
                        None => std::thread::park(),
                    },
                }
                super::check_waits();
            }
        }

        fn new_event_loop_proxy(&self) -> Option<Box<dyn EventLoopProxy>> {
            Some(Box::new(Proxy(self.queue.clone())))
        }
    }

    /// Installs the platform; call once, on the thread that will run the event loop.
    pub fn init() {
        let queue = Arc::new(Queue {
            events: Mutex::new(VecDeque::new()),
            thread: std::thread::current(),
        });
        slint::platform::set_platform(Box::new(BenchPlatform { queue }))
            .expect("the platform is set once");
    }

    /// Draws one whole frame of the window (every pixel, `RepaintBufferType::NewBuffer`)
    /// with the software renderer, as a display would need it; returns how long it took.
    pub fn render_frame() -> Duration {
        let screen = SCREEN
            .with(|screen| screen.borrow().clone())
            .expect("a window exists");
        let started = Instant::now();
        screen.window.request_redraw();
        let drawn = screen.window.draw_if_needed(|renderer| {
            renderer.render(&mut screen.pixels.borrow_mut()[..], WIDTH as usize);
        });
        assert!(drawn, "a frame was drawn");
        started.elapsed()
    }
}

/// A condition the bench waits for, checked after every event on the UI thread.
struct Wait {
    what: &'static str,
    deadline: Instant,
    condition: Box<dyn Fn() -> bool>,
    done: tokio::sync::oneshot::Sender<()>,
}

thread_local! {
    static WAITS: RefCell<Vec<Wait>> = const { RefCell::new(Vec::new()) };
}

fn check_waits() {
    let waits = WAITS.with(|w| std::mem::take(&mut *w.borrow_mut()));
    let mut pending = Vec::new();
    for wait in waits {
        if (wait.condition)() {
            let _ = wait.done.send(());
        } else {
            assert!(
                Instant::now() < wait.deadline,
                "timed out after {DEADLINE:?} waiting for {}",
                wait.what
            );
            pending.push(wait);
        }
    }
    WAITS.with(|w| w.borrow_mut().extend(pending));
}

/// Resolves on the first UI-thread event after which `condition` holds (at once if it
/// holds already); panics naming `what` after [`DEADLINE`].
async fn wait_for(what: &'static str, condition: impl Fn() -> bool + 'static) {
    if condition() {
        return;
    }
    let (done, finished) = tokio::sync::oneshot::channel();
    WAITS.with(|w| {
        w.borrow_mut().push(Wait {
            what,
            deadline: Instant::now() + DEADLINE,
            condition: Box::new(condition),
            done,
        })
    });
    // Wakes the loop at the deadline, so a wait that nothing else wakes still fails.
    slint::Timer::single_shot(DEADLINE + Duration::from_millis(10), || {});
    finished.await.expect("the wait was dropped");
}

/// Waits `duration` on the Slint event loop (the UI keeps running).
async fn pause(duration: Duration) {
    let (done, finished) = tokio::sync::oneshot::channel::<()>();
    slint::Timer::single_shot(duration, move || {
        let _ = done.send(());
    });
    let _ = finished.await;
}

/// The demo configuration on the embedded sandbox with its data in `data_dir` (the demo
/// catalog, as the README's screenshots show). With `seed_keys`, the fixture key pairs are
/// put where the sandbox looks for them, as an installed terminal has its keys from its
/// first start; without, the sandbox generates its two RSA key pairs.
fn bench_config(data_dir: &Path, seed_keys: bool) -> Config {
    if seed_keys {
        alipay_pos::testing::seed_sandbox_keys(data_dir);
    }
    let mut config = Config::defaults();
    config.storage.data_dir = data_dir.to_path_buf();
    config.catalog = screenshots::demo_catalog(config.payment.currency);
    config
}

/// The engine's runtime, built as `gui::run` builds it (one worker per core).
fn engine_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("alipay-pos-engine")
        .build()
        .expect("runtime")
}

/// Types `text` on the amount entry, key by key, as the keypad does.
fn type_amount(api: &Api<'_>, text: &str) {
    for key in text.chars() {
        assert!(api.invoke_key(key.to_string().into()), "key {key:?}");
    }
}

/// Charge with the amount typed; resolves once the QR page shows this payment's code and
/// a frame of it has been rendered. Returns (Charge → on screen, the frame's render time).
async fn charge_until_qr_shown(app: &App) -> (Duration, Duration) {
    let api = app.global::<Api>();
    let amount = api.get_charge_amount();
    assert!(!amount.is_empty(), "an amount was typed");
    let started = Instant::now();
    api.invoke_charge();
    let ui = app.as_weak();
    wait_for("the QR page with the new code", move || {
        let app = ui.unwrap();
        let api = app.global::<Api>();
        api.get_page() == Page::CustomerQr
            && api.get_qr_code().size().width > 0
            && api.get_qr_amount() == amount
    })
    .await;
    let render = headless::render_frame();
    (started.elapsed(), render)
}

/// Cancel on the QR page, wait for the "cancelled" result, and start a new sale.
async fn cancel_and_start_over(app: &App) {
    let api = app.global::<Api>();
    api.invoke_cancel_payment();
    let ui = app.as_weak();
    wait_for("the cancelled result", move || {
        let app = ui.unwrap();
        let api = app.global::<Api>();
        api.get_page() == Page::Result && api.get_result_kind() == ResultKind::Cancelled
    })
    .await;
    api.invoke_new_sale();
    assert_eq!(api.get_page(), Page::Cashier);
    assert_eq!(api.get_entry_text(), "0");
}

/// The amount of round `i`: USD 10.00, 10.01, …; never one of the sandbox's magic amounts
/// (99.01–99.06), and different each round so the QR page's amount names the new payment.
fn round_amount(i: usize) -> String {
    format!("{}.{:02}", 10 + i / 100, i % 100)
}

/// This process's resident set (`VmRSS`) or peak resident set (`VmHWM`) in KiB.
fn memory_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .expect("/proc/self/status")
        .lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("memory field")
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

fn bytes_mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

struct ChargeFigures {
    first: Duration,
    samples: Vec<Duration>,
    renders: Vec<Duration>,
    scan: ScanFigures,
}

/// User-presented rounds: scan → Paid on screen, and the engine alone.
struct ScanFigures {
    to_paid: Vec<Duration>,
    /// From the last key to the engine's client sending the `pay`.
    to_wire: Vec<Duration>,
    engine_alone: Vec<Duration>,
}

/// A payment code the sandbox's customer pays at once (ending 0000), new every round (the
/// engine refuses a code that already paid).
fn round_code(i: usize) -> String {
    format!("28{:012}0000", 500_000 + i)
}

/// Dispatches `text` to the window key by key, as a keyboard-wedge scanner types it.
fn scanner_types(app: &App, text: &str) {
    use slint::platform::WindowEvent;
    for key in text.chars() {
        let text: slint::SharedString = key.to_string().into();
        app.window()
            .dispatch_event(WindowEvent::KeyPressed { text: text.clone() });
        app.window()
            .dispatch_event(WindowEvent::KeyReleased { text });
    }
}

/// When the engine's client hands each `pay` request to HTTP: a tracing layer that notes
/// the instant of every "AMS request sending" event for `pay` (the client logs it right
/// before the send).
mod wire {
    use std::sync::Mutex;
    use std::time::Instant;

    use tracing::field::{Field, Visit};
    use tracing_subscriber::Layer;
    use tracing_subscriber::layer::{Context, SubscriberExt};
    use tracing_subscriber::util::SubscriberInitExt;

    static PAY_SENT: Mutex<Vec<Instant>> = Mutex::new(Vec::new());

    struct PaySent;

    struct IsPay(bool, bool);

    impl Visit for IsPay {
        fn record_str(&mut self, field: &Field, value: &str) {
            if field.name() == "api" && value == "pay" {
                self.0 = true;
            }
        }
        fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
            if field.name() == "message" && format!("{value:?}") == "AMS request sending" {
                self.1 = true;
            }
        }
    }

    impl<S: tracing::Subscriber> Layer<S> for PaySent {
        fn on_event(&self, event: &tracing::Event<'_>, _: Context<'_, S>) {
            let at = Instant::now();
            let mut seen = IsPay(false, false);
            event.record(&mut seen);
            if seen.0 && seen.1 {
                PAY_SENT.lock().expect("pay times").push(at);
            }
        }
    }

    /// Installs the layer (only the client's events reach it).
    pub fn init() {
        let only_the_client = tracing_subscriber::filter::filter_fn(|meta| {
            meta.target() == "alipay_pos::ams::client"
        });
        tracing_subscriber::registry()
            .with(PaySent.with_filter(only_the_client))
            .init();
    }

    /// The first `pay` sent at or after `since`.
    pub fn pay_sent_after(since: Instant) -> Option<Instant> {
        PAY_SENT
            .lock()
            .expect("pay times")
            .iter()
            .copied()
            .find(|at| *at >= since)
    }
}

/// Scan rounds on the cashier page: type the amount, the scanner's burst, Enter; wait for
/// Paid on screen (and a frame of it), then New sale.
async fn scan_rounds(
    app: &App,
    terminal: &Arc<Terminal>,
    runtime: &tokio::runtime::Handle,
) -> ScanFigures {
    let mut to_paid = Vec::with_capacity(ROUNDS);
    let mut to_wire = Vec::with_capacity(ROUNDS);
    for i in 0..WARMUP_ROUNDS + ROUNDS {
        let api = app.global::<Api>();
        type_amount(&api, &round_amount(i));
        let code = round_code(i);
        scanner_types(app, &code);
        let started = Instant::now();
        scanner_types(app, "\n");
        let ui = app.as_weak();
        wait_for("Paid after the scan", move || {
            let app = ui.unwrap();
            let api = app.global::<Api>();
            api.get_page() == Page::Result && api.get_result_kind() == ResultKind::Paid
        })
        .await;
        headless::render_frame();
        let took = started.elapsed();
        if i >= WARMUP_ROUNDS {
            to_paid.push(took);
            let sent = wire::pay_sent_after(started).expect("the pay was sent");
            to_wire.push(sent - started);
        }
        api.invoke_new_sale();
        assert_eq!(api.get_page(), Page::Cashier);
    }
    to_paid.sort();
    to_wire.sort();
    // The engine alone, on the same sandbox: the round trip the screens add to.
    let checkout = terminal.checkout.clone();
    let engine_alone = runtime
        .spawn(async move {
            let mut samples = Vec::with_capacity(ROUNDS);
            for i in 0..WARMUP_ROUNDS + ROUNDS {
                let code = alipay_pos::checkout::PaymentCode::parse(&round_code(10_000 + i))
                    .expect("a payment code");
                let amount = alipay_pos::money::Money::parse(
                    &round_amount(i),
                    alipay_pos::money::Currency::USD,
                )
                .expect("amount");
                let started = Instant::now();
                let (record, _) = checkout
                    .start_payment(alipay_pos::checkout::PaymentIntent::user_presented(
                        amount,
                        "bench",
                        alipay_pos::journal::Actor::Cashier,
                        code,
                    ))
                    .await
                    .expect("start_payment");
                let took = started.elapsed();
                assert_eq!(record.state, alipay_pos::journal::PaymentState::Paid);
                if i >= WARMUP_ROUNDS {
                    samples.push(took);
                }
            }
            samples.sort();
            samples
        })
        .await
        .expect("engine rounds");
    ScanFigures {
        to_paid,
        to_wire,
        engine_alone,
    }
}

/// Figure 1, in this process: ≥100 rounds of type amount → Charge → QR on screen →
/// Cancel (through the sandbox) → New sale, with `Policy::default()` as the GUI uses.
fn charge_to_qr() -> ChargeFigures {
    headless::init();
    let runtime = engine_runtime();
    let dir = tempfile::tempdir().expect("temp dir");
    let config = bench_config(dir.path(), true);
    let terminal = runtime.block_on(async {
        let terminal = Terminal::start(config.clone(), Policy::default())
            .await
            .expect("terminal");
        terminal
            .start_background_work(Recovery::ShowOnScreen)
            .await
            .expect("background");
        Arc::new(terminal)
    });
    let app = App::new().expect("app");
    app.window()
        .set_size(slint::PhysicalSize::new(WIDTH, HEIGHT));
    let controller = Controller::attach(&app, GuiOptions::default(), &config);
    controller.connect(terminal.clone(), runtime.handle().clone());
    app.show().expect("show");

    let figures = Rc::new(RefCell::new(None));
    let out = figures.clone();
    let ui = app.clone_strong();
    let engine = terminal.clone();
    let handle = runtime.handle().clone();
    wire::init();
    slint::spawn_local(async move {
        let app = ui;
        assert!(app.global::<Api>().get_ready(), "the engine is connected");
        headless::render_frame();
        let mut first = Duration::ZERO;
        let mut samples = Vec::with_capacity(ROUNDS);
        let mut renders = Vec::with_capacity(ROUNDS);
        for i in 0..WARMUP_ROUNDS + ROUNDS {
            type_amount(&app.global::<Api>(), &round_amount(i));
            let (total, render) = charge_until_qr_shown(&app).await;
            if i == 0 {
                first = total;
            }
            if i >= WARMUP_ROUNDS {
                samples.push(total);
                renders.push(render);
            }
            cancel_and_start_over(&app).await;
        }
        samples.sort();
        renders.sort();
        let scan = scan_rounds(&app, &engine, &handle).await;
        *out.borrow_mut() = Some(ChargeFigures {
            first,
            samples,
            renders,
            scan,
        });
        slint::quit_event_loop().expect("quit");
    })
    .expect("spawn_local");
    slint::run_event_loop().expect("event loop");
    drop(controller);
    drop(app);
    runtime.shutdown_timeout(Duration::from_secs(3));
    figures.take().expect("the rounds finished")
}

/// The child process: starts like `gui::run` (runtime, window, file log, controller, then
/// the engine on the runtime handed over when it is up), prints `ready` once the cashier
/// page is shown with the engine connected and a frame rendered, then its memory idle and
/// with a QR code on screen. It cancels that payment before it exits, so the next child
/// starts with nothing left to recover.
fn child(data_dir: &Path) {
    let main_started = Instant::now();
    headless::init();
    let config = bench_config(data_dir, false);
    let runtime = engine_runtime();
    let app = App::new().expect("app");
    app.window()
        .set_size(slint::PhysicalSize::new(WIDTH, HEIGHT));
    let _log = alipay_pos::logging::init_file(&config.storage.data_dir).expect("log file");
    let controller = Rc::new(Controller::attach(&app, GuiOptions::default(), &config));
    app.show().expect("show");
    let engine = runtime.spawn(async move {
        let terminal = Terminal::start(config, Policy::default())
            .await
            .expect("terminal");
        terminal
            .start_background_work(Recovery::ShowOnScreen)
            .await
            .expect("background");
        Arc::new(terminal)
    });
    let handle = runtime.handle().clone();
    let ui = app.clone_strong();
    let gui = controller.clone();
    slint::spawn_local(async move {
        let app = ui;
        let terminal = engine.await.expect("engine task");
        gui.connect(terminal, handle);
        let ready = app.as_weak();
        wait_for("the cashier page, ready", move || {
            let app = ready.unwrap();
            let api = app.global::<Api>();
            api.get_page() == Page::Cashier && api.get_ready()
        })
        .await;
        headless::render_frame();
        println!("ready {}", main_started.elapsed().as_micros());

        pause(IDLE_BEFORE_RSS).await;
        println!("rss-idle {}", memory_kib("VmRSS"));
        type_amount(&app.global::<Api>(), "12.50");
        charge_until_qr_shown(&app).await;
        println!("rss-qr {}", memory_kib("VmRSS"));
        cancel_and_start_over(&app).await;
        println!("rss-peak {}", memory_kib("VmHWM"));
        slint::quit_event_loop().expect("quit");
    })
    .expect("spawn_local");
    slint::run_event_loop().expect("event loop");
    drop(controller);
    drop(app);
    runtime.shutdown_timeout(Duration::from_secs(3));
}

/// What one child reported.
struct ColdStart {
    /// Parent side: from just before the spawn to the `ready` line.
    spawn_to_ready: Duration,
    /// Child side: from the first line of `main` to ready (so the rest is exec, dynamic
    /// loading and the runtime's start-up).
    main_to_ready: Duration,
    rss_idle: u64,
    rss_qr: u64,
    rss_peak: u64,
}

fn run_child(data_dir: &Path) -> ColdStart {
    let started = Instant::now();
    let mut child = Command::new(std::env::current_exe().expect("current exe"))
        .env(CHILD_ENV, data_dir)
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn child");
    let stdout = child.stdout.take().expect("stdout");
    let mut spawn_to_ready = None;
    let mut values = std::collections::HashMap::new();
    for line in BufReader::new(stdout).lines() {
        let line = line.expect("child output");
        if line.starts_with("ready ") {
            spawn_to_ready = Some(started.elapsed());
        }
        if let Some((key, value)) = line.split_once(' ')
            && let Ok(value) = value.parse::<u64>()
        {
            values.insert(key.to_string(), value);
        }
    }
    let status = child.wait().expect("child");
    assert!(status.success(), "the child failed: {status}");
    let value = |key: &str| *values.get(key).unwrap_or_else(|| panic!("no {key} line"));
    ColdStart {
        spawn_to_ready: spawn_to_ready.expect("a ready line"),
        main_to_ready: Duration::from_micros(value("ready")),
        rss_idle: value("rss-idle"),
        rss_qr: value("rss-qr"),
        rss_peak: value("rss-peak"),
    }
}

/// Figures 2 and 3: one child on an empty data folder (the very first start, which
/// generates the sandbox's keys and creates the journal and ledger), then one more not
/// counted and [`COLD_STARTS`] measured on a folder that already has all of that, as a
/// terminal has on every later start. The page cache is warm (the binary was just run).
fn cold_starts() -> (ColdStart, Vec<ColdStart>) {
    let first_dir = tempfile::tempdir().expect("temp dir");
    let first = run_child(first_dir.path());
    let dir = tempfile::tempdir().expect("temp dir");
    bench_config(dir.path(), true);
    run_child(dir.path());
    let runs = (0..COLD_STARTS).map(|_| run_child(dir.path())).collect();
    (first, runs)
}

/// Figure 4: `target/release/alipay-pos` and a stripped copy of it (if `strip` is on the
/// PATH). `cargo bench` builds it with the bench profile, which inherits
/// `[profile.release]`: not byte for byte the `cargo build --release` binary (that one is
/// a separate build into the same path), but within a few KiB of it.
fn binary_sizes() -> (PathBuf, u64, Option<u64>) {
    let binary = PathBuf::from(env!("CARGO_BIN_EXE_alipay-pos"));
    let size = std::fs::metadata(&binary).expect("release binary").len();
    let dir = tempfile::tempdir().expect("temp dir");
    let copy = dir.path().join("alipay-pos");
    std::fs::copy(&binary, &copy).expect("copy binary");
    let stripped = Command::new("strip")
        .arg(&copy)
        .status()
        .ok()
        .filter(|status| status.success())
        .map(|_| std::fs::metadata(&copy).expect("stripped").len());
    (binary, size, stripped)
}

fn median(mut values: Vec<Duration>) -> Duration {
    values.sort();
    alipay_pos::testing::percentile(&values, 50)
}

fn main() {
    if let Some(data_dir) = std::env::var_os(CHILD_ENV) {
        child(Path::new(&data_dir));
        return;
    }
    // `cargo bench` passes `--bench`; a filter argument is not used.
    let charge = charge_to_qr();
    let (first_start, starts) = cold_starts();
    let (binary, size, stripped) = binary_sizes();

    let spawn: Vec<Duration> = starts.iter().map(|s| s.spawn_to_ready).collect();
    let in_main: Vec<Duration> = starts.iter().map(|s| s.main_to_ready).collect();
    let max = |values: &[Duration]| values.iter().max().copied().unwrap_or_default();
    let rss = |pick: fn(&ColdStart) -> u64| {
        let mut values: Vec<u64> = starts.iter().map(pick).collect();
        values.sort();
        (values[values.len() / 2], values[values.len() - 1])
    };
    let (idle_median, idle_max) = rss(|s| s.rss_idle);
    let (qr_median, qr_max) = rss(|s| s.rss_qr);
    let (peak_median, _) = rss(|s| s.rss_peak);
    let samples = &charge.samples;

    println!();
    println!(
        "GUI figures: headless, Slint's SOFTWARE renderer drawing every frame in full at {WIDTH}×{HEIGHT}"
    );
    println!(
        "(the real window uses winit + femtovg/OpenGL); real engine, embedded sandbox, Policy::default()."
    );
    println!();
    println!("| What | Figure |");
    println!("| --- | --- |");
    println!(
        "| Charge → QR on screen (frame rendered), {} rounds | p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms |",
        samples.len(),
        ms(alipay_pos::testing::percentile(samples, 50)),
        ms(alipay_pos::testing::percentile(samples, 99)),
        ms(max(samples))
    );
    println!(
        "| … of which rendering the QR frame (software, full frame) | p50 {:.1} ms, p99 {:.1} ms |",
        ms(alipay_pos::testing::percentile(&charge.renders, 50)),
        ms(alipay_pos::testing::percentile(&charge.renders, 99))
    );
    println!(
        "| … the first Charge after start (not in the rounds) | {:.1} ms |",
        ms(charge.first)
    );
    let scan = &charge.scan;
    let overhead = |p: u32| {
        ms(alipay_pos::testing::percentile(&scan.to_paid, p))
            - ms(alipay_pos::testing::percentile(&scan.engine_alone, p))
    };
    println!(
        "| Scan (last key) → Paid on screen (frame rendered), code ending 0000, {} rounds | p50 {:.1} ms, p99 {:.1} ms |",
        scan.to_paid.len(),
        ms(alipay_pos::testing::percentile(&scan.to_paid, 50)),
        ms(alipay_pos::testing::percentile(&scan.to_paid, 99))
    );
    println!(
        "| … the engine alone (`start_payment`, the network round trip), {} rounds | p50 {:.1} ms, p99 {:.1} ms |",
        scan.engine_alone.len(),
        ms(alipay_pos::testing::percentile(&scan.engine_alone, 50)),
        ms(alipay_pos::testing::percentile(&scan.engine_alone, 99))
    );
    println!(
        "| … so the screens add | p50 {:.1} ms, p99 {:.1} ms |",
        overhead(50),
        overhead(99)
    );
    println!(
        "| Scan (last key) → `pay` handed to HTTP (signed) | p50 {:.2} ms, p99 {:.2} ms |",
        ms(alipay_pos::testing::percentile(&scan.to_wire, 50)),
        ms(alipay_pos::testing::percentile(&scan.to_wire, 99))
    );
    println!(
        "| Cold start → cashier ready (engine connected, first frame), spawn to ready, {} runs | median {:.0} ms, max {:.0} ms |",
        starts.len(),
        ms(median(spawn.clone())),
        ms(max(&spawn))
    );
    println!(
        "| … of which inside `main` (the rest is exec, loading, runtime start) | median {:.0} ms, max {:.0} ms |",
        ms(median(in_main.clone())),
        ms(max(&in_main))
    );
    println!(
        "| Very first start (empty data folder: sandbox generates its RSA keys) | {:.0} ms |",
        ms(first_start.spawn_to_ready)
    );
    println!(
        "| Resident memory (VmRSS), idle on the cashier page ({} s after ready) | median {:.1} MiB, max {:.1} MiB |",
        IDLE_BEFORE_RSS.as_secs(),
        mib(idle_median),
        mib(idle_max)
    );
    println!(
        "| Resident memory (VmRSS), QR code on screen | median {:.1} MiB, max {:.1} MiB |",
        mib(qr_median),
        mib(qr_max)
    );
    println!(
        "| Peak resident memory (VmHWM) over start, idle, QR, cancel | median {:.1} MiB |",
        mib(peak_median)
    );
    println!(
        "| Release binary `{}` | {size} bytes ({:.1} MiB) |",
        binary.display(),
        bytes_mib(size)
    );
    match stripped {
        Some(bytes) => println!(
            "| … stripped (`strip`) | {bytes} bytes ({:.1} MiB) |",
            bytes_mib(bytes)
        ),
        None => println!("| … stripped | `strip` not available |"),
    }
}
