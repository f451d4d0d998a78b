//! A scanner named by `[scanner] device`, read straight from its evdev device and grabbed
//! exclusively.
//!
//! Why the exclusive grab (`EVIOCGRAB`): a scanner in keyboard mode is a keyboard to the
//! desktop, so without it every scanned payment code would also arrive in whatever field
//! has the focus (a description, a refund reason), and its final Enter would press that
//! page's default button (Charge, New sale). Grabbed, the device's keys reach this process
//! only, never the UI as typing; the code comes out once, as [`ScannerEvent::Scanned`].
//!
//! A dedicated reader thread waits in `poll(2)` on the device and on a stop socket, then
//! reads with `fetch_events`; dropping the [`GrabbedScanner`] closes the socket, which wakes
//! the thread at once (a plain blocking read would only return at the next key), and the
//! thread ungrabs the device and ends. Every Enter/Tab (or the configured suffix) ends a
//! code; the prefix and suffix are stripped. A partial code left for longer than
//! [`PREFIXED_SCAN_TIMEOUT`] (a scan cut off) is dropped rather than glued to the next one.
//! Everything from the device is a scan, so `min_length` and `max_key_gap` do not apply
//! here; the caller checks the code's format.
//!
//! The code is a bearer secret (whoever has it can take the customer's money): it is
//! logged by length only.

use std::fs;
use std::io;
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::fs::FileTypeExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::thread::{self, JoinHandle};
use std::time::{Duration, SystemTime};

use evdev::{Device, EventSummary, KeyCode};
use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};

use super::ScannerEvent;
use super::error::ScannerError;
use super::keymap;
use super::wedge::{MAX_HELD_CHARS, PREFIXED_SCAN_TIMEOUT, WedgeSettings};

/// A grabbed scanner and its reader thread. Dropping it ungrabs the device (its keys go
/// back to the desktop) and ends the thread.
pub struct GrabbedScanner {
    path: PathBuf,
    /// Closing it wakes the reader thread, which then stops.
    stop: Option<UnixStream>,
    thread: Option<JoinHandle<()>>,
}

impl GrabbedScanner {
    /// The device this scanner reads.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl std::fmt::Debug for GrabbedScanner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GrabbedScanner")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl Drop for GrabbedScanner {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            // Dropped from inside `on_event` (the reader thread itself): it ends on its own
            // after the callback returns, and joining itself would never return.
            if thread.thread().id() != thread::current().id() && thread.join().is_err() {
                tracing::warn!(device = %self.path.display(), "scanner reader thread panicked");
            }
        }
    }
}

/// Opens the evdev device at `path`, grabs it exclusively and starts its reader thread,
/// which calls `on_event` with every scanned code and, once, if the device is lost.
/// `on_event` runs on that thread: a GUI hands the event to its own thread (Slint's
/// `invoke_from_event_loop`).
///
/// A missing, unreadable or wrong device is an error value (see [`ScannerError`]); nothing
/// is grabbed then.
pub fn grab(
    path: &Path,
    settings: &WedgeSettings,
    on_event: impl Fn(ScannerEvent) + Send + 'static,
) -> Result<GrabbedScanner, ScannerError> {
    let metadata = fs::metadata(path).map_err(|err| ScannerError::from_open(path, err))?;
    if !metadata.file_type().is_char_device() {
        return Err(ScannerError::NotAKeyboard {
            path: path.to_path_buf(),
        });
    }
    let mut device = Device::open(path).map_err(|err| ScannerError::from_open(path, err))?;
    if !looks_like_keyboard(&device) {
        return Err(ScannerError::NotAKeyboard {
            path: path.to_path_buf(),
        });
    }
    device.grab().map_err(|source| ScannerError::Grab {
        path: path.to_path_buf(),
        source,
    })?;
    // Non-blocking: the thread waits in poll(2), and a spurious wake-up must not block.
    device
        .set_nonblocking(true)
        .map_err(|source| ScannerError::Open {
            path: path.to_path_buf(),
            source,
        })?;
    tracing::info!(
        device = %path.display(),
        name = device.name().unwrap_or("?"),
        "scanner grabbed"
    );
    spawn_reader(DeviceSource(device), path, settings, on_event)
}

/// A scanner has Enter and the ten digits, on the top row or the keypad; a mouse, a power
/// button or a touch screen has not.
fn looks_like_keyboard(device: &Device) -> bool {
    let Some(keys) = device.supported_keys() else {
        return false;
    };
    let top_row = [
        KeyCode::KEY_0,
        KeyCode::KEY_1,
        KeyCode::KEY_2,
        KeyCode::KEY_3,
        KeyCode::KEY_4,
        KeyCode::KEY_5,
        KeyCode::KEY_6,
        KeyCode::KEY_7,
        KeyCode::KEY_8,
        KeyCode::KEY_9,
    ];
    let keypad = [
        KeyCode::KEY_KP0,
        KeyCode::KEY_KP1,
        KeyCode::KEY_KP2,
        KeyCode::KEY_KP3,
        KeyCode::KEY_KP4,
        KeyCode::KEY_KP5,
        KeyCode::KEY_KP6,
        KeyCode::KEY_KP7,
        KeyCode::KEY_KP8,
        KeyCode::KEY_KP9,
    ];
    let enter = keys.contains(KeyCode::KEY_ENTER) || keys.contains(KeyCode::KEY_KPENTER);
    let digits =
        top_row.iter().all(|k| keys.contains(*k)) || keypad.iter().all(|k| keys.contains(*k));
    enter && digits
}

/// One key event: its code, 1 pressed / 0 released / 2 auto-repeat, and when.
#[derive(Debug, Clone, Copy)]
struct KeyPress {
    code: KeyCode,
    value: i32,
    at: Duration,
}

/// Where the reader thread gets keys: the grabbed device, or a socket in the tests.
trait KeySource: AsFd {
    /// Appends the keys available now; `WouldBlock` when there are none.
    fn keys(&mut self, out: &mut Vec<KeyPress>) -> io::Result<()>;
    /// Gives the device back to the desktop.
    fn release(&mut self);
}

struct DeviceSource(Device);

impl AsFd for DeviceSource {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.0.as_fd()
    }
}

impl KeySource for DeviceSource {
    fn keys(&mut self, out: &mut Vec<KeyPress>) -> io::Result<()> {
        for event in self.0.fetch_events()? {
            if let EventSummary::Key(_, code, value) = event.destructure() {
                let at = event
                    .timestamp()
                    .duration_since(SystemTime::UNIX_EPOCH)
                    .unwrap_or_default();
                out.push(KeyPress { code, value, at });
            }
        }
        Ok(())
    }

    fn release(&mut self) {
        // Closing the device releases the grab as well; this only makes it explicit.
        if let Err(err) = self.0.ungrab() {
            tracing::debug!(error = %err, "scanner ungrab failed (device gone?)");
        }
    }
}

fn spawn_reader<S: KeySource + Send + 'static>(
    source: S,
    path: &Path,
    settings: &WedgeSettings,
    on_event: impl Fn(ScannerEvent) + Send + 'static,
) -> Result<GrabbedScanner, ScannerError> {
    let open_error = |source| ScannerError::Open {
        path: path.to_path_buf(),
        source,
    };
    let (stop, stop_wait) = UnixStream::pair().map_err(open_error)?;
    let assembler = CodeAssembler::new(settings);
    let thread_path = path.to_path_buf();
    let thread = thread::Builder::new()
        .name("scanner-reader".to_owned())
        .spawn(move || read_loop(source, &stop_wait, thread_path, assembler, on_event))
        .map_err(open_error)?;
    Ok(GrabbedScanner {
        path: path.to_path_buf(),
        stop: Some(stop),
        thread: Some(thread),
    })
}

/// The reader thread: wait for keys or the stop socket, turn keys into codes, until stopped
/// or the device is lost.
fn read_loop<S: KeySource>(
    mut source: S,
    stop: &UnixStream,
    path: PathBuf,
    mut assembler: CodeAssembler,
    on_event: impl Fn(ScannerEvent),
) {
    let mut keys = Vec::new();
    let lost = loop {
        let (stopped, device) = {
            let mut fds = [
                PollFd::new(source.as_fd(), PollFlags::POLLIN),
                PollFd::new(stop.as_fd(), PollFlags::POLLIN),
            ];
            match poll(&mut fds, PollTimeout::NONE) {
                Ok(_) => {}
                Err(Errno::EINTR) => continue,
                Err(errno) => {
                    break Some(ScannerError::Read {
                        path,
                        source: errno.into(),
                    });
                }
            }
            let revents = |fd: &PollFd<'_>| fd.revents().unwrap_or(PollFlags::empty());
            (!revents(&fds[1]).is_empty(), revents(&fds[0]))
        };
        if stopped {
            break None;
        }
        if device.contains(PollFlags::POLLIN) {
            keys.clear();
            match source.keys(&mut keys) {
                Ok(()) => {}
                Err(err)
                    if matches!(
                        err.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
                    ) => {}
                Err(err) if err.raw_os_error() == Some(Errno::ENODEV as i32) => {
                    break Some(ScannerError::Disconnected { path });
                }
                Err(source) => break Some(ScannerError::Read { path, source }),
            }
            for key in &keys {
                if let Some(code) = assembler.key(key.code, key.value, key.at) {
                    // The code itself is a bearer secret: its length only.
                    tracing::info!(chars = code.chars().count(), "scanner: code scanned");
                    on_event(ScannerEvent::Scanned(code));
                }
            }
        } else if device.intersects(PollFlags::POLLERR | PollFlags::POLLHUP | PollFlags::POLLNVAL) {
            break Some(ScannerError::Disconnected { path });
        }
    };
    source.release();
    if let Some(err) = lost {
        tracing::warn!(error = %err, "scanner lost");
        on_event(ScannerEvent::Lost(err));
    }
}

const PRESSED: i32 = 1;

/// Key events to codes: tracks Shift, collects characters, and ends a code at Enter/Tab or
/// the suffix. Pure, so its rules are tested without a device.
struct CodeAssembler {
    prefix: Option<String>,
    suffix: Option<String>,
    buffer: String,
    left_shift: bool,
    right_shift: bool,
    last: Option<Duration>,
}

impl CodeAssembler {
    fn new(settings: &WedgeSettings) -> Self {
        CodeAssembler {
            prefix: settings.prefix.clone().filter(|p| !p.is_empty()),
            suffix: settings.suffix.clone().filter(|s| !s.is_empty()),
            buffer: String::new(),
            left_shift: false,
            right_shift: false,
            last: None,
        }
    }

    /// One key event; returns a finished code (never empty). Releases and auto-repeats
    /// only matter for Shift.
    fn key(&mut self, code: KeyCode, value: i32, at: Duration) -> Option<String> {
        if keymap::is_shift(code) {
            let held = value != 0;
            if code == KeyCode::KEY_LEFTSHIFT {
                self.left_shift = held;
            } else {
                self.right_shift = held;
            }
            return None;
        }
        if value != PRESSED {
            return None;
        }
        if self
            .last
            .is_some_and(|last| at.saturating_sub(last) > PREFIXED_SCAN_TIMEOUT)
        {
            self.buffer.clear();
        }
        self.last = Some(at);
        if keymap::is_terminator(code) {
            return self.finish();
        }
        let c = keymap::translate(code, self.left_shift || self.right_shift)?;
        self.buffer.push(c);
        if self.ends_in_suffix() {
            return self.finish();
        }
        if self.buffer.chars().count() > MAX_HELD_CHARS {
            // A key stuck down, not a code.
            self.buffer.clear();
        }
        None
    }

    fn body(&self) -> &str {
        let buffer = self.buffer.as_str();
        match &self.prefix {
            Some(prefix) => buffer.strip_prefix(prefix.as_str()).unwrap_or(buffer),
            None => buffer,
        }
    }

    fn ends_in_suffix(&self) -> bool {
        let body = self.body();
        self.suffix
            .as_deref()
            .is_some_and(|suffix| body.len() > suffix.len() && body.ends_with(suffix))
    }

    fn finish(&mut self) -> Option<String> {
        let body = self.body();
        let code = match &self.suffix {
            Some(suffix) => body.strip_suffix(suffix.as_str()).unwrap_or(body),
            None => body,
        };
        let code = (!code.is_empty()).then(|| code.to_owned());
        self.buffer.clear();
        code
    }
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::mpsc;

    use super::*;

    fn settings(prefix: Option<&str>, suffix: Option<&str>) -> WedgeSettings {
        WedgeSettings {
            prefix: prefix.map(str::to_owned),
            suffix: suffix.map(str::to_owned),
            ..WedgeSettings::default()
        }
    }

    /// Presses and releases for the text (US layout, Shift for `~`, `#`, capitals) and a
    /// final Enter.
    fn presses(text: &str, enter: bool) -> Vec<(KeyCode, i32)> {
        let mut out = Vec::new();
        for c in text.chars() {
            let (key, shift) = match c {
                '0' => (KeyCode::KEY_0, false),
                '1'..='9' => (
                    KeyCode::new(KeyCode::KEY_1.0 + (c as u16 - '1' as u16)),
                    false,
                ),
                '~' => (KeyCode::KEY_GRAVE, true),
                '#' => (KeyCode::KEY_3, true),
                'A' => (KeyCode::KEY_A, true),
                'a' => (KeyCode::KEY_A, false),
                other => panic!("no key for {other:?} in this test"),
            };
            if shift {
                out.push((KeyCode::KEY_LEFTSHIFT, 1));
            }
            out.push((key, 1));
            out.push((key, 0));
            if shift {
                out.push((KeyCode::KEY_LEFTSHIFT, 0));
            }
        }
        if enter {
            out.push((KeyCode::KEY_ENTER, 1));
            out.push((KeyCode::KEY_ENTER, 0));
        }
        out
    }

    fn assemble(asm: &mut CodeAssembler, keys: &[(KeyCode, i32)], at: Duration) -> Vec<String> {
        keys.iter()
            .filter_map(|(code, value)| asm.key(*code, *value, at))
            .collect()
    }

    #[test]
    fn one_code_per_enter() {
        let mut asm = CodeAssembler::new(&WedgeSettings::default());
        let mut keys = presses("2811234567890123", true);
        keys.extend(presses("99", true));
        assert_eq!(
            assemble(&mut asm, &keys, Duration::ZERO),
            vec!["2811234567890123", "99"]
        );
    }

    #[test]
    fn shift_from_either_side_and_keypad_digits() {
        let mut asm = CodeAssembler::new(&WedgeSettings::default());
        let keys = [
            (KeyCode::KEY_RIGHTSHIFT, 1),
            (KeyCode::KEY_A, 1),
            (KeyCode::KEY_RIGHTSHIFT, 0),
            (KeyCode::KEY_A, 1),
            (KeyCode::KEY_KP7, 1),
            (KeyCode::KEY_KP0, 1),
            (KeyCode::KEY_KPENTER, 1),
        ];
        assert_eq!(assemble(&mut asm, &keys, Duration::ZERO), vec!["Aa70"]);
    }

    #[test]
    fn tab_ends_a_code_and_repeats_and_untranslatable_keys_add_nothing() {
        let mut asm = CodeAssembler::new(&WedgeSettings::default());
        let keys = [
            (KeyCode::KEY_1, 1),
            (KeyCode::KEY_1, 2),
            (KeyCode::KEY_LEFTCTRL, 1),
            (KeyCode::KEY_F5, 1),
            (KeyCode::KEY_2, 1),
            (KeyCode::KEY_TAB, 1),
        ];
        assert_eq!(assemble(&mut asm, &keys, Duration::ZERO), vec!["12"]);
    }

    #[test]
    fn prefix_and_suffix_are_stripped_and_the_suffix_ends_the_code() {
        let mut asm = CodeAssembler::new(&settings(Some("~"), Some("#")));
        // Suffix then the scanner's Enter: one code, the Enter adds nothing.
        let keys = presses("~123#", true);
        assert_eq!(assemble(&mut asm, &keys, Duration::ZERO), vec!["123"]);
        // Without a prefix in the scan it is kept as it is.
        let keys = presses("45", true);
        assert_eq!(assemble(&mut asm, &keys, Duration::ZERO), vec!["45"]);
        // A prefix that is also the suffix does not end an empty code.
        let mut asm = CodeAssembler::new(&settings(Some("~"), Some("~")));
        let keys = presses("~7~", false);
        assert_eq!(assemble(&mut asm, &keys, Duration::ZERO), vec!["7"]);
    }

    #[test]
    fn empty_codes_are_not_emitted() {
        let mut asm = CodeAssembler::new(&settings(Some("~"), None));
        let mut keys = presses("", true);
        keys.extend(presses("~", true));
        assert!(assemble(&mut asm, &keys, Duration::ZERO).is_empty());
    }

    #[test]
    fn a_stale_partial_code_is_dropped() {
        let mut asm = CodeAssembler::new(&WedgeSettings::default());
        assert!(assemble(&mut asm, &presses("12", false), Duration::ZERO).is_empty());
        let later = PREFIXED_SCAN_TIMEOUT + Duration::from_millis(1);
        assert_eq!(assemble(&mut asm, &presses("34", true), later), vec!["34"]);
    }

    /// A key source over a socket: each 3-byte record is a key code (u16, little endian)
    /// and a value; end of file is an unplugged device.
    struct SocketSource {
        socket: UnixStream,
        released: Arc<AtomicBool>,
    }

    impl AsFd for SocketSource {
        fn as_fd(&self) -> BorrowedFd<'_> {
            self.socket.as_fd()
        }
    }

    impl KeySource for SocketSource {
        fn keys(&mut self, out: &mut Vec<KeyPress>) -> io::Result<()> {
            let mut buf = [0u8; 3 * 64];
            let n = self.socket.read(&mut buf)?;
            if n == 0 {
                return Err(io::Error::from_raw_os_error(Errno::ENODEV as i32));
            }
            for record in buf[..n].chunks_exact(3) {
                out.push(KeyPress {
                    code: KeyCode::new(u16::from_le_bytes([record[0], record[1]])),
                    value: i32::from(record[2]),
                    at: Duration::ZERO,
                });
            }
            Ok(())
        }

        fn release(&mut self) {
            self.released.store(true, Ordering::SeqCst);
        }
    }

    fn send(socket: &mut UnixStream, keys: &[(KeyCode, i32)]) {
        let mut bytes = Vec::new();
        for (code, value) in keys {
            bytes.extend_from_slice(&code.0.to_le_bytes());
            bytes.push(u8::try_from(*value).unwrap());
        }
        socket.write_all(&bytes).unwrap();
    }

    type Started = (
        GrabbedScanner,
        UnixStream,
        mpsc::Receiver<ScannerEvent>,
        Arc<AtomicBool>,
    );

    fn start(settings: &WedgeSettings) -> Started {
        let (device_end, test_end) = UnixStream::pair().unwrap();
        device_end.set_nonblocking(true).unwrap();
        let released = Arc::new(AtomicBool::new(false));
        let source = SocketSource {
            socket: device_end,
            released: released.clone(),
        };
        let (tx, rx) = mpsc::channel();
        let scanner = spawn_reader(
            source,
            Path::new("/dev/input/test-scanner"),
            settings,
            move |event| {
                let _ = tx.send(event);
            },
        )
        .unwrap();
        (scanner, test_end, rx, released)
    }

    const WAIT: Duration = Duration::from_secs(10);

    #[test]
    fn the_reader_thread_emits_codes_and_stops_when_dropped() {
        let (scanner, mut device, events, released) = start(&settings(Some("~"), None));
        send(&mut device, &presses("~2811", true));
        match events.recv_timeout(WAIT).unwrap() {
            ScannerEvent::Scanned(code) => assert_eq!(code, "2811"),
            other => panic!("{other:?}"),
        }
        send(&mut device, &presses("42", true));
        assert!(
            matches!(events.recv_timeout(WAIT).unwrap(), ScannerEvent::Scanned(c) if c == "42")
        );
        assert_eq!(scanner.path(), Path::new("/dev/input/test-scanner"));
        // Dropping joins the thread, so afterwards the device is released and the callback
        // (the only sender) is gone: no Lost event for an orderly stop.
        drop(scanner);
        assert!(released.load(Ordering::SeqCst));
        assert!(matches!(
            events.recv_timeout(WAIT),
            Err(mpsc::RecvTimeoutError::Disconnected)
        ));
    }

    #[test]
    fn an_unplugged_device_is_lost_once() {
        let (scanner, device, events, released) = start(&WedgeSettings::default());
        drop(device);
        match events.recv_timeout(WAIT).unwrap() {
            ScannerEvent::Lost(ScannerError::Disconnected { path }) => {
                assert_eq!(path, Path::new("/dev/input/test-scanner"));
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            events.recv_timeout(WAIT),
            Err(mpsc::RecvTimeoutError::Disconnected)
        ));
        assert!(released.load(Ordering::SeqCst));
        drop(scanner);
    }
}
