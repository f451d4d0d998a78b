//! Files and folders only their owner may read: the data folder (0700), the journal, the
//! logs and the sandbox's control token (0600).
//!
//! Modes are set explicitly after creation because a creation mode is filtered through the
//! process umask, which is the user's business, not ours. On other platforms the folder's
//! ACLs decide and these functions only create.

use std::io;
use std::path::Path;

/// Owner read/write: the journal, its `-wal`/`-shm`, log files, the control token.
pub const FILE_MODE: u32 = 0o600;
/// Owner only: the data folder and the log folder.
pub const DIR_MODE: u32 = 0o700;

/// Creates `dir` (and missing parents, 0700 too) and makes `dir` itself 0700. A folder that
/// cannot be tightened (another user's) is logged and used as it is.
pub fn private_dir(dir: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(DIR_MODE)
            .create(dir)?;
        tighten(dir, std::fs::Permissions::from_mode(DIR_MODE));
        Ok(())
    }
    #[cfg(not(unix))]
    {
        std::fs::create_dir_all(dir)
    }
}

/// Makes `path` 0600, creating it empty first when `create` is set; a missing file is left
/// missing otherwise.
pub fn private_file(path: &Path, create: bool) -> io::Result<()> {
    if create {
        let mut options = std::fs::OpenOptions::new();
        options.create(true).append(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(FILE_MODE);
        }
        options.open(path)?;
    } else if !path.exists() {
        return Ok(());
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        tighten(path, std::fs::Permissions::from_mode(FILE_MODE));
    }
    Ok(())
}

/// Writes `contents` to a new file at `path` that is 0600 from the moment it exists
/// (replacing any old file), and syncs it.
pub fn write_private(path: &Path, contents: &[u8]) -> io::Result<()> {
    use std::io::Write;
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
        _ => {}
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(FILE_MODE);
    }
    let mut file = options.open(path)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(std::fs::Permissions::from_mode(FILE_MODE))?;
    }
    file.write_all(contents)?;
    file.sync_all()
}

#[cfg(unix)]
fn tighten(path: &Path, mode: std::fs::Permissions) {
    if let Err(error) = std::fs::set_permissions(path, mode) {
        // Someone else's file or folder (a journal copied for inspection) still works;
        // only its owner can tighten it.
        tracing::warn!(path = %path.display(), %error, "cannot make this owner-only");
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn modes_are_owner_only_whatever_existed() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("a/b");
        private_dir(&data).unwrap();
        assert_eq!(mode(&data), 0o700);
        assert_eq!(mode(&dir.path().join("a")), 0o700);
        std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).unwrap();
        private_dir(&data).unwrap();
        assert_eq!(mode(&data), 0o700);

        let file = data.join("f");
        private_file(&file, false).unwrap();
        assert!(!file.exists());
        std::fs::write(&file, "x").unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
        private_file(&file, false).unwrap();
        assert_eq!(mode(&file), 0o600);
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "x");

        let token = data.join("token");
        std::fs::write(&token, "old").unwrap();
        std::fs::set_permissions(&token, std::fs::Permissions::from_mode(0o644)).unwrap();
        write_private(&token, b"new").unwrap();
        assert_eq!(mode(&token), 0o600);
        assert_eq!(std::fs::read_to_string(&token).unwrap(), "new");
    }
}
