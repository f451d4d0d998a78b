//! `scanner::grab` on real paths that are not scanners: each is a clear error value (never a
//! panic) with a warning in both languages, and nothing is left grabbed. This machine has no
//! `/dev/uinput`, so a real grab is not tested here; the reader thread is tested on a fake
//! device in `src/scanner/evdev.rs`.

use std::fs;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use alipay_pos::locale::Locale;
use alipay_pos::scanner::{self, ScannerError, WedgeSettings};
use tempfile::TempDir;

/// Grabs `path`, counting the events the callback gets (there must be none).
fn grab(
    path: &Path,
) -> (
    Result<scanner::GrabbedScanner, ScannerError>,
    Arc<AtomicUsize>,
) {
    let events = Arc::new(AtomicUsize::new(0));
    let counter = events.clone();
    let result = scanner::grab(path, &WedgeSettings::default(), move |_| {
        counter.fetch_add(1, Ordering::SeqCst);
    });
    (result, events)
}

fn assert_warns_in_both_languages(err: &ScannerError, path: &Path) {
    assert_eq!(err.path(), path);
    let en = err.message(Locale::English);
    let zh = err.message(Locale::SimplifiedChinese);
    assert!(en.contains(&path.display().to_string()), "{en}");
    assert!(zh.contains(&path.display().to_string()), "{zh}");
    assert!(en.contains("[scanner] device"), "{en}");
    assert!(zh.contains("[scanner] device"), "{zh}");
    assert_ne!(en, zh);
}

#[test]
fn a_path_that_does_not_exist_is_not_found() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("usb-Scanner-event-kbd");
    let (result, events) = grab(&path);
    let err = result.unwrap_err();
    assert!(matches!(err, ScannerError::NotFound { .. }), "{err:?}");
    assert!(
        err.message(Locale::English)
            .contains("Check the scanner's cable")
    );
    assert_warns_in_both_languages(&err, &path);
    assert_eq!(events.load(Ordering::SeqCst), 0);
}

#[test]
fn a_regular_file_is_not_a_keyboard() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("event3");
    fs::write(&path, b"not a device").unwrap();
    let err = grab(&path).0.unwrap_err();
    assert!(matches!(err, ScannerError::NotAKeyboard { .. }), "{err:?}");
    assert!(
        err.to_string().contains("is not a keyboard input device"),
        "{err}"
    );
    assert_warns_in_both_languages(&err, &path);
}

#[test]
fn a_folder_is_not_a_keyboard() {
    let dir = TempDir::new().unwrap();
    let err = grab(dir.path()).0.unwrap_err();
    assert!(matches!(err, ScannerError::NotAKeyboard { .. }), "{err:?}");
}

#[test]
fn dev_null_is_a_character_device_but_not_a_keyboard() {
    // Gets past the file-type check, so this is the evdev ioctl refusing (ENOTTY).
    let path = Path::new("/dev/null");
    let err = grab(path).0.unwrap_err();
    assert!(matches!(err, ScannerError::NotAKeyboard { .. }), "{err:?}");
    assert_warns_in_both_languages(&err, path);
}
