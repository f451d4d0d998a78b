//! What the terminal tells systemd when it runs as a service (packaging/alipay-pos-kiosk.service):
//! that it is ready, what it is doing, and that it is alive.
//!
//! - `READY=1` is sent only once the engine is connected (journal open, resolver started),
//!   so `systemctl start` and the boot wait for a terminal that can take payments, and a
//!   terminal that never gets there is restarted by `TimeoutStartSec=`.
//! - `STATUS=` texts show in `systemctl status`, in English and Chinese.
//! - `WATCHDOG=1` is sent by the face that owns the thread to watch (the GUI pets from its
//!   event loop, `src/gui/service.rs`), every half of `WATCHDOG_USEC`, so a frozen screen
//!   stops petting and systemd restarts it.
//!
//! The watchdog rule differs from `sd_notify::watchdog_enabled`, which ignores the watchdog
//! when `WATCHDOG_PID` names another process. Under cage (`cage -- alipay-pos …`) cage is the
//! service's main process and passes its own `WATCHDOG_PID` to the terminal, so that rule
//! would never pet and systemd would kill a healthy kiosk every `WatchdogSec=`. Here the
//! watchdog is on whenever `WATCHDOG_USEC` is set; pets from a process other than the main
//! one are accepted by systemd with `NotifyAccess=all` (the cage drop-in sets it), and
//! ignored (harmlessly) without it.
//!
//! Outside systemd (`NOTIFY_SOCKET` unset) every call does nothing.

use std::path::{Path, PathBuf};
use std::time::Duration;

/// The variables systemd sets for a service; read once at start-up.
const NOTIFY_SOCKET: &str = "NOTIFY_SOCKET";
const WATCHDOG_USEC: &str = "WATCHDOG_USEC";
const WATCHDOG_PID: &str = "WATCHDOG_PID";
/// `StateDirectory=`'s absolute path(s), colon-separated.
const STATE_DIRECTORY: &str = "STATE_DIRECTORY";

/// How often the watchdog must be petted, from the service's environment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Watchdog {
    /// `WatchdogSec=`: systemd restarts the service after this long without a pet.
    pub timeout: Duration,
    /// When `WATCHDOG_PID` names another process (cage), its pid: pets then need
    /// `NotifyAccess=all` in the unit.
    pub owner: Option<u32>,
}

impl Watchdog {
    /// The pet interval: half the timeout, as systemd's documentation advises, so one late
    /// pet (a busy moment) never costs a restart. Never zero, so a timer can use it.
    pub fn pet_every(&self) -> Duration {
        (self.timeout / 2).max(Duration::from_millis(1))
    }
}

/// The service manager as this process sees it: present or not, and its watchdog.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceManager {
    present: bool,
    watchdog: Option<Watchdog>,
    /// The unit's `StateDirectory=` (`/var/lib/alipay-pos`), where the data must go.
    state_directory: Option<PathBuf>,
}

impl ServiceManager {
    /// Reads this process's environment.
    pub fn from_env() -> ServiceManager {
        ServiceManager::from_vars(|name| std::env::var(name).ok(), std::process::id())
    }

    /// Reads the variables through `var` for a process with id `pid` (the unit tests give
    /// their own).
    pub fn from_vars(var: impl Fn(&str) -> Option<String>, pid: u32) -> ServiceManager {
        let present = var(NOTIFY_SOCKET).is_some_and(|socket| !socket.is_empty());
        let watchdog = present
            .then(|| var(WATCHDOG_USEC))
            .flatten()
            .and_then(|usec| usec.trim().parse::<u64>().ok())
            .filter(|usec| *usec > 0)
            .map(|usec| Watchdog {
                timeout: Duration::from_micros(usec),
                owner: var(WATCHDOG_PID)
                    .and_then(|owner| owner.trim().parse::<u32>().ok())
                    .filter(|owner| *owner != pid),
            });
        let state_directory = var(STATE_DIRECTORY)
            .and_then(|dirs| dirs.split(':').next().map(PathBuf::from))
            .filter(|dir| dir.is_absolute());
        ServiceManager {
            present,
            watchdog,
            state_directory,
        }
    }

    /// When the service has a `StateDirectory=` and `[storage] data_dir` is not in it, what
    /// to tell the operator (bilingual). Under `ProtectSystem=strict` nothing else is
    /// writable, and the commands an operator runs with the same `--config` must find the
    /// journal the service writes, so the place is the config file's to say, not a variable's.
    pub fn misplaced_data_dir(&self, data_dir: &Path) -> Option<String> {
        let state = self.state_directory.as_ref()?;
        if data_dir.starts_with(state) {
            return None;
        }
        let (data, state) = (data_dir.display(), state.display());
        Some(format!(
            "data_dir {data} is outside the service's state directory {state}; set \
             [storage] data_dir = \"{state}\" in the config file / 数据目录 {data} 不在服务的\
             状态目录 {state} 中；请在配置文件中设置 [storage] data_dir = \"{state}\""
        ))
    }

    /// Whether systemd listens (`NOTIFY_SOCKET` is set).
    pub fn is_present(&self) -> bool {
        self.present
    }

    /// The watchdog to pet, if the unit has `WatchdogSec=`.
    pub fn watchdog(&self) -> Option<Watchdog> {
        self.watchdog
    }

    /// What the terminal is doing, for `systemctl status`.
    pub fn status(&self, text: &str) {
        self.send(&[sd_notify::NotifyState::Status(text)]);
    }

    /// The engine is connected: start-up is over.
    pub fn ready(&self, text: &str) {
        self.send(&[
            sd_notify::NotifyState::Ready,
            sd_notify::NotifyState::Status(text),
        ]);
    }

    /// The UI thread is alive.
    pub fn pet_watchdog(&self) {
        self.send(&[sd_notify::NotifyState::Watchdog]);
    }

    /// The terminal is closing by itself (e.g. "Leave kiosk mode").
    pub fn stopping(&self) {
        self.send(&[sd_notify::NotifyState::Stopping]);
    }

    fn send(&self, states: &[sd_notify::NotifyState]) {
        if !self.present {
            return;
        }
        // A lost notification is not worth stopping a till for: systemd's timeouts notice.
        if let Err(error) = sd_notify::notify(states) {
            tracing::warn!(%error, "cannot notify systemd");
        }
    }
}

/// The `STATUS=` texts, in both languages (an administrator reads them in `systemctl status`).
pub mod texts {
    pub const STARTING: &str = "starting the terminal / 正在启动终端";

    /// The engine is connected; `gateway` says which Alipay it talks to.
    pub fn ready(gateway: &str) -> String {
        format!("taking payments ({gateway}) / 正在收款（{gateway}）")
    }

    /// The engine could not start; the screen shows the same reason.
    pub fn start_failed(reason: &str) -> String {
        format!(
            "the terminal could not start: {reason}; fix it, then systemd restarts the \
             terminal / 终端无法启动：{reason}；请修正后等待 systemd 重新启动终端"
        )
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn manager(vars: &[(&str, &str)], pid: u32) -> ServiceManager {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        ServiceManager::from_vars(|name| vars.get(name).cloned(), pid)
    }

    #[test]
    fn without_a_notify_socket_there_is_no_service_manager_and_no_watchdog() {
        let none = manager(&[("WATCHDOG_USEC", "30000000")], 42);
        assert!(!none.is_present());
        assert_eq!(none.watchdog(), None);
        let empty = manager(&[("NOTIFY_SOCKET", ""), ("WATCHDOG_USEC", "30000000")], 42);
        assert!(!empty.is_present());
        assert_eq!(empty.watchdog(), None);
    }

    #[test]
    fn the_watchdog_is_petted_every_half_of_watchdog_usec() {
        let systemd = manager(
            &[
                ("NOTIFY_SOCKET", "/run/systemd/notify"),
                ("WATCHDOG_USEC", "30000000"),
                ("WATCHDOG_PID", "42"),
            ],
            42,
        );
        assert!(systemd.is_present());
        let watchdog = systemd.watchdog().unwrap();
        assert_eq!(watchdog.timeout, Duration::from_secs(30));
        assert_eq!(watchdog.pet_every(), Duration::from_secs(15));
        assert_eq!(watchdog.owner, None, "this process is the watchdog's");
        // Exact to the nanosecond, and a tiny timeout still gives a usable interval.
        let odd = manager(&[("NOTIFY_SOCKET", "@x"), ("WATCHDOG_USEC", "3")], 1);
        assert_eq!(
            odd.watchdog().unwrap().pet_every(),
            Duration::from_millis(1)
        );
        let half = manager(&[("NOTIFY_SOCKET", "@x"), ("WATCHDOG_USEC", "2000001")], 1);
        assert_eq!(
            half.watchdog().unwrap().pet_every(),
            Duration::from_nanos(1_000_000_500)
        );
    }

    #[test]
    fn a_watchdog_pid_of_another_process_still_pets_and_names_its_owner() {
        // cage is the main process and passes its own WATCHDOG_PID on.
        let under_cage = manager(
            &[
                ("NOTIFY_SOCKET", "/run/systemd/notify"),
                ("WATCHDOG_USEC", "20000000"),
                ("WATCHDOG_PID", "7"),
            ],
            42,
        );
        let watchdog = under_cage.watchdog().unwrap();
        assert_eq!(watchdog.owner, Some(7));
        assert_eq!(watchdog.pet_every(), Duration::from_secs(10));
    }

    #[test]
    fn an_unusable_watchdog_usec_means_no_watchdog() {
        for usec in ["0", "", "thirty", "-5", "18446744073709551616"] {
            let m = manager(&[("NOTIFY_SOCKET", "@x"), ("WATCHDOG_USEC", usec)], 1);
            assert!(m.is_present());
            assert_eq!(m.watchdog(), None, "WATCHDOG_USEC={usec:?}");
        }
        let unset = manager(&[("NOTIFY_SOCKET", "@x")], 1);
        assert_eq!(unset.watchdog(), None);
        // A garbled WATCHDOG_PID is no owner: the pets go out as the main process's.
        let garbled = manager(
            &[
                ("NOTIFY_SOCKET", "@x"),
                ("WATCHDOG_USEC", "1000000"),
                ("WATCHDOG_PID", "cage"),
            ],
            1,
        );
        assert_eq!(garbled.watchdog().unwrap().owner, None);
    }

    #[test]
    fn data_dir_must_be_in_the_state_directory_when_there_is_one() {
        let service = manager(
            &[
                ("NOTIFY_SOCKET", "@x"),
                ("STATE_DIRECTORY", "/var/lib/alipay-pos"),
            ],
            1,
        );
        assert_eq!(
            service.misplaced_data_dir(Path::new("/var/lib/alipay-pos")),
            None
        );
        assert_eq!(
            service.misplaced_data_dir(Path::new("/var/lib/alipay-pos/till-2")),
            None
        );
        let wrong = service
            .misplaced_data_dir(Path::new("/nonexistent/.local/share/alipay-pos"))
            .unwrap();
        assert!(
            wrong.contains("data_dir = \"/var/lib/alipay-pos\""),
            "{wrong}"
        );
        assert!(wrong.contains("数据目录"), "{wrong}");
        // Not a prefix of the path's text but of its components.
        assert!(
            service
                .misplaced_data_dir(Path::new("/var/lib/alipay-pos-old"))
                .is_some()
        );
        // Without StateDirectory= (a desktop, a unit without it) any place is fine.
        let desktop = manager(&[], 1);
        assert_eq!(desktop.misplaced_data_dir(Path::new("/tmp/x")), None);
        let two = manager(&[("STATE_DIRECTORY", "/var/lib/a:/var/lib/b")], 1);
        assert_eq!(two.misplaced_data_dir(Path::new("/var/lib/a/x")), None);
    }

    #[test]
    fn status_texts_speak_both_languages() {
        assert!(texts::STARTING.contains("正在启动"));
        let ready = texts::ready("asia");
        assert!(ready.contains("taking payments (asia)") && ready.contains("正在收款"));
        let failed = texts::start_failed("disk full");
        assert!(failed.contains("could not start: disk full") && failed.contains("终端无法启动"));
    }
}
