//! What can go wrong with a grabbed scanner, as values (never a panic), with a warning for
//! the screen in both languages that says what to do next.

use std::io;
use std::path::{Path, PathBuf};

use crate::locale::Locale;

/// Why the scanner named by `[scanner] device` cannot be used, or stopped working.
///
/// `Display` is the English text for the log; [`ScannerError::message`] is the warning for
/// the screen. Neither ever contains a scanned code.
#[derive(Debug, thiserror::Error)]
pub enum ScannerError {
    /// Nothing at the path: unplugged, or the path is mistyped.
    #[error("scanner device {} does not exist", path.display())]
    NotFound { path: PathBuf },
    /// The device exists but this user may not open it.
    #[error("no permission to open scanner device {}", path.display())]
    PermissionDenied { path: PathBuf },
    /// The path is not an input device with digit keys and Enter (a regular file, a folder,
    /// `/dev/null`, a mouse).
    #[error("{} is not a keyboard input device", path.display())]
    NotAKeyboard { path: PathBuf },
    /// The device opened but could not be grabbed exclusively, usually because another
    /// program holds it.
    #[error("cannot grab scanner device {} exclusively: {source}", path.display())]
    Grab {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// Opening failed for another reason.
    #[error("cannot open scanner device {}: {source}", path.display())]
    Open {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// Reading events failed after the grab.
    #[error("reading scanner device {} failed: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// The device went away while grabbed (unplugged).
    #[error("scanner device {} was disconnected", path.display())]
    Disconnected { path: PathBuf },
    /// This operating system has no evdev (scanners work as plain keyboards there).
    #[error("grabbing scanner device {} needs Linux (evdev)", path.display())]
    Unsupported { path: PathBuf },
}

impl ScannerError {
    /// The device path the error is about.
    pub fn path(&self) -> &Path {
        match self {
            ScannerError::NotFound { path }
            | ScannerError::PermissionDenied { path }
            | ScannerError::NotAKeyboard { path }
            | ScannerError::Grab { path, .. }
            | ScannerError::Open { path, .. }
            | ScannerError::Read { path, .. }
            | ScannerError::Disconnected { path }
            | ScannerError::Unsupported { path } => path,
        }
    }

    /// An error opening `path`, sorted by what the person at the terminal can do about it.
    /// `ENOTTY`/`EINVAL` (the evdev ioctls refused) mean the path is not an input device;
    /// `ENODEV`/`ENXIO` that the device node is there but its device is gone (unplugged).
    pub fn from_open(path: &Path, err: io::Error) -> ScannerError {
        // Linux's numbers; the mapping is only used where evdev exists.
        const ENXIO: i32 = 6;
        const ENODEV: i32 = 19;
        const EINVAL: i32 = 22;
        const ENOTTY: i32 = 25;
        let path = path.to_path_buf();
        match (err.kind(), err.raw_os_error()) {
            (io::ErrorKind::NotFound, _) | (_, Some(ENODEV | ENXIO)) => {
                ScannerError::NotFound { path }
            }
            (io::ErrorKind::PermissionDenied, _) => ScannerError::PermissionDenied { path },
            (_, Some(ENOTTY | EINVAL)) => ScannerError::NotAKeyboard { path },
            _ => ScannerError::Open { path, source: err },
        }
    }

    /// The warning for the screen, saying what happened and what to do next.
    pub fn message(&self, locale: Locale) -> String {
        let path = self.path().display();
        match (self, locale) {
            (ScannerError::NotFound { .. }, Locale::English) => format!(
                "Scanner not found at {path}. Check the scanner's cable, or set [scanner] \
                 device in the configuration to the right path (ls /dev/input/by-id/)."
            ),
            (ScannerError::NotFound { .. }, Locale::SimplifiedChinese) => format!(
                "未找到扫码枪（{path}）。请检查扫码枪连接线，或在配置文件中把 [scanner] device \
                 设为正确的路径（ls /dev/input/by-id/）。"
            ),
            (ScannerError::PermissionDenied { .. }, Locale::English) => format!(
                "No permission to use the scanner at {path}. Add this user to the \"input\" \
                 group (then log in again), or ask your administrator."
            ),
            (ScannerError::PermissionDenied { .. }, Locale::SimplifiedChinese) => format!(
                "没有权限使用扫码枪（{path}）。请把当前用户加入 \"input\" 用户组（然后重新登录），\
                 或联系管理员。"
            ),
            (ScannerError::NotAKeyboard { .. }, Locale::English) => format!(
                "{path} is not a scanner or keyboard. Set [scanner] device to the scanner's \
                 entry in /dev/input/by-id/ (usually ending in -event-kbd)."
            ),
            (ScannerError::NotAKeyboard { .. }, Locale::SimplifiedChinese) => format!(
                "{path} 不是扫码枪或键盘。请把 [scanner] device 设为 /dev/input/by-id/ 中\
                 扫码枪的条目（通常以 -event-kbd 结尾）。"
            ),
            (ScannerError::Grab { .. }, Locale::English) => format!(
                "Another program is using the scanner at {path}. Close it (or any other \
                 copy of alipay-pos) and restart the terminal."
            ),
            (ScannerError::Grab { .. }, Locale::SimplifiedChinese) => format!(
                "另一个程序正在使用扫码枪（{path}）。请关闭该程序（或另一个 alipay-pos），\
                 然后重新启动终端。"
            ),
            (ScannerError::Open { .. }, Locale::English) => format!(
                "The scanner at {path} cannot be opened. Unplug it, plug it back in and \
                 restart the terminal; see the log for details."
            ),
            (ScannerError::Open { .. }, Locale::SimplifiedChinese) => {
                format!("无法打开扫码枪（{path}）。请拔下后重新插上，再重新启动终端；详情见日志。")
            }
            (ScannerError::Read { .. } | ScannerError::Disconnected { .. }, Locale::English) => {
                format!(
                    "The scanner at {path} stopped working. Check the scanner's cable, then \
                     restart the terminal. Until then, type the customer's payment code."
                )
            }
            (
                ScannerError::Read { .. } | ScannerError::Disconnected { .. },
                Locale::SimplifiedChinese,
            ) => format!(
                "扫码枪（{path}）已停止工作。请检查扫码枪连接线，然后重新启动终端。\
                 在此之前，请手动输入顾客的付款码。"
            ),
            (ScannerError::Unsupported { .. }, Locale::English) => format!(
                "[scanner] device ({path}) only works on Linux. Remove it: the scanner then \
                 works as a keyboard."
            ),
            (ScannerError::Unsupported { .. }, Locale::SimplifiedChinese) => format!(
                "[scanner] device（{path}）仅在 Linux 上可用。请删除该设置：扫码枪将作为键盘使用。"
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path() -> &'static Path {
        Path::new("/dev/input/by-id/usb-Scanner-event-kbd")
    }

    fn all() -> Vec<ScannerError> {
        let p = path().to_path_buf();
        vec![
            ScannerError::NotFound { path: p.clone() },
            ScannerError::PermissionDenied { path: p.clone() },
            ScannerError::NotAKeyboard { path: p.clone() },
            ScannerError::Grab {
                path: p.clone(),
                source: io::Error::from_raw_os_error(16),
            },
            ScannerError::Open {
                path: p.clone(),
                source: io::Error::other("boom"),
            },
            ScannerError::Read {
                path: p.clone(),
                source: io::Error::other("boom"),
            },
            ScannerError::Disconnected { path: p.clone() },
            ScannerError::Unsupported { path: p },
        ]
    }

    #[test]
    fn open_errors_are_sorted_by_what_to_do() {
        let sort = |err| ScannerError::from_open(path(), err);
        assert!(matches!(
            sort(io::Error::from(io::ErrorKind::NotFound)),
            ScannerError::NotFound { .. }
        ));
        assert!(matches!(
            sort(io::Error::from_raw_os_error(19)),
            ScannerError::NotFound { .. }
        ));
        assert!(matches!(
            sort(io::Error::from(io::ErrorKind::PermissionDenied)),
            ScannerError::PermissionDenied { .. }
        ));
        // EACCES as the OS reports it.
        assert!(matches!(
            sort(io::Error::from_raw_os_error(13)),
            ScannerError::PermissionDenied { .. }
        ));
        assert!(matches!(
            sort(io::Error::from_raw_os_error(25)),
            ScannerError::NotAKeyboard { .. }
        ));
        assert!(matches!(
            sort(io::Error::other("odd")),
            ScannerError::Open { .. }
        ));
    }

    #[test]
    fn every_error_has_a_warning_in_both_languages_that_names_the_device() {
        for err in all() {
            let en = err.message(Locale::English);
            let zh = err.message(Locale::SimplifiedChinese);
            assert_ne!(en, zh, "{err}");
            for text in [&en, &zh] {
                assert!(text.contains(&path().display().to_string()), "{text}");
            }
            assert!(en.is_ascii(), "English text: {en}");
            assert!(
                zh.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c)),
                "Chinese text: {zh}"
            );
            assert_eq!(err.path(), path());
            assert!(err.to_string().contains("usb-Scanner-event-kbd"), "{err}");
        }
    }

    #[test]
    fn warnings_say_what_to_do_next() {
        let mut errors = all().into_iter();
        let mut next = || errors.next().unwrap();
        let (not_found, denied, not_kbd, grab) = (next(), next(), next(), next());
        assert!(
            not_found
                .message(Locale::English)
                .contains("Check the scanner's cable")
        );
        assert!(
            not_found
                .message(Locale::English)
                .contains("[scanner] device")
        );
        assert!(
            not_found
                .message(Locale::SimplifiedChinese)
                .contains("[scanner] device")
        );
        assert!(denied.message(Locale::English).contains("\"input\" group"));
        assert!(not_kbd.message(Locale::English).contains("-event-kbd"));
        assert!(grab.message(Locale::English).contains("Another program"));
    }
}
