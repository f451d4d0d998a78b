//! `alipay-pos admin`: manager settings that are not edited by hand, and the PIN prompt
//! every command that needs a manager's approval (`refund`, `settle`) goes through.

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::SystemTime;

use clap::Subcommand;

use super::{CliError, CliResult};
use crate::admin::{self, ManagerApproval, PinGuard};
use crate::config::{Config, DEFAULT_MANAGER, manager_name_problem};

#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Set a manager's PIN (4 to 12 digits): it opens the manager screen and approves
    /// refunds and manual settlement, and the journal names that manager.
    ///
    /// Asks for the PIN twice without echoing it, and stores only its Argon2id hash in the
    /// configuration file (`[[admin.managers]]`, or `[admin] pin_hash` for the manager
    /// called "manager"), keeping the rest of the file as it is. The file is created if it
    /// does not exist, and is left readable by its owner only (0600). A PIN another manager
    /// already has is refused: the PIN alone says who is approving.
    SetPin {
        /// Whose PIN this is (default "manager", the single `[admin] pin_hash`).
        #[arg(long, value_name = "NAME", default_value = DEFAULT_MANAGER)]
        manager: String,
        /// Read the PIN from one line of standard input instead (for provisioning scripts).
        #[arg(long)]
        pin_stdin: bool,
    },
}

pub fn run(command: AdminCommand, config_path: Option<&Path>) -> CliResult {
    match command {
        AdminCommand::SetPin { manager, pin_stdin } => set_pin(&manager, pin_stdin, config_path),
    }
}

fn target_file(config_path: Option<&Path>) -> Result<PathBuf, CliError> {
    match config_path {
        Some(path) => Ok(path.to_path_buf()),
        None => Config::default_path().ok_or_else(|| {
            CliError::usage("this system has no config folder; give the file with --config PATH")
        }),
    }
}

fn read_pin_line() -> Result<String, CliError> {
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|e| CliError::usage(format!("cannot read the PIN from standard input: {e}")))?;
    Ok(line.trim().to_string())
}

fn prompt(text: &str) -> Result<String, CliError> {
    rpassword::prompt_password(text).map_err(|e| {
        CliError::usage(format!(
            "cannot ask for the PIN on this terminal ({e}); give it on standard input with --pin-stdin"
        ))
    })
}

fn set_pin(manager: &str, pin_stdin: bool, config_path: Option<&Path>) -> CliResult {
    if let Some(problem) = manager_name_problem(manager) {
        return Err(CliError::usage(format!("--manager {problem}")));
    }
    let path = target_file(config_path)?;
    // An existing file must be valid before it is rewritten.
    let others = if path.exists() {
        Config::load(&path)?.admin.managers()
    } else {
        Vec::new()
    };
    let pin = if pin_stdin {
        read_pin_line()?
    } else {
        let first = prompt(&format!("new PIN for {manager}: "))?;
        let second = prompt("repeat the PIN: ")?;
        if first != second {
            return Err(CliError::usage("the two PINs differ; nothing was changed"));
        }
        first
    };
    let hash = admin::hash_pin(&pin)?;
    if let Some(owner) = admin::manager_with_pin(&others, &pin, manager)? {
        return Err(CliError::usage(format!(
            "manager {owner} already has this PIN, and the PIN alone must say who approves; choose another (nothing was changed)"
        )));
    }
    admin::store_pin_hash(&path, manager, &hash)?;
    println!("PIN of manager {manager} set in {}", path.display());
    Ok(ExitCode::SUCCESS)
}

/// Asks for a manager's PIN (without echo, or one line of standard input with
/// `pin_stdin`) and checks it against the configured managers, counting wrong tries in the
/// same lockout file as the GUI. A wrong PIN is a usage error (exit 1) that says how many
/// tries are left or how long PINs are locked.
pub(super) fn approve(config: &Config, pin_stdin: bool) -> Result<ManagerApproval, CliError> {
    let mut guard = PinGuard::from_config(&config.admin, &config.storage.data_dir);
    if !guard.has_pin() {
        return Err(CliError::usage(
            "this needs a manager's approval, and no manager PIN is set; set one with `alipay-pos admin set-pin --manager NAME`",
        ));
    }
    // Locked PINs are refused before the PIN is asked for.
    if let Some(seconds) = guard.locked_for(SystemTime::now()) {
        return Err(CliError::usage(format!(
            "too many wrong PINs; PINs are locked for {seconds} s, try again then"
        )));
    }
    let pin = if pin_stdin {
        read_pin_line()?
    } else {
        prompt("manager PIN: ")?
    };
    let approval = guard
        .check(&pin, SystemTime::now())
        .map_err(|e| CliError::usage(e.to_string()))?;
    tracing::info!(manager = approval.manager(), "approved by PIN");
    Ok(approval)
}
