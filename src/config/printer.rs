//! `[printer]`: the receipt printer (README "Receipts"). Without the table nothing is printed
//! and the Print buttons are hidden. Every key is checked here with its name in the message;
//! the printer itself is not contacted at load, so a printer that is off cannot stop the
//! terminal from taking payments.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use super::ConfigError;
use super::validate::Validator;
use crate::locale::Locale;

/// Port ESC/POS network printers listen on ("raw" / JetDirect printing).
pub const DEFAULT_PRINTER_PORT: u16 = 9100;
/// `[printer] timeout_ms` by default: a printer on the LAN answers within milliseconds; five
/// seconds covers one that is waking up, and is what the escpos crate uses.
pub const DEFAULT_PRINTER_TIMEOUT_MS: u64 = 5000;
/// The range `[printer] timeout_ms` accepts.
pub const PRINTER_TIMEOUT_MS_RANGE: std::ops::RangeInclusive<u64> = 100..=60_000;
/// The folder the preview printer writes to, inside the data folder.
pub const PREVIEW_FOLDER: &str = "receipts";

/// `[printer]`: where receipts go and how the printer wants its text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrinterConfig {
    pub kind: PrinterKind,
    /// The receipts' language; `None`: the language the screen speaks when Print is pressed.
    pub language: Option<Locale>,
    /// How Chinese text is encoded for an ESC/POS printer.
    pub encoding: ReceiptEncoding,
    /// Whether Chinese text is wrapped in `FS &` ... `FS .` (the printer's two-byte
    /// "Chinese/Kanji" mode). Most Chinese printers need it; some print GB18030 without it,
    /// and a UTF-8 printer must not get it.
    pub chinese_mode: bool,
    /// Connect, write and status-read timeout of one print.
    pub timeout: Duration,
}

/// `[printer] kind` and its own keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PrinterKind {
    /// `kind = "network"`: an ESC/POS printer on the LAN (`host`, `port`).
    Network { host: String, port: u16 },
    /// `kind = "usb"`: the printer's device file, e.g. `/dev/usb/lp0` (Linux's usblp).
    Usb { device: PathBuf },
    /// `kind = "preview"`: no printer; each receipt becomes a PNG file in `folder`.
    Preview { folder: PathBuf },
}

/// `[printer] encoding`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ReceiptEncoding {
    /// GB18030: every Chinese character; the default of mainland Chinese printers.
    #[default]
    Gb18030,
    /// GBK: older printers' resident font (a subset of GB18030).
    Gbk,
    /// UTF-8: printers that say they take it (then `chinese_mode` is usually off).
    Utf8,
}

impl ReceiptEncoding {
    /// The spelling in the config file.
    pub fn as_str(self) -> &'static str {
        match self {
            ReceiptEncoding::Gb18030 => "gb18030",
            ReceiptEncoding::Gbk => "gbk",
            ReceiptEncoding::Utf8 => "utf-8",
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawPrinter {
    pub(super) kind: Option<String>,
    pub(super) host: Option<String>,
    pub(super) port: Option<u64>,
    pub(super) device: Option<PathBuf>,
    pub(super) folder: Option<PathBuf>,
    pub(super) timeout_ms: Option<u64>,
    pub(super) language: Option<String>,
    pub(super) encoding: Option<String>,
    pub(super) chinese_mode: Option<bool>,
}

impl Validator<'_> {
    /// `[printer]`, with `data_dir` for the preview printer's default folder.
    pub(super) fn printer(
        &self,
        raw: RawPrinter,
        data_dir: &std::path::Path,
    ) -> Result<PrinterConfig, ConfigError> {
        let kind_name = match raw.kind.as_deref() {
            None => {
                return Err(self.invalid(
                    "printer.kind",
                    "is missing; set it to \"network\", \"usb\" or \"preview\", or remove the \
                     [printer] table to print nothing",
                ));
            }
            Some(kind) => kind,
        };
        // A key that belongs to another kind is refused rather than ignored: it shows that
        // the file means a different printer than the one it names.
        let foreign = |key: &str, present: bool| -> Result<(), ConfigError> {
            if present {
                Err(self.invalid(
                    &format!("printer.{key}"),
                    format!(
                        "does not apply to kind = \"{kind_name}\"; remove it, or change the kind"
                    ),
                ))
            } else {
                Ok(())
            }
        };
        let kind = match kind_name {
            "network" => {
                foreign("device", raw.device.is_some())?;
                foreign("folder", raw.folder.is_some())?;
                let host = match raw.host {
                    None => {
                        return Err(self.invalid(
                            "printer.host",
                            "is missing; kind = \"network\" needs the printer's address, such \
                             as \"192.168.1.50\" (printed on its self-test page)",
                        ));
                    }
                    Some(host) => host,
                };
                let host_ok = !host.is_empty()
                    && host.len() <= 253
                    && host
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':'));
                if !host_ok {
                    return Err(self.invalid(
                        "printer.host",
                        format!(
                            "{host:?} is not a host name or IP address; write it without a \
                             scheme or port, such as \"192.168.1.50\""
                        ),
                    ));
                }
                let port = match raw.port {
                    None => DEFAULT_PRINTER_PORT,
                    Some(port) => match u16::try_from(port) {
                        Ok(port) if port != 0 => port,
                        _ => {
                            return Err(self.invalid(
                                "printer.port",
                                format!(
                                    "is {port}, but must be 1 to 65535; remove the line to use \
                                     {DEFAULT_PRINTER_PORT}"
                                ),
                            ));
                        }
                    },
                };
                PrinterKind::Network { host, port }
            }
            "usb" => {
                foreign("host", raw.host.is_some())?;
                foreign("port", raw.port.is_some())?;
                foreign("folder", raw.folder.is_some())?;
                let device = match raw.device {
                    Some(device) if !device.as_os_str().is_empty() => device,
                    _ => {
                        return Err(self.invalid(
                            "printer.device",
                            "is missing or empty; kind = \"usb\" needs the printer's device \
                             file, such as \"/dev/usb/lp0\"",
                        ));
                    }
                };
                PrinterKind::Usb {
                    device: self.resolve(&device),
                }
            }
            "preview" => {
                foreign("host", raw.host.is_some())?;
                foreign("port", raw.port.is_some())?;
                foreign("device", raw.device.is_some())?;
                let folder = match raw.folder {
                    None => data_dir.join(PREVIEW_FOLDER),
                    Some(folder) if folder.as_os_str().is_empty() => {
                        return Err(self.invalid(
                            "printer.folder",
                            "is empty; set the folder the receipts' PNG files go to, or remove \
                             the line to use <data_dir>/receipts",
                        ));
                    }
                    Some(folder) => self.resolve(&folder),
                };
                PrinterKind::Preview { folder }
            }
            "serial" => {
                return Err(self.invalid(
                    "printer.kind",
                    "\"serial\" is not supported by this build (the escpos crate's serial driver \
                     needs libudev); set the port up with `stty -F /dev/ttyUSB0 9600 raw` and use \
                     kind = \"usb\" with device = \"/dev/ttyUSB0\"",
                ));
            }
            other => {
                return Err(self.invalid(
                    "printer.kind",
                    format!(
                        "{other:?} is not a printer kind; use \"network\", \"usb\" or \"preview\""
                    ),
                ));
            }
        };
        let timeout = match raw.timeout_ms {
            None => Duration::from_millis(DEFAULT_PRINTER_TIMEOUT_MS),
            Some(ms) if PRINTER_TIMEOUT_MS_RANGE.contains(&ms) => Duration::from_millis(ms),
            Some(ms) => {
                return Err(self.invalid(
                    "printer.timeout_ms",
                    format!(
                        "is {ms}, but must be {} to {} milliseconds; remove the line to use \
                         {DEFAULT_PRINTER_TIMEOUT_MS}",
                        PRINTER_TIMEOUT_MS_RANGE.start(),
                        PRINTER_TIMEOUT_MS_RANGE.end()
                    ),
                ));
            }
        };
        let language = match raw.language {
            None => None,
            Some(code) => Some(Locale::from_code(&code).ok_or_else(|| {
                self.invalid(
                    "printer.language",
                    format!(
                        "{code:?} is not a language of the terminal; use \"en\" or \"zh_CN\", \
                         or remove the line to print in the screen's language"
                    ),
                )
            })?),
        };
        let encoding = match raw
            .encoding
            .as_deref()
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            None | Some("gb18030") => ReceiptEncoding::Gb18030,
            Some("gbk") => ReceiptEncoding::Gbk,
            Some("utf-8" | "utf8") => ReceiptEncoding::Utf8,
            Some(other) => {
                return Err(self.invalid(
                    "printer.encoding",
                    format!(
                        "{other:?} is not an encoding receipts can be printed in; use \
                         \"gb18030\" (most Chinese printers), \"gbk\" or \"utf-8\""
                    ),
                ));
            }
        };
        Ok(PrinterConfig {
            kind,
            language,
            encoding,
            chinese_mode: raw
                .chinese_mode
                .unwrap_or(encoding != ReceiptEncoding::Utf8),
            timeout,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::super::test_support::{Fixture, assert_names};
    use super::*;

    #[test]
    fn no_table_means_no_printer() {
        let fixture = Fixture::new();
        assert_eq!(fixture.load("").unwrap().printer, None);
    }

    #[test]
    fn each_kind_reads_its_own_keys() {
        let fixture = Fixture::new();
        let config = fixture
            .load("[printer]\nkind = \"network\"\nhost = \"192.168.1.50\"\n")
            .unwrap();
        let printer = config.printer.unwrap();
        assert_eq!(
            printer.kind,
            PrinterKind::Network {
                host: "192.168.1.50".into(),
                port: 9100
            }
        );
        assert_eq!(printer.timeout, Duration::from_millis(5000));
        assert_eq!(printer.encoding, ReceiptEncoding::Gb18030);
        assert!(printer.chinese_mode);
        assert_eq!(printer.language, None);

        let config = fixture
            .load("[printer]\nkind = \"usb\"\ndevice = \"/dev/usb/lp0\"\nencoding = \"UTF-8\"\nlanguage = \"zh-CN\"\ntimeout_ms = 800\n")
            .unwrap();
        let printer = config.printer.unwrap();
        assert_eq!(
            printer.kind,
            PrinterKind::Usb {
                device: "/dev/usb/lp0".into()
            }
        );
        assert_eq!(printer.encoding, ReceiptEncoding::Utf8);
        assert!(
            !printer.chinese_mode,
            "no FS & for a UTF-8 printer unless asked"
        );
        assert_eq!(printer.language, Some(Locale::SimplifiedChinese));
        assert_eq!(printer.timeout, Duration::from_millis(800));

        let config = fixture.load("[printer]\nkind = \"preview\"\n").unwrap();
        let PrinterKind::Preview { folder } = config.printer.unwrap().kind else {
            panic!("not a preview printer");
        };
        assert_eq!(folder, config.storage.data_dir.join("receipts"));
    }

    #[test]
    fn every_mistake_names_its_key() {
        let fixture = Fixture::new();
        for (toml, key, words) in [
            ("[printer]\n", "printer.kind", "is missing"),
            (
                "[printer]\nkind = \"laser\"\n",
                "printer.kind",
                "not a printer kind",
            ),
            (
                "[printer]\nkind = \"serial\"\n",
                "printer.kind",
                "not supported",
            ),
            (
                "[printer]\nkind = \"network\"\n",
                "printer.host",
                "is missing",
            ),
            (
                "[printer]\nkind = \"network\"\nhost = \"tcp://x:9100\"\n",
                "printer.host",
                "not a host name",
            ),
            (
                "[printer]\nkind = \"network\"\nhost = \"p\"\nport = 70000\n",
                "printer.port",
                "1 to 65535",
            ),
            (
                "[printer]\nkind = \"network\"\nhost = \"p\"\ndevice = \"/dev/usb/lp0\"\n",
                "printer.device",
                "does not apply",
            ),
            (
                "[printer]\nkind = \"usb\"\n",
                "printer.device",
                "is missing",
            ),
            (
                "[printer]\nkind = \"usb\"\ndevice = \"/dev/usb/lp0\"\nhost = \"p\"\n",
                "printer.host",
                "does not apply",
            ),
            (
                "[printer]\nkind = \"preview\"\nfolder = \"\"\n",
                "printer.folder",
                "is empty",
            ),
            (
                "[printer]\nkind = \"preview\"\ntimeout_ms = 5\n",
                "printer.timeout_ms",
                "100 to 60000",
            ),
            (
                "[printer]\nkind = \"preview\"\nlanguage = \"fr\"\n",
                "printer.language",
                "\"en\" or \"zh_CN\"",
            ),
            (
                "[printer]\nkind = \"preview\"\nencoding = \"big5\"\n",
                "printer.encoding",
                "gb18030",
            ),
            (
                "[printer]\nkind = \"preview\"\npaper = \"58mm\"\n",
                "printer.paper",
                "unknown field",
            ),
        ] {
            let err = fixture.error(toml);
            assert_names(&err, &fixture, key, words);
        }
    }
}
