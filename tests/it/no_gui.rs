//! A build without the `gui` feature (`cargo test --no-default-features --features
//! test-support`): the command line is whole, and the two GUI commands say that this build
//! has no GUI instead of vanishing or failing obscurely.

use std::process::Command;

use crate::support::binary;

#[test]
fn the_window_and_the_screenshots_say_this_build_has_no_gui() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let config = dir.path().join("config.toml");
    let escaped = data.display().to_string().replace('\\', "\\\\");
    std::fs::write(&config, format!("[storage]\ndata_dir = \"{escaped}\"\n")).unwrap();
    let shots = dir.path().join("shots");
    for args in [
        vec!["--config", config.to_str().unwrap()],
        vec!["--config", config.to_str().unwrap(), "--kiosk"],
        vec!["screenshots", "--out", shots.to_str().unwrap()],
    ] {
        let output = Command::new(binary())
            .args(&args)
            .env_remove("ALIPAY_POS_CONFIG")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(
            stderr.contains("built without its GUI (cargo feature `gui`)")
                && stderr.contains("alipay-pos --help")
                && stderr.contains("此版本不含图形界面"),
            "{args:?}: {stderr}"
        );
    }
    assert!(
        !data.exists(),
        "no engine was started for a window that cannot open"
    );
    assert!(
        !shots.exists(),
        "no folder was made for screens that cannot render"
    );
}

#[test]
fn help_still_names_the_gui_and_its_flags() {
    let help = Command::new(binary()).arg("--help").output().unwrap();
    let text = String::from_utf8_lossy(&help.stdout);
    assert!(help.status.success(), "{text}");
    for word in [
        "--kiosk",
        "--fullscreen",
        "screenshots",
        "pay",
        "sandbox",
        "reconcile",
    ] {
        assert!(text.contains(word), "--help lacks {word}: {text}");
    }
}
