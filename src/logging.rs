//! Where log lines go: stderr for one-shot commands, a rotating file for the long-running
//! terminal (a kiosk has no one watching its stderr).
//!
//! What never goes into a log, by construction rather than by filtering: private keys (they
//! are never formatted; `AmsClient`'s `Debug` skips them), full signatures (only
//! `SignatureHeader::redacted` is logged), and PINs.

use std::path::{Path, PathBuf};

use tracing_appender::non_blocking::WorkerGuard;
use tracing_appender::rolling::{RollingFileAppender, Rotation};
use tracing_subscriber::EnvFilter;

/// Daily files kept before the oldest is deleted: two weeks covers a reconciliation dispute
/// window without letting a small device's disk fill up.
pub const KEPT_LOG_FILES: usize = 14;

/// The folder under `data_dir` that holds the rotating log files.
pub fn log_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("logs")
}

fn filter(default_level: &str) -> EnvFilter {
    EnvFilter::try_from_env("ALIPAY_POS_LOG").unwrap_or_else(|_| EnvFilter::new(default_level))
}

/// Logs to stderr. `ALIPAY_POS_LOG` (e.g. `debug`, `alipay_pos=trace`) overrides the level.
/// Safe to call twice: a second global subscriber is silently refused.
pub fn init_stderr(verbose: bool) {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter(if verbose { "debug" } else { "warn" }))
        .with_writer(std::io::stderr)
        .try_init();
}

#[derive(Debug, thiserror::Error)]
#[error("cannot write logs under {dir}: {reason}; check that data_dir is writable")]
pub struct LogSetupError {
    dir: PathBuf,
    reason: String,
}

/// Logs to `data_dir/logs/alipay-pos.YYYY-MM-DD.log`, rotated daily, keeping
/// [`KEPT_LOG_FILES`] files. Keep the returned guard alive: dropping it flushes the writer.
pub fn init_file(data_dir: &Path) -> Result<WorkerGuard, LogSetupError> {
    let dir = log_dir(data_dir);
    let setup_error = |reason: String| LogSetupError {
        dir: dir.clone(),
        reason,
    };
    std::fs::create_dir_all(&dir).map_err(|e| setup_error(e.to_string()))?;
    let appender = RollingFileAppender::builder()
        .rotation(Rotation::DAILY)
        .filename_prefix("alipay-pos")
        .filename_suffix("log")
        .max_log_files(KEPT_LOG_FILES)
        .build(&dir)
        .map_err(|e| setup_error(e.to_string()))?;
    let (writer, guard) = tracing_appender::non_blocking(appender);
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter("info"))
        .with_ansi(false)
        .with_writer(writer)
        .try_init();
    Ok(guard)
}
