//! `alipay-pos signature`: sign and verify AMS content by hand.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};

use super::{CliError, CliResult, EXIT_CHECK_FAILED};
use crate::ams::diagnose::{self, SignatureInput, Verdict, VerifyRequest};
use crate::ams::{keys, signing};

#[derive(Debug, Subcommand)]
pub enum SignatureCommand {
    /// Print the content to sign, then the URL-encoded signature as the last line.
    Sign {
        /// The private key (PKCS#8 or PKCS#1 PEM, or one-line base64).
        #[arg(long, value_name = "FILE")]
        key: PathBuf,
        #[command(flatten)]
        content: ContentArgs,
    },
    /// Verify a signature and, when it fails, say exactly why.
    ///
    /// Tells apart: the wrong key, a PKCS#1/PKCS#8 mix-up, a signature that was not
    /// URL-decoded, a changed body, and a time or path mismatch. Exit status 0 when it
    /// verifies, 2 when it does not, 1 on unusable input.
    Verify {
        /// The public key to verify with (SPKI PEM or one-line base64). Alipay's key for
        /// responses and notifications, the merchant's for requests.
        #[arg(long, value_name = "FILE")]
        key: PathBuf,
        #[command(flatten)]
        content: ContentArgs,
        /// The whole `signature` header value as received (URL-encoded).
        #[arg(
            long,
            value_name = "HEADER",
            required_unless_present = "signature",
            conflicts_with = "signature"
        )]
        header: Option<String>,
        /// The bare base64 signature, as your code decoded it.
        #[arg(long, value_name = "BASE64")]
        signature: Option<String>,
    },
}

/// The parts of the content to sign: `POST <path>\n<client-id>.<time>.<body>`.
#[derive(Debug, Args)]
pub struct ContentArgs {
    /// The `client-id` header value.
    #[arg(long, value_name = "ID")]
    client_id: String,
    /// The `request-time` (or `response-time`) header value, exactly as sent.
    #[arg(long, value_name = "T")]
    time: String,
    /// The request path, e.g. /ams/api/v1/payments/pay (for notifications: the notify URL's path).
    #[arg(long, value_name = "P")]
    path: String,
    /// File holding the exact body bytes.
    #[arg(long, value_name = "F")]
    body_file: PathBuf,
}

impl ContentArgs {
    fn body(&self) -> Result<Vec<u8>, CliError> {
        std::fs::read(&self.body_file).map_err(|e| {
            CliError::usage(format!(
                "cannot read body file {}: {e}",
                self.body_file.display()
            ))
        })
    }
}

fn read_key_text(path: &PathBuf) -> Result<String, CliError> {
    std::fs::read_to_string(path)
        .map_err(|e| CliError::usage(format!("cannot read key file {}: {e}", path.display())))
}

pub fn run(command: SignatureCommand) -> CliResult {
    match command {
        SignatureCommand::Sign { key, content } => sign(key, content),
        SignatureCommand::Verify {
            key,
            content,
            header,
            signature,
        } => verify(key, content, header, signature),
    }
}

fn sign(key_path: PathBuf, args: ContentArgs) -> CliResult {
    let loaded = keys::load_private_key_file(&key_path)?;
    if let Some(label) = &loaded.mislabelled_as {
        eprintln!(
            "warning: {} says `BEGIN {label}` but contains {}; other tools will reject it",
            key_path.display(),
            loaded.encoding
        );
    }
    let body = args.body()?;
    let content = signing::content_to_sign(&args.path, &args.client_id, &args.time, &body);
    let signature = signing::sign(&loaded.key, &content)?;
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(&content)?;
    writeln!(stdout)?;
    writeln!(stdout, "{}", signing::url_encode(&signature))?;
    Ok(ExitCode::SUCCESS)
}

fn verify(
    key_path: PathBuf,
    args: ContentArgs,
    header: Option<String>,
    signature: Option<String>,
) -> CliResult {
    let key_text = read_key_text(&key_path)?;
    let body = args.body()?;
    let signature = match (&header, &signature) {
        (Some(header), _) => SignatureInput::Header(header),
        (None, Some(signature)) => SignatureInput::Base64(signature),
        (None, None) => return Err(CliError::usage("give --header or --signature")),
    };
    let diagnosis = diagnose::diagnose(VerifyRequest {
        key_text: &key_text,
        client_id: &args.client_id,
        time: &args.time,
        path: &args.path,
        body: &body,
        signature,
    });
    for note in &diagnosis.notes {
        println!("note: {note}");
    }
    match diagnosis.verdict {
        Verdict::Verified => {
            println!("OK: signature verified");
            Ok(ExitCode::SUCCESS)
        }
        Verdict::KeyUnusable(error) => {
            Err(CliError::usage(format!("{}: {error}", key_path.display())))
        }
        verdict => {
            println!("FAILED: {verdict}");
            Ok(ExitCode::from(EXIT_CHECK_FAILED))
        }
    }
}
