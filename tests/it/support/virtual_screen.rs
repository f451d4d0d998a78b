//! An X server of the test's own (Debian's Xvfb) for the real GUI binary: the crash test
//! kills it with a QR code on screen, the kiosk tests measure its window and its readiness.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// An X server on a free display number, with no window manager, stopped on drop.
pub struct VirtualScreen {
    xvfb: Child,
    pub display: String,
    pub width: u32,
    pub height: u32,
}

impl VirtualScreen {
    /// A 1024×768 screen; `None` when a tool is missing (see [`VirtualScreen::start_sized`]).
    pub fn start() -> Option<VirtualScreen> {
        Self::start_sized(1024, 768)
    }

    /// A `width`×`height` screen. `None` when Xvfb, xdotool, ImageMagick's `import` or
    /// zbarimg is missing; CI (`ALIPAY_POS_REQUIRE_DISPLAY=1`, set by `.ci/run`) treats that
    /// as a failure.
    pub fn start_sized(width: u32, height: u32) -> Option<VirtualScreen> {
        let tools = ["Xvfb", "xdotool", "import", "zbarimg"];
        let missing: Vec<&str> = tools
            .into_iter()
            .filter(|tool| {
                !Command::new("sh")
                    .args(["-c", &format!("command -v {tool}")])
                    .stdout(Stdio::null())
                    .status()
                    .is_ok_and(|s| s.success())
            })
            .collect();
        if !missing.is_empty() {
            assert!(
                std::env::var_os("ALIPAY_POS_REQUIRE_DISPLAY").is_none(),
                "missing {missing:?}: apt-get install xvfb xdotool imagemagick zbar-tools"
            );
            eprintln!(
                "skipped: {missing:?} not installed (apt-get install xvfb xdotool imagemagick zbar-tools)"
            );
            return None;
        }
        // A display number nobody uses: its lock file and socket do not exist.
        let number = (100 + std::process::id() % 400..600)
            .find(|n| {
                !Path::new(&format!("/tmp/.X{n}-lock")).exists()
                    && !Path::new(&format!("/tmp/.X11-unix/X{n}")).exists()
            })
            .unwrap_or_else(|| panic!("no free X display number"));
        let display = format!(":{number}");
        let xvfb = Command::new("Xvfb")
            .args([
                display.as_str(),
                "-screen",
                "0",
                &format!("{width}x{height}x24"),
                // A black root window (not the stipple): what no window covers is black.
                "-br",
                "-nolisten",
                "tcp",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start Xvfb: {e}"));
        let socket = PathBuf::from(format!("/tmp/.X11-unix/X{number}"));
        let deadline = Instant::now() + Duration::from_secs(30);
        while !socket.exists() {
            assert!(Instant::now() < deadline, "Xvfb did not open {display}");
            std::thread::sleep(Duration::from_millis(20));
        }
        Some(VirtualScreen {
            xvfb,
            display,
            width,
            height,
        })
    }

    /// A command (xdotool, import, zbarimg) talking to this screen.
    pub fn tool(&self, program: &str) -> Command {
        let mut command = Command::new(program);
        command.env("DISPLAY", &self.display);
        command
    }

    /// A screenshot of the whole screen (`import -window root`) into `shot`.
    pub fn screenshot(&self, shot: &Path) -> bool {
        self.tool("import")
            .args(["-window", "root"])
            .arg(shot)
            .status()
            .is_ok_and(|s| s.success())
    }

    /// The id of the terminal's window (found by its title), if it is mapped.
    pub fn terminal_window(&self) -> Option<String> {
        let found = self
            .tool("xdotool")
            .args(["search", "--name", "^Alipay POS$"])
            .output()
            .ok()?;
        String::from_utf8_lossy(&found.stdout)
            .lines()
            .last()
            .map(str::to_string)
    }

    /// Where the terminal's window is and how big: `(x, y, width, height)`, from
    /// `xdotool getwindowgeometry --shell`.
    pub fn terminal_geometry(&self) -> Option<(i64, i64, u32, u32)> {
        let window = self.terminal_window()?;
        let out = self
            .tool("xdotool")
            .args(["getwindowgeometry", "--shell", window.as_str()])
            .output()
            .ok()?;
        let text = String::from_utf8_lossy(&out.stdout);
        let value = |key: &str| {
            text.lines()
                .find_map(|line| line.strip_prefix(&format!("{key}=")))
                .map(str::to_string)
        };
        Some((
            value("X")?.parse().ok()?,
            value("Y")?.parse().ok()?,
            value("WIDTH")?.parse().ok()?,
            value("HEIGHT")?.parse().ok()?,
        ))
    }
}

impl Drop for VirtualScreen {
    fn drop(&mut self) {
        let _ = self.xvfb.kill();
        let _ = self.xvfb.wait();
    }
}
