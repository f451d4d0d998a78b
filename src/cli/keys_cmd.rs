//! `alipay-pos keys`: the merchant key pair that signs every request.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Subcommand;

use super::CliResult;
use crate::ams::keys;

/// File names `keys generate` writes; the config's `merchant_private_key` points at the first.
pub const PRIVATE_KEY_FILE: &str = "merchant_private_key.pem";
pub const PUBLIC_KEY_FILE: &str = "merchant_public_key.pem";

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Generate a 2048-bit merchant key pair and print the public key to upload to Alipay.
    ///
    /// Writes merchant_private_key.pem (PKCS#8, mode 0600) and merchant_public_key.pem
    /// (X.509 SubjectPublicKeyInfo) into DIR. Existing files are never overwritten.
    Generate {
        /// Folder for the two key files (created if missing).
        #[arg(long, value_name = "DIR", default_value = ".")]
        out: PathBuf,
    },
}

pub fn run(command: KeysCommand) -> CliResult {
    match command {
        KeysCommand::Generate { out } => generate(out),
    }
}

fn generate(out: PathBuf) -> CliResult {
    std::fs::create_dir_all(&out)
        .map_err(|e| super::CliError::usage(format!("cannot create {}: {e}", out.display())))?;
    let private_path = out.join(PRIVATE_KEY_FILE);
    let public_path = out.join(PUBLIC_KEY_FILE);
    // Check both before writing either, so a refusal leaves no half-written pair behind.
    for path in [&private_path, &public_path] {
        if path.exists() {
            return Err(keys::KeyError::WouldOverwrite { path: path.clone() }.into());
        }
    }
    eprintln!("generating a 2048-bit RSA key pair…");
    let private_key = keys::generate_private_key()?;
    let public_key = private_key.public_key();
    keys::write_private_key_file(&private_path, &keys::private_key_pkcs8_pem(&private_key)?)?;
    keys::write_public_key_file(&public_path, &keys::public_key_spki_pem(&public_key)?)?;
    println!(
        "wrote {} (private: keep it secret, mode 0600)",
        private_path.display()
    );
    println!("wrote {}", public_path.display());
    println!("fingerprint: {}", keys::fingerprint(&public_key)?);
    println!("upload this public key to the Alipay dashboard (one line):");
    println!("{}", keys::public_key_one_line(&public_key)?);
    Ok(ExitCode::SUCCESS)
}
