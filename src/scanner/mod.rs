//! Barcode scanners, for the customer's payment code (User-presented payments: the cashier
//! scans a 16-24 digit barcode or QR code from the customer's wallet).
//!
//! Two ways a scanner reaches the terminal:
//! * **Keyboard wedge** (no `[scanner] device`): the scanner is just another keyboard.
//!   [`WedgeDetector`] tells its bursts from a person's typing by timing (or exactly, by a
//!   configured prefix/suffix); the GUI feeds it every key with Slint's time.
//! * **Grabbed evdev device** (`[scanner] device = "/dev/input/by-id/..."`, Linux):
//!   [`grab`] opens that device exclusively, so its keys never reach the UI as typing, and
//!   reports each code as a [`ScannerEvent`] from a reader thread of its own.
//!
//! Scanned codes are bearer secrets: no `Debug` here shows one, and logs give lengths only.
//! This module knows nothing of screens or the engine; `config` supplies the settings.

mod error;
#[cfg(target_os = "linux")]
mod evdev;
#[cfg(target_os = "linux")]
mod keymap;
mod wedge;

use std::fmt;
#[cfg(not(target_os = "linux"))]
use std::path::Path;

pub use error::ScannerError;
#[cfg(target_os = "linux")]
pub use evdev::{GrabbedScanner, grab};
#[cfg(target_os = "linux")]
pub use keymap::translate;
pub use wedge::{
    DEFAULT_MAX_KEY_GAP, DEFAULT_MIN_LENGTH, MAX_HELD_CHARS, PREFIXED_SCAN_TIMEOUT, WedgeDetector,
    WedgeKey, WedgeOutput, WedgeSettings,
};

use crate::config::ScannerConfig;

/// What a grabbed scanner reports.
pub enum ScannerEvent {
    /// One code, prefix and suffix stripped. A bearer secret: never log it.
    Scanned(String),
    /// The device was unplugged or could not be read; the reader thread has ended. Show
    /// [`ScannerError::message`] and fall back to typing the code.
    Lost(ScannerError),
}

/// Debug shows a scanned code's length, never the code.
impl fmt::Debug for ScannerEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ScannerEvent::Scanned(code) => {
                write!(f, "Scanned(<{} chars>)", code.chars().count())
            }
            ScannerEvent::Lost(err) => f.debug_tuple("Lost").field(err).finish(),
        }
    }
}

/// The `[scanner]` table as detector settings.
impl From<&ScannerConfig> for WedgeSettings {
    fn from(config: &ScannerConfig) -> Self {
        WedgeSettings {
            max_key_gap: config.max_key_gap,
            min_length: config.min_length,
            prefix: config.prefix.clone(),
            suffix: config.suffix.clone(),
        }
    }
}

/// Stands in for the evdev scanner where there is no evdev: never constructed.
#[cfg(not(target_os = "linux"))]
#[derive(Debug)]
pub struct GrabbedScanner {
    _never: (),
}

/// Without evdev a device cannot be grabbed: always [`ScannerError::Unsupported`] (the
/// scanner still works as a keyboard wedge).
#[cfg(not(target_os = "linux"))]
pub fn grab(
    path: &Path,
    _settings: &WedgeSettings,
    _on_event: impl Fn(ScannerEvent) + Send + 'static,
) -> Result<GrabbedScanner, ScannerError> {
    Err(ScannerError::Unsupported {
        path: path.to_path_buf(),
    })
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::config::Config;

    #[test]
    fn scanned_codes_do_not_show_in_debug() {
        let shown = format!("{:?}", ScannerEvent::Scanned("2811234567890123".to_owned()));
        assert_eq!(shown, "Scanned(<16 chars>)");
    }

    #[test]
    fn settings_come_from_the_scanner_table() {
        let mut config = Config::defaults().scanner;
        assert_eq!(
            WedgeSettings::from(&config),
            WedgeSettings::default(),
            "the config's defaults are the detector's"
        );
        config.max_key_gap = Duration::from_millis(40);
        config.min_length = 18;
        config.prefix = Some("~".to_owned());
        config.suffix = Some("#".to_owned());
        let settings = WedgeSettings::from(&config);
        assert_eq!(settings.max_key_gap, Duration::from_millis(40));
        assert_eq!(settings.min_length, 18);
        assert_eq!(settings.prefix.as_deref(), Some("~"));
        assert_eq!(settings.suffix.as_deref(), Some("#"));
    }
}
