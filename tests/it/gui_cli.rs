//! The GUI's command-line face: `alipay-pos` with no command opens the window, and says
//! what to do when there is no display; `alipay-pos screenshots` renders every screen.

use std::path::PathBuf;
use std::process::Command;

fn binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_alipay-pos"))
}

#[test]
fn without_a_display_the_gui_says_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.toml");
    let data = dir
        .path()
        .join("data")
        .display()
        .to_string()
        .replace('\\', "\\\\");
    std::fs::write(&config, format!("[storage]\ndata_dir = \"{data}\"\n")).unwrap();
    let output = Command::new(binary())
        .arg("--config")
        .arg(&config)
        .env_remove("DISPLAY")
        .env_remove("WAYLAND_DISPLAY")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr
            .contains("no display found; run under X11/Wayland or use the CLI (`alipay-pos pay`)"),
        "{stderr}"
    );
    assert!(
        !dir.path().join("data").exists(),
        "nothing was started before the window failed"
    );
}

#[test]
fn gui_flags_are_checked_and_documented() {
    let help = Command::new(binary()).arg("--help").output().unwrap();
    let text = String::from_utf8_lossy(&help.stdout);
    for flag in [
        "--kiosk",
        "--fullscreen",
        "--lang",
        "--idle-timeout",
        "screenshots",
    ] {
        assert!(text.contains(flag), "--help lacks {flag}: {text}");
    }
    let bad = Command::new(binary())
        .args(["--lang", "fr"])
        .env_remove("DISPLAY")
        .env_remove("WAYLAND_DISPLAY")
        .output()
        .unwrap();
    assert_eq!(
        bad.status.code(),
        Some(2),
        "clap rejects an unknown language"
    );
    assert!(String::from_utf8_lossy(&bad.stderr).contains("zh_CN"));
    let mixed = Command::new(binary())
        .args(["--kiosk", "journal", "list"])
        .output()
        .unwrap();
    assert_eq!(
        mixed.status.code(),
        Some(1),
        "GUI flags do not go with a command"
    );
    let said = String::from_utf8_lossy(&mixed.stderr);
    assert!(said.contains("--kiosk is a flag of the GUI"), "{said}");
    let zero = Command::new(binary())
        .args(["--kiosk", "--idle-timeout", "0"])
        .env_remove("DISPLAY")
        .env_remove("WAYLAND_DISPLAY")
        .output()
        .unwrap();
    assert_eq!(zero.status.code(), Some(1));
    let said = String::from_utf8_lossy(&zero.stderr);
    assert!(
        said.contains("--idle-timeout takes 0.1 to 86400 seconds"),
        "{said}"
    );
}

#[test]
fn screenshots_render_every_screen_in_both_languages() {
    let dir = tempfile::tempdir().unwrap();
    let output = Command::new(binary())
        .args(["screenshots", "--out"])
        .arg(dir.path())
        .env_remove("DISPLAY")
        .env_remove("WAYLAND_DISPLAY")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let listed = String::from_utf8_lossy(&output.stdout);
    let screens = [
        "cashier",
        "kiosk",
        "customer-qr",
        "result-paid",
        "result-failed",
        "result-cancelled",
        "result-unresolved",
        "manager-pin",
        "manager-pin-locked",
        "manager-transactions",
        "manager-detail",
        "manager-refund-confirm",
        "manager-unresolved",
        "manager-end-of-day",
        "manager-z-report",
        "manager-reconciliation",
        "manager-reconciliation-accept",
        "manager-settings",
        "cashier-hub-reconnecting",
        "manager-whole-store",
    ];
    for screen in screens {
        let en = std::fs::read(dir.path().join(format!("{screen}-en.png"))).unwrap();
        let zh = std::fs::read(dir.path().join(format!("{screen}-zh.png"))).unwrap();
        for png in [&en, &zh] {
            assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n", "{screen} is a PNG");
            // IHDR: width and height, big-endian, right after the signature and chunk head.
            assert_eq!(
                &png[16..24],
                &[0, 0, 4, 0, 0, 0, 3, 0],
                "{screen} is 1024x768"
            );
        }
        assert_ne!(
            en, zh,
            "{screen}: the Chinese picture differs from the English one"
        );
        assert!(listed.contains(&format!("{screen}-en.png")), "{listed}");
    }
    // The preview printer's sample receipts, a printer's width (not a screen's).
    let en = std::fs::read(dir.path().join("receipt-en.png")).unwrap();
    let zh = std::fs::read(dir.path().join("receipt-zh.png")).unwrap();
    for png in [&en, &zh] {
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n", "the receipt is a PNG");
        assert_eq!(
            &png[16..20],
            &832u32.to_be_bytes(),
            "384 dots at 2 px + margins"
        );
    }
    assert_ne!(en, zh, "the Chinese receipt differs from the English one");
    assert!(listed.contains("receipt-zh.png"), "{listed}");
}
