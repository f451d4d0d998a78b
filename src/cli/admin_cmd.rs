//! `alipay-pos admin`: manager settings that are not edited by hand.

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Subcommand;

use super::{CliError, CliResult};
use crate::admin;
use crate::config::Config;

#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Set the manager PIN (4 to 12 digits) that opens the manager screen.
    ///
    /// Asks for the PIN twice without echoing it, and stores only its Argon2id hash in the
    /// configuration file (`[admin] pin_hash`), keeping the rest of the file as it is. The
    /// file is created if it does not exist.
    SetPin {
        /// Read the PIN from one line of standard input instead (for provisioning scripts).
        #[arg(long)]
        pin_stdin: bool,
    },
}

pub fn run(command: AdminCommand, config_path: Option<&Path>) -> CliResult {
    match command {
        AdminCommand::SetPin { pin_stdin } => set_pin(pin_stdin, config_path),
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

fn set_pin(pin_stdin: bool, config_path: Option<&Path>) -> CliResult {
    let path = target_file(config_path)?;
    // An existing file must be valid before it is rewritten.
    if path.exists() {
        Config::load(&path)?;
    }
    let pin = if pin_stdin {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line)?;
        line.trim().to_string()
    } else {
        let first = rpassword::prompt_password("new manager PIN: ")?;
        let second = rpassword::prompt_password("repeat the PIN: ")?;
        if first != second {
            return Err(CliError::usage("the two PINs differ; nothing was changed"));
        }
        first
    };
    let hash = admin::hash_pin(&pin)?;
    admin::store_pin_hash(&path, &hash)?;
    println!("manager PIN set in {}", path.display());
    Ok(ExitCode::SUCCESS)
}
