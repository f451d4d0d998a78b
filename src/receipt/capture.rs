//! An in-memory ESC/POS driver for tests: it keeps every byte a printer would have been
//! sent and answers status requests (`DLE EOT n`) with the bytes it was given.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};

use escpos::driver::Driver;
use escpos::errors::Result as EscposResult;

/// What a [`CaptureDriver`] received and what it answers.
#[derive(Debug, Default)]
struct Captured {
    written: Vec<u8>,
    answers: VecDeque<u8>,
}

/// A printer in memory. Clones share the same bytes.
#[derive(Debug, Clone, Default)]
pub struct CaptureDriver {
    inner: Arc<Mutex<Captured>>,
}

impl CaptureDriver {
    pub fn new() -> CaptureDriver {
        CaptureDriver::default()
    }

    /// A driver that answers the status requests with `answers`, one byte per request.
    pub fn answering(answers: &[u8]) -> CaptureDriver {
        let driver = CaptureDriver::default();
        driver.lock().answers.extend(answers);
        driver
    }

    /// Every byte written so far.
    pub fn bytes(&self) -> Vec<u8> {
        self.lock().written.clone()
    }

    fn lock(&self) -> MutexGuard<'_, Captured> {
        // A test that panicked while holding the lock has failed already.
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Driver for CaptureDriver {
    fn name(&self) -> String {
        "capture".to_owned()
    }

    fn write(&self, data: &[u8]) -> EscposResult<()> {
        self.lock().written.extend_from_slice(data);
        Ok(())
    }

    fn read(&self, buf: &mut [u8]) -> EscposResult<usize> {
        let mut captured = self.lock();
        let mut n = 0;
        while n < buf.len() {
            match captured.answers.pop_front() {
                Some(byte) => {
                    buf[n] = byte;
                    n += 1;
                }
                None => break,
            }
        }
        Ok(n)
    }

    fn flush(&self) -> EscposResult<()> {
        Ok(())
    }
}
