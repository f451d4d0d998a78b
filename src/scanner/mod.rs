//! Barcode scanners, for the customer's payment code (User-presented payments: the cashier
//! scans a 16-24 digit barcode or QR code from the customer's wallet).
//!
//! Two ways a scanner reaches the terminal:
//! * **Keyboard wedge** (no `[scanner] device`): the scanner is just another keyboard.
//!   [`WedgeDetector`] tells its bursts from a person's typing by timing (or exactly, by a
//!   configured prefix/suffix); the GUI feeds it every key with Slint's time.
//! * **Grabbed evdev device** (`[scanner] device = "/dev/input/by-id/..."`, Linux):
//!   `grab` opens that device exclusively, so its keys never reach the UI as typing, and
//!   reports each code as a `ScannerEvent` from a reader thread of its own.
//!
//! Scanned codes are bearer secrets: no `Debug` here shows one, and logs give lengths only.
//! This module knows nothing of screens or the engine; `config` supplies the settings.

mod wedge;

pub use wedge::{
    DEFAULT_MAX_KEY_GAP, DEFAULT_MIN_LENGTH, MAX_HELD_CHARS, PREFIXED_SCAN_TIMEOUT,
    WedgeDetector, WedgeKey, WedgeOutput, WedgeSettings,
};

use crate::config::ScannerConfig;

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

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::config::Config;

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
