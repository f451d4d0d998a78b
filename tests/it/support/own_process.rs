//! Runs a test in a child process of this test binary.
//!
//! For tests that need something only a whole process can give them:
//! - Slint allows one event-loop backend per process (its event-loop proxy is
//!   process-wide), and the GUI tests each start one;
//! - tracing decides per call site, process-wide, whether anyone listens, so a test that
//!   captures the logs with a subscriber of its own can miss events other tests' threads
//!   made the call sites forget.
//!
//! Such a test hands itself to a fresh copy of the binary that runs only that test, and
//! fails with the child's output if the child fails.

use std::process::Command;

/// Set in the child to the full name of the one test it runs.
const CHILD: &str = "ALIPAY_POS_TEST_IN_OWN_PROCESS";

/// Call first in a test: `if delegate(module_path!(), "test_name") { return; }`.
///
/// In the parent it runs the test in a child process, asserts that it passed, and returns
/// `true` (the parent is done). In the child it returns `false`, so the body runs there.
pub fn delegate(module_path: &str, test: &str) -> bool {
    // `module_path!()` starts with the crate's name ("it::gui_cashier"); libtest's names do
    // not ("gui_cashier::test").
    let module = module_path.split_once("::").map_or("", |(_, rest)| rest);
    let name = if module.is_empty() {
        test.to_string()
    } else {
        format!("{module}::{test}")
    };
    if std::env::var(CHILD).is_ok_and(|running| running == name) {
        return false;
    }
    let exe = std::env::current_exe().expect("the test binary knows its own path");
    let output = Command::new(exe)
        .args([
            name.as_str(),
            "--exact",
            "--include-ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD, &name)
        .output()
        .expect("the test binary can run itself");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{name} failed in its own process ({}):\n--- stdout\n{stdout}\n--- stderr\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    // A child that ran nothing (a wrong name) must not pass for one that ran the test.
    assert!(
        stdout.contains("1 passed"),
        "{name} did not run in its own process:\n{stdout}"
    );
    true
}
