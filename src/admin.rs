//! The manager PIN: hashing, checking with a lockout, and storing the hash in the config.
//!
//! Only an Argon2id hash is stored, so a stolen config file does not give away the PIN. A
//! 4-digit PIN has only 10,000 values, so the real protection at the counter is the lockout:
//! after `max_pin_attempts` wrong PINs in a row the screen refuses every PIN for `lockout`.
//! The PIN itself is never logged, stored or kept after the check.

use std::path::Path;
use std::time::{Duration, Instant};

use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};

/// Shortest and longest PIN accepted: long enough to not be guessed in a few tries, short
/// enough to type on a keypad.
pub const MIN_PIN_DIGITS: usize = 4;
pub const MAX_PIN_DIGITS: usize = 12;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PinError {
    #[error("the PIN must be {MIN_PIN_DIGITS} to {MAX_PIN_DIGITS} digits")]
    BadFormat,
    #[error("no manager PIN is set; set one with `alipay-pos admin set-pin`")]
    NotSet,
    #[error("wrong PIN ({remaining} tries left before the screen locks)")]
    Wrong { remaining: u32 },
    #[error("too many wrong PINs; try again in {} s", seconds_left.max(&1))]
    LockedOut { seconds_left: u64 },
    #[error(
        "the stored PIN hash is unreadable ({0}); set the PIN again with `alipay-pos admin set-pin`"
    )]
    BadHash(String),
    #[error("could not hash the PIN: {0}")]
    Hashing(String),
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

/// Checks PINs against the stored hash and enforces the lockout. One per screen. The count
/// lives in memory: restarting the app clears it, but the kiosk cannot be restarted from the
/// screen, and a restart costs more time than the lockout is meant to buy.
#[derive(Debug)]
pub struct PinGuard {
    hash: Option<String>,
    max_attempts: u32,
    lockout: Duration,
    wrong_in_a_row: u32,
    locked_until: Option<Instant>,
}

impl PinGuard {
    pub fn new(hash: Option<String>, max_attempts: u32, lockout: Duration) -> Self {
        PinGuard {
            hash,
            max_attempts: max_attempts.max(1),
            lockout,
            wrong_in_a_row: 0,
            locked_until: None,
        }
    }

    pub fn from_config(config: &crate::config::AdminConfig) -> Self {
        Self::new(
            config.pin_hash.clone(),
            config.max_pin_attempts,
            config.lockout,
        )
    }

    /// Whether a PIN is configured at all (without one the manager screen stays closed).
    pub fn has_pin(&self) -> bool {
        self.hash.is_some()
    }

    /// Seconds of lockout left at `now`, if locked.
    pub fn locked_for(&self, now: Instant) -> Option<u64> {
        self.locked_until
            .filter(|until| *until > now)
            .map(|until| until.duration_since(now).as_secs_f64().ceil() as u64)
    }

    /// Checks `pin` at `now`. While locked, every PIN is refused without being checked.
    pub fn check(&mut self, pin: &str, now: Instant) -> Result<(), PinError> {
        let hash = self.admit(now)?;
        let matches = pin_matches(&hash, pin)?;
        self.record(matches, now)
    }

    /// The first half of [`PinGuard::check`]: refuses at once while locked or when no PIN
    /// is set, else hands out the hash to compare with. The comparison ([`pin_matches`]) is
    /// the slow part, so a screen runs it on another thread and reports with
    /// [`PinGuard::record`].
    pub fn admit(&self, now: Instant) -> Result<String, PinError> {
        if let Some(seconds_left) = self.locked_for(now) {
            return Err(PinError::LockedOut { seconds_left });
        }
        self.hash.clone().ok_or(PinError::NotSet)
    }

    /// The second half of [`PinGuard::check`]: counts a wrong PIN (locking after too many in
    /// a row) or clears the count after a right one.
    pub fn record(&mut self, matches: bool, now: Instant) -> Result<(), PinError> {
        if matches {
            self.wrong_in_a_row = 0;
            self.locked_until = None;
            return Ok(());
        }
        self.wrong_in_a_row += 1;
        if self.wrong_in_a_row >= self.max_attempts {
            self.wrong_in_a_row = 0;
            self.locked_until = Some(now + self.lockout);
            tracing::warn!("manager screen locked after too many wrong PINs");
            return Err(PinError::LockedOut {
                seconds_left: self.lockout.as_secs(),
            });
        }
        Err(PinError::Wrong {
            remaining: self.max_attempts - self.wrong_in_a_row,
        })
    }
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

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot read {path}: {reason}")]
    Read { path: String, reason: String },
    #[error("{path} is not valid TOML ({reason}); fix it before setting the PIN")]
    Parse { path: String, reason: String },
    #[error("cannot write {path}: {reason}")]
    Write { path: String, reason: String },
}

/// Writes `pin_hash` into the `[admin]` table of the config file, keeping every other line,
/// comment and key as it was. Creates the file (and its folder) when it does not exist. The
/// file is replaced atomically (write to a temporary file, then rename) so a crash never
/// leaves half a config.
pub fn store_pin_hash(config_path: &Path, hash: &str) -> Result<(), StoreError> {
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
    let mut document: toml_edit::DocumentMut =
        text.parse()
            .map_err(|e: toml_edit::TomlError| StoreError::Parse {
                path: path_text.clone(),
                reason: e.to_string(),
            })?;
    if !document.contains_table("admin") {
        document["admin"] = toml_edit::table();
    }
    document["admin"]["pin_hash"] = toml_edit::value(hash);
    let write_error = |e: std::io::Error| StoreError::Write {
        path: path_text.clone(),
        reason: e.to_string(),
    };
    if let Some(parent) = config_path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(write_error)?;
    }
    let temporary = config_path.with_extension("toml.tmp");
    std::fs::write(&temporary, document.to_string()).map_err(write_error)?;
    std::fs::rename(&temporary, config_path).map_err(write_error)
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let mut guard = PinGuard::new(Some(hash), 5, Duration::from_secs(60));
        let now = Instant::now();
        assert_eq!(guard.check("2468", now), Ok(()));
        assert_eq!(
            guard.check("1357", now),
            Err(PinError::Wrong { remaining: 4 })
        );
    }

    #[test]
    fn repeated_wrong_pins_lock_even_the_right_one_until_the_lockout_ends() {
        let mut guard = PinGuard::new(Some(hash_pin("2468").unwrap()), 3, Duration::from_secs(60));
        let start = Instant::now();
        assert_eq!(
            guard.check("0000", start),
            Err(PinError::Wrong { remaining: 2 })
        );
        assert_eq!(
            guard.check("0001", start),
            Err(PinError::Wrong { remaining: 1 })
        );
        assert_eq!(
            guard.check("0002", start),
            Err(PinError::LockedOut { seconds_left: 60 })
        );
        assert!(matches!(
            guard.check("2468", start + Duration::from_secs(30)),
            Err(PinError::LockedOut { seconds_left: 30 })
        ));
        assert_eq!(guard.locked_for(start + Duration::from_secs(59)), Some(1));
        assert_eq!(guard.check("2468", start + Duration::from_secs(61)), Ok(()));
        // A success resets the count.
        assert_eq!(
            guard.check("9999", start + Duration::from_secs(62)),
            Err(PinError::Wrong { remaining: 2 })
        );
    }

    #[test]
    fn no_pin_set_and_broken_hash_are_clear_errors() {
        let mut guard = PinGuard::new(None, 5, Duration::from_secs(60));
        assert_eq!(guard.check("1234", Instant::now()), Err(PinError::NotSet));
        let mut guard = PinGuard::new(Some("$argon2id$garbage".into()), 5, Duration::from_secs(60));
        assert!(matches!(
            guard.check("1234", Instant::now()),
            Err(PinError::BadHash(_))
        ));
    }

    #[test]
    fn storing_the_hash_keeps_the_rest_of_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        let original = "# my terminal\n[payment]\ncurrency = \"HKD\" # local money\n\n[admin]\nmax_pin_attempts = 3\n";
        std::fs::write(&path, original).unwrap();
        let hash = hash_pin("2468").unwrap();
        store_pin_hash(&path, &hash).unwrap();
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
    }

    #[test]
    fn storing_creates_a_missing_file_and_refuses_broken_toml() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("new/config.toml");
        store_pin_hash(&path, "$argon2id$x").unwrap();
        assert!(std::fs::read_to_string(&path).unwrap().contains("[admin]"));
        let broken = dir.path().join("broken.toml");
        std::fs::write(&broken, "[admin\n").unwrap();
        assert!(matches!(
            store_pin_hash(&broken, "$argon2id$x"),
            Err(StoreError::Parse { .. })
        ));
        assert_eq!(std::fs::read_to_string(&broken).unwrap(), "[admin\n");
    }
}
