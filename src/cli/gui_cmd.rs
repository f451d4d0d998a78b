//! The GUI's entry points on the command line: `alipay-pos` with no subcommand opens the
//! terminal's window; `alipay-pos screenshots` renders every screen to PNG files.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;

use super::{CliError, CliResult};
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
    out: PathBuf,
}

pub fn screenshots(args: ScreenshotsArgs) -> CliResult {
    let written =
        gui::screenshots::render_all(&args.out).map_err(|e| CliError::usage(e.to_string()))?;
    for path in &written {
        println!("{}", path.display());
    }
    Ok(ExitCode::SUCCESS)
}
