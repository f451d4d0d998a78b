//! Shared by the GUI tests (gui_*.rs): a demo configuration on the embedded sandbox in
//! a temporary folder, and helpers that find controls by their accessible labels and wait
//! for conditions on the Slint event loop (with a deadline that only bounds a hang).

use std::path::Path;
use std::time::{Duration, Instant};

use alipay_pos::config::Config;
use alipay_pos::gui::{App, screenshots};
use i_slint_backend_testing::{AccessibleRole, ElementHandle};

/// How long any one condition may take before the test gives up (a hang, not a slow run).
pub const DEADLINE: Duration = Duration::from_secs(60);

/// The demo configuration with its data in `data_dir`, the demo catalog, and the fixture
/// key pairs where the embedded sandbox looks for them (so no RSA key is generated).
pub fn demo_config(data_dir: &Path) -> Config {
    let mut config = alipay_pos::testing::demo_config(data_dir);
    config.catalog = screenshots::demo_catalog(config.payment.currency);
    config
}

/// Waits `ms` milliseconds on the Slint event loop (other UI work keeps running).
pub async fn pause(ms: u64) {
    let (done, wait) = tokio::sync::oneshot::channel::<()>();
    slint::Timer::single_shot(Duration::from_millis(ms), move || {
        let _ = done.send(());
    });
    let _ = wait.await;
}

/// Polls `condition` every 20 ms until it holds; panics naming `what` after [`DEADLINE`].
pub async fn wait_until(what: &str, mut condition: impl FnMut() -> bool) {
    let start = Instant::now();
    while !condition() {
        assert!(
            start.elapsed() < DEADLINE,
            "timed out after {DEADLINE:?} waiting for {what}"
        );
        pause(20).await;
    }
}

/// Every element with this accessible label.
pub fn labelled(app: &App, label: &str) -> Vec<ElementHandle> {
    ElementHandle::find_by_accessible_label(app, label).collect()
}

/// The one button with this accessible label.
pub fn button(app: &App, label: &str) -> ElementHandle {
    let mut found: Vec<ElementHandle> = labelled(app, label)
        .into_iter()
        .filter(|e| e.accessible_role() == Some(AccessibleRole::Button))
        .collect();
    assert_eq!(found.len(), 1, "buttons labelled {label:?}");
    found.remove(0)
}

pub fn has_button(app: &App, label: &str) -> bool {
    labelled(app, label)
        .iter()
        .any(|e| e.accessible_role() == Some(AccessibleRole::Button))
}

/// Clicks the button labelled `label` (its accessible default action, like a screen reader).
pub fn click(app: &App, label: &str) {
    let target = button(app, label);
    assert_ne!(
        target.accessible_enabled(),
        Some(false),
        "{label:?} is disabled"
    );
    target.invoke_accessible_default_action();
}

/// The accessible value of the first element labelled `label`, if it is on screen.
pub fn value_of(app: &App, label: &str) -> Option<String> {
    labelled(app, label)
        .into_iter()
        .find_map(|e| e.accessible_value())
        .map(|v| v.to_string())
}

/// Presses Ctrl+Alt+M (the manager's keyboard shortcut) on the window.
pub fn ctrl_alt_m(app: &App) {
    use slint::ComponentHandle;
    use slint::platform::{Key, WindowEvent};
    let window = app.window();
    for key in [Key::Control, Key::Alt] {
        window.dispatch_event(WindowEvent::KeyPressed { text: key.into() });
    }
    window.dispatch_event(WindowEvent::KeyPressed { text: "m".into() });
    window.dispatch_event(WindowEvent::KeyReleased { text: "m".into() });
    for key in [Key::Alt, Key::Control] {
        window.dispatch_event(WindowEvent::KeyReleased { text: key.into() });
    }
}

/// A GUI on the real engine: the runtime, the started terminal (embedded sandbox, fast
/// policy), the window and its controller, connected and shown. For tests that run the
/// testing backend's event loop (`init_integration_test_with_system_time` first).
pub struct RunningGui {
    pub runtime: tokio::runtime::Runtime,
    pub terminal: std::sync::Arc<alipay_pos::terminal::Terminal>,
    pub app: App,
    pub controller: alipay_pos::gui::Controller,
}

impl RunningGui {
    pub fn start(config: &Config, options: alipay_pos::gui::GuiOptions) -> RunningGui {
        use slint::ComponentHandle;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let terminal = std::sync::Arc::new(
            runtime
                .block_on(alipay_pos::terminal::Terminal::start(
                    config.clone(),
                    alipay_pos::checkout::Policy::fast(),
                ))
                .unwrap(),
        );
        let app = App::new().unwrap();
        let controller = alipay_pos::gui::Controller::attach(&app, options, config);
        controller.connect(terminal.clone(), runtime.handle().clone());
        app.show().unwrap();
        RunningGui {
            runtime,
            terminal,
            app,
            controller,
        }
    }

    /// Like [`RunningGui::start`], then as the terminal's own start-up does it: recovery
    /// for this face ([`alipay_pos::gui::recovery_for`]), the resolver, and the recovered
    /// order code (if any) back on the customer screen.
    pub fn start_recovering(config: &Config, options: alipay_pos::gui::GuiOptions) -> RunningGui {
        let recovery = alipay_pos::gui::recovery_for(&options);
        let gui = RunningGui::start(config, options);
        let resumed = gui
            .runtime
            .block_on(gui.terminal.start_background_work(recovery))
            .unwrap();
        if let Some(record) = resumed {
            gui.controller.show_recovered(record);
        }
        gui
    }

    /// Runs `script` on the event loop until it ends, then closes everything.
    pub fn run(self, script: impl std::future::Future<Output = ()> + 'static) {
        slint::spawn_local(async move {
            script.await;
            slint::quit_event_loop().unwrap();
        })
        .unwrap();
        slint::run_event_loop().unwrap();
        let RunningGui {
            runtime,
            terminal,
            app,
            controller,
        } = self;
        drop(controller);
        drop(app);
        drop(terminal);
        runtime.shutdown_timeout(Duration::from_secs(2));
    }
}

/// Every payment in the journal, read on the engine's runtime.
pub async fn journal_rows(
    terminal: &std::sync::Arc<alipay_pos::terminal::Terminal>,
    runtime: &tokio::runtime::Handle,
) -> Vec<alipay_pos::journal::PaymentRecord> {
    let checkout = terminal.checkout.clone();
    runtime
        .spawn(async move {
            checkout
                .journal_for_tests(|j| j.list_payments(&Default::default()))
                .await
                .unwrap()
        })
        .await
        .unwrap()
}
