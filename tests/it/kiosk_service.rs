//! The kiosk as systemd runs it (packaging/alipay-pos-kiosk.service), with the real binary
//! on a virtual screen: readiness and the watchdog over a real notify socket, the journal
//! as its log, the whole screen covered without a window manager, and a missing config
//! file refused before anything starts.

use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::binary;
use crate::support::virtual_screen::VirtualScreen;

/// A config file in `dir` that keeps the data in `dir/data` (the embedded sandbox).
fn config_in(dir: &Path) -> (PathBuf, PathBuf) {
    let data = dir.join("data");
    let config = dir.join("config.toml");
    std::fs::write(
        &config,
        format!("[storage]\ndata_dir = \"{}\"\n", data.display()),
    )
    .unwrap();
    (config, data)
}

/// The real binary as a kiosk on `screen` (software renderer: no GPU in Xvfb), with none of
/// the variables of the service that runs this test leaking in.
fn kiosk_command(screen: &VirtualScreen, config: &Path) -> Command {
    let mut command = Command::new(binary());
    command
        .arg("--config")
        .arg(config)
        .arg("--kiosk")
        .env("DISPLAY", &screen.display)
        .env("SLINT_BACKEND", "winit-software")
        .env_remove("WAYLAND_DISPLAY")
        .env_remove("ALIPAY_POS_CONFIG")
        .env_remove("ALIPAY_POS_REQUIRE_LIVE")
        .env_remove("NOTIFY_SOCKET")
        .env_remove("WATCHDOG_USEC")
        .env_remove("WATCHDOG_PID")
        .env_remove("JOURNAL_STREAM")
        .env_remove("STATE_DIRECTORY")
        .stdin(Stdio::null());
    command
}

/// Kills the kiosk when the test ends, however it ends.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// One datagram from the app, with what the data folder held when it arrived.
#[derive(Debug)]
struct Notice {
    text: String,
    journal_existed: bool,
}

#[test]
fn the_kiosk_is_ready_only_once_its_engine_started_and_pets_the_watchdog_from_its_event_loop() {
    let Some(screen) = VirtualScreen::start() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (config, data) = config_in(dir.path());
    let socket_path = dir.path().join("notify.sock");
    let socket = UnixDatagram::bind(&socket_path).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    // The journal stream systemd would hand over: a file whose device and inode the app
    // compares with its stderr's.
    let stderr_path = dir.path().join("stderr.log");
    let stderr = std::fs::File::create(&stderr_path).unwrap();
    let meta = stderr.metadata().unwrap();
    let journal_stream = format!("{}:{}", meta.dev(), meta.ino());

    let mut command = kiosk_command(&screen, &config);
    command
        .env("NOTIFY_SOCKET", &socket_path)
        // 0.4 s: a pet every 0.2 s.
        .env("WATCHDOG_USEC", "400000")
        // Another process's watchdog, as under cage: the pets must still come.
        .env("WATCHDOG_PID", "1")
        .env("JOURNAL_STREAM", &journal_stream)
        .stdout(Stdio::null())
        .stderr(stderr);
    let _kiosk = Running(command.spawn().unwrap());

    let journal = data.join("journal.sqlite");
    let mut notices: Vec<Notice> = Vec::new();
    let mut buffer = [0u8; 4096];
    let deadline = Instant::now() + Duration::from_secs(120);
    let pets_after_ready = |notices: &[Notice]| {
        notices
            .iter()
            .skip_while(|n| !n.text.contains("READY=1"))
            .filter(|n| n.text == "WATCHDOG=1\n")
            .count()
    };
    while pets_after_ready(&notices) < 5 {
        assert!(
            Instant::now() < deadline,
            "no READY=1 and five pets after it: {notices:?}; stderr: {}",
            std::fs::read_to_string(&stderr_path).unwrap_or_default()
        );
        if let Ok(length) = socket.recv(&mut buffer) {
            notices.push(Notice {
                text: String::from_utf8_lossy(&buffer[..length]).into_owned(),
                journal_existed: journal.exists(),
            });
        }
    }

    assert_eq!(
        notices[0].text, "STATUS=starting the terminal / 正在启动终端\n",
        "the first word is the start: {notices:?}"
    );
    let ready: Vec<&Notice> = notices
        .iter()
        .filter(|n| n.text.contains("READY=1"))
        .collect();
    assert_eq!(ready.len(), 1, "READY=1 once: {notices:?}");
    assert_eq!(
        ready[0].text,
        "READY=1\nSTATUS=taking payments (sandbox) / 正在收款（sandbox）\n"
    );
    assert!(
        ready[0].journal_existed,
        "READY=1 came before the engine opened its journal: {notices:?}"
    );
    // Pets start with the window, before the engine is ready too.
    assert!(
        notices
            .iter()
            .take_while(|n| !n.text.contains("READY=1"))
            .any(|n| n.text == "WATCHDOG=1\n"),
        "{notices:?}"
    );
    assert!(
        notices.iter().all(|n| n.text.starts_with("STATUS=")
            || n.text.starts_with("READY=1\n")
            || n.text == "WATCHDOG=1\n"),
        "only status, ready and pets: {notices:?}"
    );

    // Its log went to the "journal" (stderr), not to a file under data_dir.
    let mut logged = String::new();
    std::fs::File::open(&stderr_path)
        .unwrap()
        .read_to_string(&mut logged)
        .unwrap();
    assert!(logged.contains(" INFO "), "no log line on stderr: {logged}");
    assert!(
        !logged.contains("\u{1b}["),
        "colours in the journal: {logged}"
    );
    assert!(
        !data.join("logs").exists(),
        "a log file was written beside the journal's"
    );
}

/// The colour of the pixel at (x, y) of an RGB(A) PNG.
fn pixel(image: &png::OutputInfo, bytes: &[u8], x: u32, y: u32) -> [u8; 3] {
    let channels = image.color_type.samples();
    let at = (y as usize) * image.line_size + (x as usize) * channels;
    [bytes[at], bytes[at + 1], bytes[at + 2]]
}

#[test]
fn a_kiosk_without_a_window_manager_covers_the_whole_screen() {
    // Larger than the window's preferred 1024×768, so only sizing it to the screen fills it.
    let Some(screen) = VirtualScreen::start_sized(1280, 1024) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (config, _) = config_in(dir.path());
    let mut command = kiosk_command(&screen, &config);
    command.stdout(Stdio::null()).stderr(Stdio::null());
    let _kiosk = Running(command.spawn().unwrap());

    let whole = (0, 0, screen.width, screen.height);
    let deadline = Instant::now() + Duration::from_secs(90);
    let mut geometry = None;
    while geometry != Some(whole) {
        assert!(
            Instant::now() < deadline,
            "the kiosk window is at {geometry:?}, not {whole:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
        geometry = screen.terminal_geometry();
    }

    // The screenshot shows the app everywhere: no corner is the black root window.
    let shot = dir.path().join("screen.png");
    let corners = [
        (0, 0),
        (screen.width - 1, 0),
        (0, screen.height - 1),
        (screen.width - 1, screen.height - 1),
    ];
    let seen = loop {
        assert!(screen.screenshot(&shot), "import failed");
        let decoder =
            png::Decoder::new(std::io::BufReader::new(std::fs::File::open(&shot).unwrap()));
        let mut reader = decoder.read_info().unwrap();
        let mut bytes = vec![0; reader.output_buffer_size().unwrap()];
        let info = reader.next_frame(&mut bytes).unwrap();
        assert_eq!((info.width, info.height), (screen.width, screen.height));
        let seen: Vec<[u8; 3]> = corners
            .iter()
            .map(|&(x, y)| pixel(&info, &bytes, x, y))
            .collect();
        if seen.iter().all(|colour| *colour != [0, 0, 0]) {
            break seen;
        }
        assert!(
            Instant::now() < deadline,
            "a corner of the screen is not the app's: {seen:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(seen.len(), 4, "{seen:?}");
}

#[test]
fn a_missing_config_file_stops_the_service_with_a_bilingual_message_and_starts_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    std::fs::create_dir(&home).unwrap();
    let missing = dir.path().join("etc/alipay-pos/config.toml");
    // As the unit runs it: with and without ALIPAY_POS_REQUIRE_LIVE, which reads the file
    // first; with a display variable that leads nowhere, so a window would fail otherwise.
    for require_live in [Some("1"), None] {
        let mut command = Command::new(binary());
        command
            .arg("--config")
            .arg(&missing)
            .arg("--kiosk")
            .env("HOME", &home)
            .env("XDG_DATA_HOME", home.join("data"))
            .env("XDG_CONFIG_HOME", home.join("config"))
            .env("DISPLAY", ":99999")
            .env("SLINT_BACKEND", "linuxkms")
            .env_remove("WAYLAND_DISPLAY")
            .env_remove("ALIPAY_POS_CONFIG")
            .env_remove("ALIPAY_POS_REQUIRE_LIVE");
        if let Some(value) = require_live {
            command.env("ALIPAY_POS_REQUIRE_LIVE", value);
        }
        let output = command.output().unwrap();
        let said = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{require_live:?}: {said}");
        assert!(
            said.contains(&format!("{}: no such file", missing.display())),
            "{said}"
        );
        assert!(said.contains("找不到此文件"), "{said}");
        assert!(
            said.contains("/usr/share/doc/alipay-pos/config.example.toml"),
            "{said}"
        );
        assert!(!said.contains("sandbox"), "{said}");
        let left: Vec<_> = std::fs::read_dir(&home).unwrap().collect();
        assert!(left.is_empty(), "something was started: {left:?}");
    }
}
