//! The GUI's entry points on the command line: `alipay-pos` with no subcommand opens the
//! terminal's window; `alipay-pos screenshots` renders every screen to PNG files.
//!
//! A build without the `gui` feature keeps both in `--help`, with the same flags, so the
//! command line reads the same whichever build is installed; running them then exits 1
//! saying that this build has no GUI and what to use instead.

use std::path::{Path, PathBuf};
#[cfg(feature = "gui")]
use std::process::ExitCode;
#[cfg(feature = "gui")]
use std::time::Duration;

use clap::Args;

use super::{CliError, CliResult};
#[cfg(feature = "gui")]
use crate::gui::{self, GuiOptions};
use crate::locale::Locale;

/// Flags of the GUI (`alipay-pos` without a subcommand).
#[derive(Debug, Args)]
pub struct GuiArgs {
    /// Cashier mode in a full-screen window.
    #[arg(long)]
    fullscreen: bool,
    /// Kiosk mode: full screen, customers order from the catalog and pay themselves; no
    /// in-app quit (press and hold the store name for 3 s, or Ctrl+Alt+M, for the manager).
    #[arg(long)]
    kiosk: bool,
    /// The language the screens start in: en (default) or zh.
    #[arg(long, value_name = "LANG")]
    lang: Option<Locale>,
    /// Kiosk: seconds without a touch before an unfinished order is cleared (default 60).
    #[arg(long, value_name = "SECONDS")]
    idle_timeout: Option<f64>,
    /// Kiosk: seconds a result stays on screen before the kiosk returns to the start
    /// (default 10).
    #[arg(long, value_name = "SECONDS")]
    result_timeout: Option<f64>,
}

impl GuiArgs {
    /// The first GUI flag given, if any: they mean nothing next to a command.
    pub fn given_flag(&self) -> Option<&'static str> {
        [
            (self.fullscreen, "--fullscreen"),
            (self.kiosk, "--kiosk"),
            (self.lang.is_some(), "--lang"),
            (self.idle_timeout.is_some(), "--idle-timeout"),
            (self.result_timeout.is_some(), "--result-timeout"),
        ]
        .into_iter()
        .find_map(|(given, flag)| given.then_some(flag))
    }
}

#[cfg(feature = "gui")]
fn seconds(flag: &str, value: Option<f64>, default: Duration) -> Result<Duration, CliError> {
    let Some(value) = value else {
        return Ok(default);
    };
    if !(0.1..=86_400.0).contains(&value) {
        return Err(CliError::usage(format!(
            "{flag} takes 0.1 to 86400 seconds"
        )));
    }
    Ok(Duration::from_secs_f64(value))
}

#[cfg(feature = "gui")]
pub fn run(args: GuiArgs, config_path: Option<&Path>) -> CliResult {
    let options = GuiOptions {
        fullscreen: args.fullscreen,
        kiosk: args.kiosk,
        locale: args.lang.unwrap_or_default(),
        idle_timeout: seconds(
            "--idle-timeout",
            args.idle_timeout,
            gui::DEFAULT_IDLE_TIMEOUT,
        )?,
        result_timeout: seconds(
            "--result-timeout",
            args.result_timeout,
            gui::DEFAULT_RESULT_TIMEOUT,
        )?,
    };
    gui::run(options, config_path).map_err(|e| CliError::usage(e.to_string()))?;
    Ok(ExitCode::SUCCESS)
}

#[derive(Debug, Args)]
pub struct ScreenshotsArgs {
    /// Folder for the PNG files (created if missing).
    #[arg(long, value_name = "DIR")]
    #[cfg_attr(not(feature = "gui"), allow(dead_code))]
    out: PathBuf,
}

#[cfg(feature = "gui")]
pub fn screenshots(args: ScreenshotsArgs) -> CliResult {
    let written =
        gui::screenshots::render_all(&args.out).map_err(|e| CliError::usage(e.to_string()))?;
    for path in &written {
        println!("{}", path.display());
    }
    Ok(ExitCode::SUCCESS)
}

/// Without the `gui` feature: the window cannot open.
#[cfg(not(feature = "gui"))]
pub fn run(_args: GuiArgs, _config_path: Option<&Path>) -> CliResult {
    Err(no_gui("open the terminal's window"))
}

/// Without the `gui` feature: there are no screens to render.
#[cfg(not(feature = "gui"))]
pub fn screenshots(_args: ScreenshotsArgs) -> CliResult {
    Err(no_gui("render the screens"))
}

/// The error of a GUI command in a build without the GUI (exit 1): what the build is, and
/// the two ways on, in English and Chinese.
#[cfg(not(feature = "gui"))]
fn no_gui(what: &str) -> CliError {
    CliError::usage(format!(
        "this alipay-pos was built without its GUI (cargo feature `gui`), so it cannot {what}; \
         use a command instead (`alipay-pos --help`, e.g. `alipay-pos pay`), or install a build \
         with the GUI (the .deb package, or `cargo build` with the default features) / \
         此版本不含图形界面：请使用命令行（alipay-pos --help），或安装带图形界面的版本"
    ))
}
