//! The real [`ReceiptPrinter`]: each print runs on a thread of its own (sockets, device
//! files and PNG encoding block), and its answer comes back to the UI thread. A second
//! thread waits for it with a deadline, so a printer that hangs (a device file that stops
//! taking bytes) is reported offline instead of leaving "Printing…" on screen for ever.

use std::sync::mpsc;
use std::time::Duration;

use super::controllers::printing::ReceiptPrinter;
use super::engine_handle::Reply;
use crate::config::PrinterConfig;
use crate::receipt::{PrintFault, Printed, Receipt};

pub struct ThreadPrinter {
    config: PrinterConfig,
}

impl ThreadPrinter {
    pub fn new(config: PrinterConfig) -> ThreadPrinter {
        ThreadPrinter { config }
    }

    /// How long a print may take: a connect, two status reads and the write, each within
    /// the timeout, and a margin.
    fn deadline(&self) -> Duration {
        self.config.timeout * 4 + Duration::from_secs(2)
    }
}

impl ReceiptPrinter for ThreadPrinter {
    fn print(&self, receipt: Receipt, done: Reply<Result<Printed, PrintFault>>) {
        let config = self.config.clone();
        let deadline = self.deadline();
        let (answer_tx, answer_rx) = tokio::sync::oneshot::channel();
        let (work_tx, work_rx) = mpsc::channel();
        let spawned = std::thread::Builder::new()
            .name("alipay-pos-printer".into())
            .spawn(move || {
                let _ = work_tx.send(crate::receipt::print(&config, &receipt));
            });
        if let Err(error) = spawned {
            done(Err(PrintFault::Offline(format!(
                "cannot start printing: {error}"
            ))));
            return;
        }
        let waiter = std::thread::Builder::new()
            .name("alipay-pos-printer-wait".into())
            .spawn(move || {
                let answer = work_rx.recv_timeout(deadline).unwrap_or_else(|_| {
                    Err(PrintFault::Offline(format!(
                        "no answer within {} s",
                        deadline.as_secs()
                    )))
                });
                let _ = answer_tx.send(answer);
            });
        if let Err(error) = waiter {
            done(Err(PrintFault::Offline(format!(
                "cannot wait for the printer: {error}"
            ))));
            return;
        }
        let queued = slint::spawn_local(async move {
            match answer_rx.await {
                Ok(answer) => done(answer),
                Err(_) => done(Err(PrintFault::Offline("the print stopped".into()))),
            }
        });
        if let Err(error) = queued {
            // The event loop has ended: the window is closing, nothing left to show.
            tracing::debug!(%error, "printer answer dropped");
        }
    }
}
