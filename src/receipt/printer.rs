//! Where a receipt goes, and what can go wrong there.
//!
//! [`print`] is blocking (sockets, device files, PNG encoding): callers run it off the UI
//! thread. It never touches the journal, so nothing that happens here can change or lose a
//! sale: the payment was journaled as paid before Print was even offered.
//!
//! Before printing, an ESC/POS printer that can answer is asked its real-time status
//! (`DLE EOT 2`, the offline cause, and `DLE EOT 4`, the paper sensor): paper out and an
//! open cover are reported as such instead of sending a receipt into a printer that
//! cannot print it. A network printer answers; Linux's USB printer device file gives no
//! bounded way to wait for an answer, so a USB printer is not asked, and only an absent or
//! unplugged device is seen (as offline). A printer that does not answer within the
//! timeout is printed to anyway: the status request is a courtesy, not a gate.

use std::fmt;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::time::Duration;

use escpos::driver::{Driver, FileDriver, NetworkDriver};
use escpos::errors::PrinterError;
use escpos::utils::{RealTimeStatusRequest, RealTimeStatusResponse};

use super::Receipt;
use super::escpos_out::{EscposOptions, print_receipt, printer_on};
use crate::config::{PrinterConfig, PrinterKind};
use crate::locale::Locale;

/// Where a receipt ended up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Printed {
    /// Sent to the printer, which reported no fault.
    Paper,
    /// The preview printer wrote this PNG file.
    Preview(PathBuf),
}

/// Why a receipt was not printed. The sale is unaffected in every case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PrintFault {
    /// The printer could not be reached, or stopped answering (the detail says how).
    Offline(String),
    /// The printer reports no paper.
    PaperOut,
    /// The printer reports its cover open.
    CoverOpen,
    /// The printer reports an error of its own (a cutter jam, overheating).
    PrinterError,
    /// The preview printer could not write its file (the detail says why).
    Preview(String),
}

impl fmt::Display for PrintFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message(Locale::English))
    }
}

impl PrintFault {
    /// What happened and what to do, for the cashier.
    pub fn message(&self, locale: Locale) -> String {
        match (self, locale) {
            (PrintFault::Offline(detail), Locale::English) => format!(
                "The printer does not answer ({detail}). Check its power and cable, then press Print again."
            ),
            (PrintFault::Offline(detail), Locale::SimplifiedChinese) => {
                format!("打印机没有响应（{detail}）。请检查电源和连接线，然后再按“打印”。")
            }
            (PrintFault::PaperOut, Locale::English) => {
                "The printer is out of paper. Load a new roll, then press Print again.".into()
            }
            (PrintFault::PaperOut, Locale::SimplifiedChinese) => {
                "打印机缺纸。请装入新纸卷，然后再按“打印”。".into()
            }
            (PrintFault::CoverOpen, Locale::English) => {
                "The printer's cover is open. Close it, then press Print again.".into()
            }
            (PrintFault::CoverOpen, Locale::SimplifiedChinese) => {
                "打印机盖未关好。请盖好后再按“打印”。".into()
            }
            (PrintFault::PrinterError, Locale::English) => {
                "The printer reports an error. Switch it off and on, then press Print again.".into()
            }
            (PrintFault::PrinterError, Locale::SimplifiedChinese) => {
                "打印机报告故障。请关闭后重新打开打印机，然后再按“打印”。".into()
            }
            (PrintFault::Preview(detail), Locale::English) => format!(
                "The receipt picture could not be written ({detail}). Ask the manager to check [printer] in the configuration."
            ),
            (PrintFault::Preview(detail), Locale::SimplifiedChinese) => {
                format!("无法保存小票图片（{detail}）。请经理检查配置中的 [printer]。")
            }
        }
    }
}

/// Prints `receipt` on the configured printer. Blocking; see the module's documentation.
pub fn print(config: &PrinterConfig, receipt: &Receipt) -> Result<Printed, PrintFault> {
    let options = EscposOptions::from_config(config);
    match &config.kind {
        PrinterKind::Network { host, port } => {
            let driver = connect(host, *port, config.timeout)?;
            print_on(driver, receipt, options, true)
        }
        PrinterKind::Usb { device } => {
            let driver = FileDriver::open(device).map_err(|error| {
                PrintFault::Offline(format!("{}: {}", device.display(), io_words(&error)))
            })?;
            print_on(driver, receipt, options, false)
        }
        PrinterKind::Preview { folder } => write_preview(folder, receipt).map(Printed::Preview),
    }
}

/// Connects to a network printer within `timeout` (the escpos crate's own connect takes
/// only IP addresses with a timeout, so the name is resolved here first).
fn connect(host: &str, port: u16, timeout: Duration) -> Result<NetworkDriver, PrintFault> {
    let addresses: Vec<SocketAddr> = (host, port)
        .to_socket_addrs()
        .map_err(|error| PrintFault::Offline(format!("{host}: {error}")))?
        .collect();
    let mut last = format!("{host}: no address");
    for address in addresses {
        match NetworkDriver::open(&address.ip().to_string(), port, Some(timeout)) {
            Ok(driver) => return Ok(driver),
            Err(error) => last = format!("{address}: {}", io_words(&error)),
        }
    }
    Err(PrintFault::Offline(last))
}

/// Asks for the status (when the transport can answer), then prints.
pub fn print_on<D: Driver + Clone>(
    driver: D,
    receipt: &Receipt,
    options: EscposOptions,
    ask_status: bool,
) -> Result<Printed, PrintFault> {
    if ask_status {
        check_status(&driver)?;
    }
    let mut printer = printer_on(driver, options);
    print_receipt(&mut printer, receipt, options)
        .map_err(|error| PrintFault::Offline(io_words(&error)))?;
    Ok(Printed::Paper)
}

/// `DLE EOT 2` and `DLE EOT 4`: a fault the printer reports, or `Ok` when it reports none
/// or does not answer.
pub fn check_status<D: Driver + Clone>(driver: &D) -> Result<(), PrintFault> {
    if let Some(cause) = ask(driver, RealTimeStatusRequest::OfflineCause)? {
        if cause.get(&RealTimeStatusResponse::CoverClosed) == Some(&false) {
            return Err(PrintFault::CoverOpen);
        }
        if cause.get(&RealTimeStatusResponse::PrintingStopsDueToPaperEnd) == Some(&true) {
            return Err(PrintFault::PaperOut);
        }
        if cause.get(&RealTimeStatusResponse::ErrorOccurred) == Some(&true) {
            return Err(PrintFault::PrinterError);
        }
    }
    if let Some(paper) = ask(driver, RealTimeStatusRequest::RollPaperSensor)?
        && paper.get(&RealTimeStatusResponse::RollPaperEndSensorPaperPresent) == Some(&false)
    {
        return Err(PrintFault::PaperOut);
    }
    Ok(())
}

type StatusBits = std::collections::HashMap<RealTimeStatusResponse, bool>;

/// One real-time status request and its one-byte answer; `None` when the printer gives
/// none in time (or an answer that is not a status byte).
fn ask<D: Driver + Clone>(
    driver: &D,
    request: RealTimeStatusRequest,
) -> Result<Option<StatusBits>, PrintFault> {
    let mut printer = printer_on(driver.clone(), EscposOptions::default());
    printer
        .real_time_status(request)
        .and_then(|p| p.send_status())
        .map_err(|error| PrintFault::Offline(io_words(&error)))?;
    let mut answer = [0u8; 1];
    match driver.read(&mut answer) {
        Ok(1) => match RealTimeStatusResponse::parse(request, answer[0]) {
            Ok(bits) => Ok(Some(bits)),
            Err(error) => {
                tracing::warn!(%error, ?request, "the printer's status answer is not a status byte");
                Ok(None)
            }
        },
        Ok(_) => Ok(None),
        Err(error) => {
            tracing::info!(error = %io_words(&error), ?request, "the printer gave no status; printing anyway");
            Ok(None)
        }
    }
}

fn io_words(error: &PrinterError) -> String {
    match error {
        PrinterError::Io(words) => words.clone(),
        other => other.to_string(),
    }
}

/// The preview printer: `<folder>/<requestId>[-copy].png`, written atomically.
fn write_preview(folder: &Path, receipt: &Receipt) -> Result<PathBuf, PrintFault> {
    let png = super::preview::render_png(receipt).map_err(PrintFault::Preview)?;
    std::fs::create_dir_all(folder)
        .map_err(|error| PrintFault::Preview(format!("{}: {error}", folder.display())))?;
    let path = folder.join(format!("{}.png", receipt.file_stem()));
    crate::private_fs::write_private(&path, &png)
        .map_err(|error| PrintFault::Preview(format!("{}: {error}", path.display())))?;
    Ok(path)
}
