//! Where log lines go: stderr for one-shot commands, a rotating file for the long-running
//! terminal (a kiosk has no one watching its stderr), and systemd's journal when the
//! terminal runs as a service (its stderr then is the journal: [`stderr_is_the_journal`]).
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

/// Whether stderr is connected to systemd's journal: systemd sets `JOURNAL_STREAM` to the
/// `device:inode` of the stream it gave the service, and the variable alone is not enough
/// (a child of a service inherits it while its stderr may be redirected elsewhere), so the
/// pair is compared with stderr's own, as systemd's documentation (systemd.exec) advises.
#[cfg(unix)]
pub fn stderr_is_the_journal() -> bool {
    use std::os::fd::AsFd;
    use std::os::unix::fs::MetadataExt;

    let Some(stream) = std::env::var_os("JOURNAL_STREAM") else {
        return false;
    };
    let Some((device, inode)) = stream.to_str().and_then(|s| s.split_once(':')) else {
        return false;
    };
    let (Ok(device), Ok(inode)) = (device.parse::<u64>(), inode.parse::<u64>()) else {
        return false;
    };
    let Ok(stderr) = std::io::stderr().as_fd().try_clone_to_owned() else {
        return false;
    };
    std::fs::File::from(stderr)
        .metadata()
        .is_ok_and(|meta| meta.dev() == device && meta.ino() == inode)
}

/// Not a Unix: no systemd.
#[cfg(not(unix))]
pub fn stderr_is_the_journal() -> bool {
    false
}

/// Logs to stderr for systemd's journal, at the terminal's level (info; `ALIPAY_POS_LOG`
/// overrides): no colours and no timestamps, which the journal adds itself. The journal
/// rotates, keeps and protects the lines (root and the `adm`/`systemd-journal` groups read
/// them: `journalctl -u alipay-pos-kiosk`), so no log file is written under data_dir.
pub fn init_journal() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter("info"))
        .with_ansi(false)
        .without_time()
        .with_writer(std::io::stderr)
        .try_init();
}

#[derive(Debug, thiserror::Error)]
#[error("cannot write logs under {dir}: {reason}; check that data_dir is writable")]
pub struct LogSetupError {
    dir: PathBuf,
    reason: String,
}

const PREFIX: &str = "alipay-pos";
const SUFFIX: &str = "log";

/// The file tracing-appender writes on `day` (it names daily files by the UTC date).
fn file_of(dir: &Path, day: time::Date) -> PathBuf {
    let (year, month, date) = (day.year(), u8::from(day.month()), day.day());
    dir.join(format!("{PREFIX}.{year:04}-{month:02}-{date:02}.{SUFFIX}"))
}

/// The rolling appender, with each day's file created 0600 before the appender opens it
/// (it would otherwise follow the umask, usually 0644: logs name payments and amounts).
struct PrivateDailyFiles {
    inner: RollingFileAppender,
    dir: PathBuf,
    day: time::Date,
}

impl PrivateDailyFiles {
    fn today() -> time::Date {
        time::OffsetDateTime::now_utc().date()
    }

    /// Creates (0600) the file of the current day when the day changed since the last write.
    fn prepare(&mut self) {
        let today = Self::today();
        if today != self.day {
            self.day = today;
            // A failure leaves the file to the appender: logging goes on, just less private.
            let _ = crate::private_fs::private_file(&file_of(&self.dir, today), true);
        }
    }
}

impl std::io::Write for PrivateDailyFiles {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.prepare();
        let written = self.inner.write(buf);
        // Midnight may have passed between the check and the appender's own clock reading.
        if Self::today() != self.day {
            self.prepare();
            let _ = crate::private_fs::private_file(&file_of(&self.dir, self.day), false);
        }
        written
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// Logs to `data_dir/logs/alipay-pos.YYYY-MM-DD.log` (UTC date), rotated daily, keeping
/// [`KEPT_LOG_FILES`] files. The folder is 0700 and the files 0600 whatever the umask.
/// Keep the returned guard alive: dropping it flushes the writer.
pub fn init_file(data_dir: &Path) -> Result<WorkerGuard, LogSetupError> {
    let dir = log_dir(data_dir);
    let setup_error = |reason: String| LogSetupError {
        dir: dir.clone(),
        reason,
    };
    crate::private_fs::private_dir(&dir).map_err(|e| setup_error(e.to_string()))?;
    let day = PrivateDailyFiles::today();
    crate::private_fs::private_file(&file_of(&dir, day), true)
        .map_err(|e| setup_error(e.to_string()))?;
    let appender = RollingFileAppender::builder()
        .rotation(Rotation::DAILY)
        .filename_prefix(PREFIX)
        .filename_suffix(SUFFIX)
        .max_log_files(KEPT_LOG_FILES)
        .build(&dir)
        .map_err(|e| setup_error(e.to_string()))?;
    let writer = PrivateDailyFiles {
        inner: appender,
        dir: dir.clone(),
        day,
    };
    let (writer, guard) = tracing_appender::non_blocking(writer);
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter("info"))
        .with_ansi(false)
        .with_writer(writer)
        .try_init();
    Ok(guard)
}
