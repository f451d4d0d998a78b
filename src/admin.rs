//! Manager authority: the PINs (hashing, checking with a lockout that survives a restart,
//! storing the hashes in the config) and the one value that proves a manager approved,
//! [`ManagerApproval`].
//!
//! Only Argon2id hashes are stored. A 4-digit PIN has only 10,000 values, so a hash that
//! leaks is guessed offline in minutes: the config file is written 0600 for that reason, and
//! the real protection at the counter is the lockout: after `max_pin_attempts` wrong PINs in
//! a row every PIN is refused for `lockout`. The count is kept in a file in `data_dir`
//! ([`LOCKOUT_FILE`]), so restarting the terminal (or running the CLI instead) does not
//! reset it. The PIN itself is never logged, stored or kept after the check.
//!
//! Layering: the engine (`checkout`) imports [`ManagerApproval`] from here and nothing else;
//! it is the capability that refunds, manual settlement and leaving the kiosk require, so no
//! face can forget to ask for a PIN.

use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};

use crate::config::{AdminConfig, DEFAULT_MANAGER, ManagerPin};

/// Shortest and longest PIN accepted: long enough to not be guessed in a few tries, short
/// enough to type on a keypad.
pub const MIN_PIN_DIGITS: usize = 4;
pub const MAX_PIN_DIGITS: usize = 12;

/// The wrong-PIN count and lockout, in `data_dir` (0600, replaced atomically).
pub const LOCKOUT_FILE: &str = "pin-lockout.json";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PinError {
    #[error("the PIN must be {MIN_PIN_DIGITS} to {MAX_PIN_DIGITS} digits")]
    BadFormat,
    #[error("no manager PIN is set; set one with `alipay-pos admin set-pin --manager NAME`")]
    NotSet,
    #[error("wrong PIN ({remaining} tries left before PINs are locked out)")]
    Wrong { remaining: u32 },
    #[error("too many wrong PINs; PINs are locked for {} s, try again then", seconds_left.max(&1))]
    LockedOut { seconds_left: u64 },
    #[error(
        "the stored PIN hash is unreadable ({0}); set the PIN again with `alipay-pos admin set-pin`"
    )]
    BadHash(String),
    #[error("could not hash the PIN: {0}")]
    Hashing(String),
}

/// Proof that a manager gave their PIN just now: the engine requires one for refunds,
/// manual settlement and leaving the kiosk, and records [`ManagerApproval::manager`] in the
/// journal.
///
/// Only a successful PIN check ([`PinGuard::check`] or [`PinGuard::record`]) creates one:
/// the field is private, and there is no constructor, `Default`, `Clone` or `Deserialize`.
/// A face that needs it across an `await` or a thread shares it (`Arc`), it does not copy
/// it.
#[derive(Debug, PartialEq, Eq)]
pub struct ManagerApproval {
    manager: String,
}

impl ManagerApproval {
    /// The name of the manager whose PIN was given (`[[admin.managers]] name`, or
    /// "manager" for the single `[admin] pin_hash`).
    pub fn manager(&self) -> &str {
        &self.manager
    }
}

/// Checks that a PIN is all digits and of an acceptable length.
pub fn validate_pin(pin: &str) -> Result<(), PinError> {
    let digits = pin.chars().count();
    if (MIN_PIN_DIGITS..=MAX_PIN_DIGITS).contains(&digits)
        && pin.chars().all(|c| c.is_ascii_digit())
    {
        Ok(())
    } else {
        Err(PinError::BadFormat)
    }
}

/// An Argon2id PHC string (`$argon2id$v=19$...`) with a random salt.
pub fn hash_pin(pin: &str) -> Result<String, PinError> {
    validate_pin(pin)?;
    Argon2::default()
        .hash_password(pin.as_bytes())
        .map(|hash| hash.to_string())
        .map_err(|e| PinError::Hashing(e.to_string()))
}

/// Whether `pin` is the one `hash` was made from. Slow on purpose (Argon2id); an
/// unreadable hash is an error, not a wrong PIN, so the screen can say to set it again.
pub fn pin_matches(hash: &str, pin: &str) -> Result<bool, PinError> {
    let parsed = PasswordHash::new(hash).map_err(|e| PinError::BadHash(e.to_string()))?;
    Ok(validate_pin(pin).is_ok()
        && Argon2::default()
            .verify_password(pin.as_bytes(), &parsed)
            .is_ok())
}

/// The manager (other than `except`) whose PIN is `pin`, if any. `set-pin` refuses such a
/// PIN, because the PIN alone must say who is approving.
pub fn manager_with_pin(
    managers: &[ManagerPin],
    pin: &str,
    except: &str,
) -> Result<Option<String>, PinError> {
    for manager in managers.iter().filter(|m| m.name != except) {
        if pin_matches(&manager.pin_hash, pin)? {
            return Ok(Some(manager.name.clone()));
        }
    }
    Ok(None)
}

/// The wrong-PIN count as it is kept in [`LOCKOUT_FILE`]. Wall-clock based, because an
/// `Instant` does not survive a restart.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct LockoutState {
    wrong_in_a_row: u32,
    /// Milliseconds since the Unix epoch; `None` when not locked.
    locked_until_unix_ms: Option<u64>,
}

fn unix_ms(at: SystemTime) -> u64 {
    at.duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// A PIN check under way: the PIN guard admitted it (not locked, some PIN is set) and hands
/// out the hashes to compare with. [`PinAttempt::verify`] is the slow part, so a screen runs
/// it on another thread, then reports the result to [`PinGuard::record`].
pub struct PinAttempt {
    candidates: Vec<ManagerPin>,
}

impl PinAttempt {
    /// Compares `pin` with every manager's hash (Argon2id, slow on purpose).
    pub fn verify(self, pin: &str) -> PinChecked {
        let mut unreadable = None;
        for manager in self.candidates {
            match pin_matches(&manager.pin_hash, pin) {
                Ok(true) => return PinChecked(Ok(Some(manager.name))),
                Ok(false) => {}
                Err(error) => {
                    unreadable.get_or_insert(error);
                }
            }
        }
        PinChecked(match unreadable {
            Some(error) => Err(error),
            None => Ok(None),
        })
    }
}

/// What [`PinAttempt::verify`] found: which manager's PIN it was, if any. Opaque, so that
/// only a real comparison can lead [`PinGuard::record`] to hand out an approval.
pub struct PinChecked(Result<Option<String>, PinError>);

/// Checks PINs against the managers' hashes and enforces the lockout. One per face; the
/// count is shared through [`LOCKOUT_FILE`] when the guard has one.
#[derive(Debug)]
pub struct PinGuard {
    managers: Vec<ManagerPin>,
    max_attempts: u32,
    lockout: Duration,
    /// Where the count is kept; `None` keeps it in memory only (unit tests).
    file: Option<PathBuf>,
    state: LockoutState,
    /// A missing file is said once in the log, not at every check.
    said_missing: bool,
}

impl PinGuard {
    /// `lockout_file`: where the count survives restarts (see [`PinGuard::from_config`]).
    pub fn new(
        managers: Vec<ManagerPin>,
        max_attempts: u32,
        lockout: Duration,
        lockout_file: Option<PathBuf>,
    ) -> Self {
        let mut guard = PinGuard {
            managers,
            max_attempts: max_attempts.max(1),
            lockout,
            file: lockout_file,
            state: LockoutState::default(),
            said_missing: false,
        };
        guard.refresh(SystemTime::now());
        guard
    }

    /// The configured managers, with the count in `data_dir`/[`LOCKOUT_FILE`].
    pub fn from_config(config: &AdminConfig, data_dir: &Path) -> Self {
        Self::new(
            config.managers(),
            config.max_pin_attempts,
            config.lockout,
            Some(data_dir.join(LOCKOUT_FILE)),
        )
    }

    /// Whether a PIN is configured at all (without one the manager screen stays closed).
    pub fn has_pin(&self) -> bool {
        !self.managers.is_empty()
    }

    /// Seconds of lockout left at `now`, if locked (as last read from the file).
    pub fn locked_for(&self, now: SystemTime) -> Option<u64> {
        let until = self.state.locked_until_unix_ms?;
        let now = unix_ms(now);
        (until > now).then(|| (until - now).div_ceil(1000))
    }

    /// Checks `pin` at `now`. While locked, every PIN is refused without being checked.
    pub fn check(&mut self, pin: &str, now: SystemTime) -> Result<ManagerApproval, PinError> {
        let attempt = self.admit(now)?;
        let checked = attempt.verify(pin);
        self.record(checked, now)
    }

    /// The first half of [`PinGuard::check`]: refuses at once while locked or when no PIN
    /// is set, else hands out what [`PinAttempt::verify`] compares with.
    pub fn admit(&mut self, now: SystemTime) -> Result<PinAttempt, PinError> {
        self.refresh(now);
        if let Some(seconds_left) = self.locked_for(now) {
            return Err(PinError::LockedOut { seconds_left });
        }
        if self.managers.is_empty() {
            return Err(PinError::NotSet);
        }
        Ok(PinAttempt {
            candidates: self.managers.clone(),
        })
    }

    /// The second half of [`PinGuard::check`]: a right PIN clears the count and becomes the
    /// approval; a wrong one is counted (and locks after too many in a row), in the file.
    pub fn record(
        &mut self,
        checked: PinChecked,
        now: SystemTime,
    ) -> Result<ManagerApproval, PinError> {
        self.refresh(now);
        match checked.0 {
            Ok(Some(manager)) => {
                if self.state != LockoutState::default() {
                    self.state = LockoutState::default();
                    self.save();
                }
                Ok(ManagerApproval { manager })
            }
            Err(error) => Err(error),
            Ok(None) => {
                let wrong = self.state.wrong_in_a_row.saturating_add(1);
                if wrong >= self.max_attempts {
                    let until = unix_ms(now).saturating_add(
                        u64::try_from(self.lockout.as_millis()).unwrap_or(u64::MAX),
                    );
                    self.state = LockoutState {
                        wrong_in_a_row: 0,
                        locked_until_unix_ms: Some(until),
                    };
                    self.save();
                    tracing::warn!("manager PINs locked after too many wrong PINs");
                    return Err(PinError::LockedOut {
                        seconds_left: self.lockout.as_secs(),
                    });
                }
                self.state = LockoutState {
                    wrong_in_a_row: wrong,
                    locked_until_unix_ms: None,
                };
                self.save();
                Err(PinError::Wrong {
                    remaining: self.max_attempts - wrong,
                })
            }
        }
    }

    /// Re-reads the count from the file (another process may have changed it). Fails safe:
    /// a file that cannot be read or understood counts as a fresh lockout, and says so.
    pub fn refresh(&mut self, now: SystemTime) {
        let Some(path) = self.file.clone() else {
            return;
        };
        let fail_safe = LockoutState {
            wrong_in_a_row: 0,
            locked_until_unix_ms: Some(
                unix_ms(now)
                    .saturating_add(u64::try_from(self.lockout.as_millis()).unwrap_or(u64::MAX)),
            ),
        };
        let mut state = match std::fs::read(&path) {
            Ok(bytes) => match serde_json::from_slice::<LockoutState>(&bytes) {
                Ok(state) => state,
                Err(error) => {
                    tracing::warn!(file = %path.display(), %error, "the PIN lockout file is corrupt; locking PINs for the lockout time to be safe, and rewriting it");
                    self.state = fail_safe;
                    self.save();
                    return;
                }
            },
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                if !self.said_missing {
                    self.said_missing = true;
                    tracing::info!(file = %path.display(), "no PIN lockout file yet; counting wrong PINs from zero");
                }
                LockoutState::default()
            }
            Err(error) => {
                tracing::warn!(file = %path.display(), %error, "cannot read the PIN lockout file; PINs stay locked until it can be read");
                self.state = fail_safe;
                return;
            }
        };
        // A lockout further away than the configured length means the clock went back (or
        // the file was edited): it ends one lockout from now, never later.
        if let (Some(until), Some(limit)) =
            (state.locked_until_unix_ms, fail_safe.locked_until_unix_ms)
            && until > limit
        {
            tracing::warn!(file = %path.display(), "the PIN lockout ends further away than the lockout time (clock moved back?); shortened to one lockout from now");
            state.locked_until_unix_ms = Some(limit);
        }
        self.state = state;
    }

    fn save(&self) {
        let Some(path) = &self.file else { return };
        let text = match serde_json::to_vec(&self.state) {
            Ok(text) => text,
            Err(error) => {
                tracing::error!(%error, "cannot encode the PIN lockout");
                return;
            }
        };
        if let Err(error) = write_private_file(path, &text) {
            // The count still holds in this process; a restart would lose it.
            tracing::error!(file = %path.display(), %error, "cannot write the PIN lockout file; the wrong-PIN count will not survive a restart");
        }
    }
}

/// Replaces `path` atomically with a file only its owner can read: a temporary file created
/// 0600 in the same folder (so the rename cannot cross file systems), written and fsynced,
/// renamed over `path`, then the folder fsynced so the rename itself survives a power cut.
pub fn write_private_file(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    let folder = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
        _ => PathBuf::from("."),
    };
    if !folder.exists() {
        create_private_dir(&folder)?;
    }
    // NamedTempFile picks an unpredictable name and creates the file 0600 with O_EXCL.
    let mut temporary = tempfile::NamedTempFile::new_in(&folder)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        temporary
            .as_file()
            .set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    temporary.write_all(contents)?;
    temporary.as_file().sync_all()?;
    temporary.persist(path).map_err(|e| e.error)?;
    #[cfg(unix)]
    std::fs::File::open(&folder)?.sync_all()?;
    Ok(())
}

fn create_private_dir(folder: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(folder)
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot read {path}: {reason}")]
    Read { path: String, reason: String },
    #[error("{path} is not valid TOML ({reason}); fix it before setting the PIN")]
    Parse { path: String, reason: String },
    #[error("cannot write {path}: {reason}")]
    Write { path: String, reason: String },
}

/// Writes a manager's PIN hash into the config file, keeping every other line, comment and
/// key as it was: the "manager" of the single `[admin] pin_hash` there (unless a
/// `[[admin.managers]]` entry has that name), anyone else in their `[[admin.managers]]`
/// entry, added when missing. Creates the file (and its folder) when it does not exist. The
/// file is replaced atomically and ends up 0600 ([`write_private_file`]): the hash of a short
/// PIN must not be readable by other local users.
pub fn store_pin_hash(config_path: &Path, manager: &str, hash: &str) -> Result<(), StoreError> {
    let path_text = config_path.display().to_string();
    let text = match std::fs::read_to_string(config_path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => {
            return Err(StoreError::Read {
                path: path_text,
                reason: e.to_string(),
            });
        }
    };
    let parse_error = |reason: String| StoreError::Parse {
        path: path_text.clone(),
        reason,
    };
    let mut document: toml_edit::DocumentMut = text
        .parse()
        .map_err(|e: toml_edit::TomlError| parse_error(e.to_string()))?;
    if !document.contains_table("admin") {
        document["admin"] = toml_edit::table();
    }
    let admin = document["admin"]
        .as_table_mut()
        .ok_or_else(|| parse_error("`admin` must be a [admin] table".into()))?;
    let entries = match admin.get_mut("managers") {
        None => None,
        Some(item) => Some(item.as_array_of_tables_mut().ok_or_else(|| {
            parse_error("`admin.managers` must be written as [[admin.managers]] tables".into())
        })?),
    };
    let existing = entries.and_then(|entries| {
        entries
            .iter_mut()
            .find(|entry| entry.get("name").and_then(|n| n.as_str()) == Some(manager))
    });
    match existing {
        Some(entry) => {
            entry["pin_hash"] = toml_edit::value(hash);
        }
        None if manager == DEFAULT_MANAGER => {
            admin["pin_hash"] = toml_edit::value(hash);
        }
        None => {
            let mut entry = toml_edit::Table::new();
            entry["name"] = toml_edit::value(manager);
            entry["pin_hash"] = toml_edit::value(hash);
            if !admin.contains_key("managers") {
                admin["managers"] = toml_edit::Item::ArrayOfTables(Default::default());
            }
            if let Some(entries) = admin["managers"].as_array_of_tables_mut() {
                entries.push(entry);
            }
        }
    }
    write_private_file(config_path, document.to_string().as_bytes()).map_err(|e| {
        StoreError::Write {
            path: path_text.clone(),
            reason: e.to_string(),
        }
    })
}

impl fmt::Debug for PinAttempt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PinAttempt")
            .field("candidates", &self.candidates.len())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manager(name: &str, pin: &str) -> ManagerPin {
        ManagerPin {
            name: name.into(),
            pin_hash: hash_pin(pin).unwrap(),
        }
    }

    /// `seconds` after the test binary started: a guard also reads the file at the real
    /// time, which must not be before the times a test passes.
    fn at(seconds: u64) -> SystemTime {
        static START: std::sync::OnceLock<SystemTime> = std::sync::OnceLock::new();
        *START.get_or_init(SystemTime::now) + Duration::from_secs(seconds)
    }

    #[test]
    fn pins_must_be_4_to_12_digits() {
        assert!(validate_pin("1234").is_ok());
        assert!(validate_pin("123456789012").is_ok());
        for bad in ["123", "1234567890123", "12a4", "", " 1234", "١٢٣٤"] {
            assert_eq!(validate_pin(bad), Err(PinError::BadFormat), "{bad:?}");
        }
    }

    #[test]
    fn hash_verifies_the_right_pin_only_and_hides_it() {
        let hash = hash_pin("2468").unwrap();
        assert!(hash.starts_with("$argon2id$"), "{hash}");
        assert!(!hash.contains("2468"));
        let managers = vec![ManagerPin {
            name: "manager".into(),
            pin_hash: hash,
        }];
        let mut guard = PinGuard::new(managers, 5, Duration::from_secs(60), None);
        assert_eq!(guard.check("2468", at(0)).unwrap().manager(), "manager");
        assert_eq!(
            guard.check("1357", at(0)),
            Err(PinError::Wrong { remaining: 4 })
        );
    }

    #[test]
    fn each_managers_pin_names_that_manager() {
        let managers = vec![manager("Ana", "1111"), manager("Bo", "2222")];
        let mut guard = PinGuard::new(managers.clone(), 5, Duration::from_secs(60), None);
        assert_eq!(guard.check("2222", at(0)).unwrap().manager(), "Bo");
        assert_eq!(guard.check("1111", at(0)).unwrap().manager(), "Ana");
        assert_eq!(
            guard.check("3333", at(0)),
            Err(PinError::Wrong { remaining: 4 })
        );
        // set-pin's uniqueness rule: Bo's PIN is taken for Ana, free for Bo himself.
        assert_eq!(
            manager_with_pin(&managers, "2222", "Ana")
                .unwrap()
                .as_deref(),
            Some("Bo")
        );
        assert_eq!(manager_with_pin(&managers, "2222", "Bo").unwrap(), None);
        assert_eq!(manager_with_pin(&managers, "4444", "Cy").unwrap(), None);
    }

    #[test]
    fn repeated_wrong_pins_lock_even_the_right_one_until_the_lockout_ends() {
        let managers = vec![manager("manager", "2468")];
        let mut guard = PinGuard::new(managers, 3, Duration::from_secs(60), None);
        assert_eq!(
            guard.check("0000", at(0)),
            Err(PinError::Wrong { remaining: 2 })
        );
        assert_eq!(
            guard.check("0001", at(0)),
            Err(PinError::Wrong { remaining: 1 })
        );
        assert_eq!(
            guard.check("0002", at(0)),
            Err(PinError::LockedOut { seconds_left: 60 })
        );
        assert!(matches!(
            guard.check("2468", at(30)),
            Err(PinError::LockedOut { seconds_left: 30 })
        ));
        assert_eq!(guard.locked_for(at(59)), Some(1));
        assert!(guard.check("2468", at(61)).is_ok());
        // A success resets the count.
        assert_eq!(
            guard.check("9999", at(62)),
            Err(PinError::Wrong { remaining: 2 })
        );
    }

    #[test]
    fn the_lockout_survives_a_new_guard_on_the_same_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join(LOCKOUT_FILE);
        let managers = vec![manager("manager", "2468")];
        let lockout = Duration::from_secs(60);
        let mut first = PinGuard::new(managers.clone(), 2, lockout, Some(file.clone()));
        assert_eq!(
            first.check("0000", at(0)),
            Err(PinError::Wrong { remaining: 1 })
        );
        // A restart keeps the one wrong try...
        let mut second = PinGuard::new(managers.clone(), 2, lockout, Some(file.clone()));
        assert_eq!(
            second.check("0001", at(1)),
            Err(PinError::LockedOut { seconds_left: 60 })
        );
        // ...and the lockout, for the right PIN too.
        let mut third = PinGuard::new(managers.clone(), 2, lockout, Some(file.clone()));
        assert_eq!(third.locked_for(at(11)), Some(50));
        assert_eq!(
            third.check("2468", at(11)),
            Err(PinError::LockedOut { seconds_left: 50 })
        );
        assert!(third.check("2468", at(62)).is_ok());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&file).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600, "{mode:o}");
        }
    }

    #[test]
    fn a_corrupt_lockout_file_fails_safe_and_a_clock_jump_back_cannot_lock_forever() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join(LOCKOUT_FILE);
        std::fs::write(&file, b"{not json").unwrap();
        let managers = vec![manager("manager", "2468")];
        let lockout = Duration::from_secs(60);
        let now = SystemTime::now();
        let mut guard = PinGuard::new(managers.clone(), 5, lockout, Some(file.clone()));
        assert!(matches!(
            guard.check("2468", now),
            Err(PinError::LockedOut { .. })
        ));
        // The file was rewritten as a lockout that ends.
        let text = std::fs::read_to_string(&file).unwrap();
        assert!(text.contains("locked_until_unix_ms"), "{text}");

        // A lockout ending far in the future (the clock went back) is cut to one lockout.
        std::fs::write(
            &file,
            br#"{"wrong_in_a_row":0,"locked_until_unix_ms":99999999999999}"#,
        )
        .unwrap();
        let guard = PinGuard::new(managers, 5, lockout, Some(file));
        let left = guard.locked_for(now).unwrap();
        assert!((60..=61).contains(&left), "{left}");
    }

    #[test]
    fn no_pin_set_and_broken_hash_are_clear_errors() {
        let mut guard = PinGuard::new(Vec::new(), 5, Duration::from_secs(60), None);
        assert!(!guard.has_pin());
        assert_eq!(guard.check("1234", at(0)), Err(PinError::NotSet));
        let broken = vec![ManagerPin {
            name: "manager".into(),
            pin_hash: "$argon2id$garbage".into(),
        }];
        let mut guard = PinGuard::new(broken, 5, Duration::from_secs(60), None);
        assert!(matches!(
            guard.check("1234", at(0)),
            Err(PinError::BadHash(_))
        ));
    }

    #[test]
    fn storing_the_hash_keeps_the_rest_of_the_file_and_makes_it_private() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        let original = "# my terminal\n[payment]\ncurrency = \"HKD\" # local money\n\n[admin]\nmax_pin_attempts = 3\n";
        std::fs::write(&path, original).unwrap();
        let hash = hash_pin("2468").unwrap();
        store_pin_hash(&path, DEFAULT_MANAGER, &hash).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            text.starts_with("# my terminal\n[payment]\ncurrency = \"HKD\" # local money\n"),
            "{text}"
        );
        assert!(text.contains("max_pin_attempts = 3"));
        let config = crate::config::Config::load(&path).unwrap();
        assert_eq!(config.admin.pin_hash.as_deref(), Some(hash.as_str()));
        assert_eq!(config.admin.max_pin_attempts, 3);
        assert_eq!(config.payment.currency.code(), "HKD");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600, "{mode:o}");
        }
        // No temporary file is left next to it.
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("config.toml")]);
    }

    #[test]
    fn named_managers_get_their_own_entries() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        store_pin_hash(&path, "Ana", "$argon2id$a").unwrap();
        store_pin_hash(&path, "Bo", "$argon2id$b").unwrap();
        store_pin_hash(&path, "Ana", "$argon2id$a2").unwrap();
        let config = crate::config::Config::load(&path).unwrap();
        let names: Vec<_> = config
            .admin
            .managers()
            .into_iter()
            .map(|m| (m.name, m.pin_hash))
            .collect();
        assert_eq!(
            names,
            vec![
                ("Ana".to_string(), "$argon2id$a2".to_string()),
                ("Bo".to_string(), "$argon2id$b".to_string())
            ]
        );
        assert_eq!(config.admin.pin_hash, None);
    }

    #[test]
    fn storing_creates_a_missing_file_and_refuses_broken_toml() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("new/config.toml");
        store_pin_hash(&path, DEFAULT_MANAGER, "$argon2id$x").unwrap();
        assert!(std::fs::read_to_string(&path).unwrap().contains("[admin]"));
        let broken = dir.path().join("broken.toml");
        std::fs::write(&broken, "[admin\n").unwrap();
        assert!(matches!(
            store_pin_hash(&broken, DEFAULT_MANAGER, "$argon2id$x"),
            Err(StoreError::Parse { .. })
        ));
        assert_eq!(std::fs::read_to_string(&broken).unwrap(), "[admin\n");
    }
}
