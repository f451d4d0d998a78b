//! The app's rotating log file under data_dir.

use alipay_pos::logging;

#[test]
fn file_logging_writes_under_data_dir_logs() {
    let dir = tempfile::tempdir().unwrap();
    let guard = logging::init_file(dir.path()).unwrap();
    tracing::info!(marker = "file-logging-works", "hello from the test");
    drop(guard); // flushes the background writer
    let log_dir = logging::log_dir(dir.path());
    let files: Vec<_> = std::fs::read_dir(&log_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    let name = files[0].file_name().unwrap().to_string_lossy().into_owned();
    assert!(
        name.starts_with("alipay-pos.") && name.ends_with(".log"),
        "{name}"
    );
    let text = std::fs::read_to_string(&files[0]).unwrap();
    assert!(text.contains("file-logging-works"), "{text}");
    // The file is the one the appender wrote, named by today's UTC date, and owner-only.
    let today = time::OffsetDateTime::now_utc().date();
    assert!(
        name.contains(&format!(
            "{:04}-{:02}-{:02}",
            today.year(),
            u8::from(today.month()),
            today.day()
        )),
        "{name}"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&files[0]), 0o600, "log file mode");
        assert_eq!(mode(&log_dir), 0o700, "log folder mode");
    }
}

#[test]
fn unwritable_data_dir_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("not-a-dir");
    std::fs::write(&file, "x").unwrap();
    let error = logging::init_file(&file).unwrap_err();
    assert!(error.to_string().contains("not-a-dir"), "{error}");
    assert!(error.to_string().contains("writable"), "{error}");
}
