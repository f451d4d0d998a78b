//! Fetching one day's reports from Alipay's SFTP server (flows.md §8), verified.
//!
//! Alipay publishes day D's transaction details, and the settlement files of the batches
//! settled that day, in `/v1/settlements/<customerId>/<yyyyMMdd>/` on D+1. [`fetch_day`]
//! connects, checks the server's host key against the configured `known_hosts` (an unknown
//! or changed key is refused, never trusted on first use), logs in with the password file or
//! the identity file, lists that folder and downloads every file named like an Alipay
//! report. Each file is written to a temp file beside its final name, its size checked
//! against the listing, and only then renamed: a broken connection leaves the previous copy
//! (or nothing) under the final name, never a partial file.
//!
//! The SSH client is russh (pure Rust, tokio) with aws-lc-rs crypto, without RSA (see
//! Cargo.toml): host keys and identities are Ed25519 or ECDSA.

mod error;
mod known_hosts;

use super::report_name::{ReportName, is_report_date};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use russh::client::{self, AuthResult, Handle};
use russh::keys::PrivateKeyWithHashAlg;
use russh::keys::ssh_key::{Algorithm, PublicKey};
use russh_sftp::client::SftpSession;
use russh_sftp::client::error::Error as SftpProtocolError;
use russh_sftp::protocol::StatusCode;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::config::ReconciliationConfig;

pub use error::{CredentialProblem, SftpError};

/// How long the TCP connection, and then the SSH handshake with login, may take each.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);
/// A connection silent this long is dropped (the server answers every read at once).
const INACTIVITY_TIMEOUT: Duration = Duration::from_secs(60);
/// How much is read before progress is reported again.
const CHUNK_BYTES: usize = 64 * 1024;

/// One report downloaded into the target folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchedFile {
    /// The file's name on the server, e.g. `transactionItems_20261130_000.csv`.
    pub name: String,
    /// Where it now is: `<into>/<name>`.
    pub path: PathBuf,
    pub bytes: u64,
}

/// What a fetch is doing, for the CLI's progress display.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FetchProgress {
    /// The host key was verified and the account logged in.
    Connected,
    /// The day's folder was listed: how many reports it holds and their total size.
    Listed { files: usize, bytes: u64 },
    /// `done` of `total` bytes of `name` are on disk (reported after every chunk).
    File { name: String, done: u64, total: u64 },
    /// Every report was downloaded and renamed into place.
    Done,
}

/// Downloads the reports of `date` (`yyyyMMdd`) into the folder `into` (created if missing),
/// replacing earlier copies atomically, and returns them sorted by name.
///
/// Only files named like Alipay's reports are fetched (`transactionItems_…csv`,
/// `settlementItems_…csv`, `settlementSummary_…csv`); anything else in the folder is
/// ignored. The secret files are read here, at use, and never logged.
pub async fn fetch_day(
    config: &ReconciliationConfig,
    date: &str,
    into: &Path,
    progress: &mut (dyn FnMut(FetchProgress) + Send),
) -> Result<Vec<FetchedFile>, SftpError> {
    check_date(date)?;
    let known_hosts =
        known_hosts::read(&config.known_hosts).map_err(|source| SftpError::KnownHosts {
            path: config.known_hosts.clone(),
            source,
        })?;
    // Read before connecting, so a bad secret file is reported without a network round.
    let credential = Credential::read(config)?;
    let mut session = connect(config, &known_hosts).await?;
    let outcome = fetch_with(&mut session, config, credential, date, into, progress).await;
    // Best effort: the server closes an abandoned session by itself.
    let _ = session
        .disconnect(russh::Disconnect::ByApplication, "", "en")
        .await;
    let files = outcome?;
    progress(FetchProgress::Done);
    Ok(files)
}

async fn fetch_with(
    session: &mut Handle<HostKeyChecker>,
    config: &ReconciliationConfig,
    credential: Credential,
    date: &str,
    into: &Path,
    progress: &mut (dyn FnMut(FetchProgress) + Send),
) -> Result<Vec<FetchedFile>, SftpError> {
    authenticate(session, config, credential).await?;
    progress(FetchProgress::Connected);
    let sftp = open_sftp(session, config).await?;
    let folder = config.day_folder(date);
    let reports = list_reports(&sftp, &folder, date).await?;
    progress(FetchProgress::Listed {
        files: reports.len(),
        bytes: reports.iter().map(|report| report.size).sum(),
    });
    std::fs::create_dir_all(into).map_err(|source| SftpError::Io {
        path: into.to_path_buf(),
        source,
    })?;
    let mut fetched = Vec::with_capacity(reports.len());
    for report in reports {
        fetched.push(download(&sftp, &folder, &report, into, progress).await?);
    }
    let _ = sftp.close().await;
    Ok(fetched)
}

/// `yyyyMMdd`, a real calendar day: it becomes a folder name on the server.
fn check_date(date: &str) -> Result<(), SftpError> {
    if is_report_date(date) {
        Ok(())
    } else {
        Err(SftpError::BadDate {
            date: date.to_owned(),
        })
    }
}

/// Whether a server file name is one of Alipay's report names ([`ReportName`]). The name
/// becomes a local file name, and a report name has only letters, digits, `_` and `-`:
/// nothing can climb out of the target folder.
pub fn is_report_name(name: &str) -> bool {
    ReportName::parse(name).is_some()
}

/// The secret the account logs in with, read from its file at use.
enum Credential {
    Password(Password),
    Identity(PrivateKeyWithHashAlg),
}

/// A password that never prints.
struct Password(String);

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(••••)")
    }
}

impl Credential {
    fn read(config: &ReconciliationConfig) -> Result<Credential, SftpError> {
        let key = config.credential.key();
        let problem = |path: &Path, problem| SftpError::Credential {
            key,
            path: path.to_path_buf(),
            problem,
        };
        if let Some(path) = config.password_file() {
            let password = read_password_file(path).map_err(|p| problem(path, p))?;
            return Ok(Credential::Password(password));
        }
        let path = config.credential.path();
        let identity = read_identity_file(path).map_err(|p| problem(path, p))?;
        Ok(Credential::Identity(identity))
    }
}

/// Reads a password file: owner-only, UTF-8, one line; one trailing newline (`\n` or
/// `\r\n`, as editors and `echo` leave it) is not part of the password.
fn read_password_file(path: &Path) -> Result<Password, CredentialProblem> {
    let bytes = read_secret_file(path)?;
    let text = String::from_utf8(bytes).map_err(|_| CredentialProblem::NotText)?;
    let password = text
        .strip_suffix("\r\n")
        .or_else(|| text.strip_suffix('\n'))
        .unwrap_or(&text);
    if password.is_empty() {
        return Err(CredentialProblem::Empty);
    }
    if password.contains(['\n', '\r']) {
        return Err(CredentialProblem::SeveralLines);
    }
    Ok(Password(password.to_owned()))
}

/// Reads an OpenSSH private key without a passphrase (the fetch runs unattended).
fn read_identity_file(path: &Path) -> Result<PrivateKeyWithHashAlg, CredentialProblem> {
    let bytes = read_secret_file(path)?;
    let text = String::from_utf8(bytes).map_err(|_| CredentialProblem::NotAKey)?;
    let key = russh::keys::decode_secret_key(&text, None).map_err(|err| match err {
        russh::keys::Error::KeyIsEncrypted => CredentialProblem::Encrypted,
        _ => CredentialProblem::NotAKey,
    })?;
    if key.algorithm().is_rsa() {
        return Err(CredentialProblem::Rsa);
    }
    Ok(PrivateKeyWithHashAlg::new(Arc::new(key), None))
}

/// A secret file's bytes, refused when group or others may read it (as ssh refuses an
/// identity): whoever reads it can download the merchant's reports.
fn read_secret_file(path: &Path) -> Result<Vec<u8>, CredentialProblem> {
    let file = std::fs::File::open(path).map_err(|err| match err.kind() {
        std::io::ErrorKind::NotFound => CredentialProblem::Missing,
        _ => CredentialProblem::Unreadable(err),
    })?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = file
            .metadata()
            .map_err(CredentialProblem::Unreadable)?
            .permissions()
            .mode()
            & 0o777;
        if mode & 0o077 != 0 {
            return Err(CredentialProblem::TooOpen(mode));
        }
    }
    let mut bytes = Vec::new();
    std::io::Read::read_to_end(&mut &file, &mut bytes).map_err(CredentialProblem::Unreadable)?;
    Ok(bytes)
}

/// Why the handshake was stopped: russh's own errors, or our verdict on the host key.
#[derive(Debug)]
enum HandshakeError {
    Ssh(russh::Error),
    HostKey(SftpError),
}

impl From<russh::Error> for HandshakeError {
    fn from(error: russh::Error) -> Self {
        HandshakeError::Ssh(error)
    }
}

/// The russh client handler: accepts the server only when `known_hosts` lists its key.
struct HostKeyChecker {
    host: String,
    port: u16,
    known_hosts_path: PathBuf,
    known_hosts: String,
}

impl client::Handler for HostKeyChecker {
    type Error = HandshakeError;

    async fn check_server_key(
        &mut self,
        offered: &russh::keys::PublicKeyOrCertificate,
    ) -> Result<bool, HandshakeError> {
        let key = match offered {
            russh::keys::PublicKeyOrCertificate::PublicKey { key, .. } => key.clone(),
            // Not asked for (no certificate algorithm is offered); judged by its key alone.
            russh::keys::PublicKeyOrCertificate::Certificate(certificate) => {
                PublicKey::from(certificate.public_key().clone())
            }
        };
        let fingerprint = known_hosts::fingerprint(&key);
        let (host, port, path) = (self.host.clone(), self.port, self.known_hosts_path.clone());
        match known_hosts::check(&self.known_hosts, &self.host, self.port, &key) {
            known_hosts::Verdict::Known => Ok(true),
            known_hosts::Verdict::Unknown => {
                Err(HandshakeError::HostKey(SftpError::UnknownHostKey {
                    host,
                    port,
                    fingerprint,
                    known_hosts: path,
                }))
            }
            known_hosts::Verdict::Changed { line } => {
                Err(HandshakeError::HostKey(SftpError::ChangedHostKey {
                    host,
                    port,
                    fingerprint,
                    known_hosts: path,
                    line,
                }))
            }
            known_hosts::Verdict::Revoked { line } => {
                Err(HandshakeError::HostKey(SftpError::RevokedHostKey {
                    host,
                    port,
                    fingerprint,
                    known_hosts: path,
                    line,
                }))
            }
        }
    }
}

/// Host-key types to ask the server for: those `known_hosts` records for it first (so a
/// server with several keys shows one that can be checked, as OpenSSH does), then russh's
/// other defaults; never RSA, which this build cannot verify.
fn host_key_preference(known_hosts: &str, host: &str, port: u16) -> Vec<Algorithm> {
    let usable = |algorithm: &Algorithm| !matches!(algorithm, Algorithm::Rsa { .. });
    let recorded = known_hosts::recorded_algorithms(known_hosts, host, port);
    let defaults = russh::Preferred::DEFAULT.key.iter().cloned();
    let mut preference: Vec<Algorithm> = Vec::new();
    for algorithm in recorded.into_iter().chain(defaults) {
        if usable(&algorithm) && !preference.contains(&algorithm) {
            preference.push(algorithm);
        }
    }
    preference
}

/// Opens the TCP connection and runs the SSH handshake, which verifies the host key.
async fn connect(
    config: &ReconciliationConfig,
    known_hosts: &str,
) -> Result<Handle<HostKeyChecker>, SftpError> {
    let host = config.sftp_host.clone();
    let port = config.sftp_port;
    let timeout = || SftpError::ConnectTimeout {
        host: host.clone(),
        port,
    };
    let stream = tokio::time::timeout(
        CONNECT_TIMEOUT,
        tokio::net::TcpStream::connect((host.as_str(), port)),
    )
    .await
    .map_err(|_| timeout())?
    .map_err(|source| SftpError::Connect {
        host: host.clone(),
        port,
        source,
    })?;
    let _ = stream.set_nodelay(true);
    let ssh_config = client::Config {
        inactivity_timeout: Some(INACTIVITY_TIMEOUT),
        preferred: russh::Preferred {
            key: host_key_preference(known_hosts, &host, port).into(),
            ..russh::Preferred::DEFAULT
        },
        ..client::Config::default()
    };
    let checker = HostKeyChecker {
        host: host.clone(),
        port,
        known_hosts_path: config.known_hosts.clone(),
        known_hosts: known_hosts.to_owned(),
    };
    let handshake = client::connect_stream(Arc::new(ssh_config), stream, checker);
    match tokio::time::timeout(CONNECT_TIMEOUT, handshake).await {
        Err(_) => Err(timeout()),
        Ok(Ok(handle)) => Ok(handle),
        Ok(Err(HandshakeError::HostKey(refusal))) => Err(refusal),
        Ok(Err(HandshakeError::Ssh(russh::Error::NoCommonAlgo {
            kind: russh::AlgorithmKind::Key,
            ..
        }))) => Err(SftpError::NoUsableHostKey { host, port }),
        Ok(Err(HandshakeError::Ssh(source))) => Err(SftpError::Ssh { host, port, source }),
    }
}

fn ssh_error(config: &ReconciliationConfig, source: russh::Error) -> SftpError {
    SftpError::Ssh {
        host: config.sftp_host.clone(),
        port: config.sftp_port,
        source,
    }
}

/// Logs in with the password or the key; a refusal names the user, never the secret.
async fn authenticate(
    session: &mut Handle<HostKeyChecker>,
    config: &ReconciliationConfig,
    credential: Credential,
) -> Result<(), SftpError> {
    let username = config.username.clone();
    let result = match credential {
        Credential::Password(Password(password)) => {
            session
                .authenticate_password(username.clone(), password)
                .await
        }
        Credential::Identity(key) => session.authenticate_publickey(username.clone(), key).await,
    };
    match result.map_err(|error| ssh_error(config, error))? {
        AuthResult::Success => Ok(()),
        AuthResult::Failure { .. } => Err(SftpError::AuthRejected {
            host: config.sftp_host.clone(),
            username,
        }),
    }
}

/// Starts the `sftp` subsystem on a new channel.
async fn open_sftp(
    session: &Handle<HostKeyChecker>,
    config: &ReconciliationConfig,
) -> Result<SftpSession, SftpError> {
    let channel = session
        .channel_open_session()
        .await
        .map_err(|error| ssh_error(config, error))?;
    channel
        .request_subsystem(true, "sftp")
        .await
        .map_err(|error| ssh_error(config, error))?;
    SftpSession::new(channel.into_stream())
        .await
        .map_err(|source| SftpError::Remote {
            path: "(sftp subsystem)".to_owned(),
            source,
        })
}

/// A report as listed in the day's folder.
struct ListedReport {
    name: String,
    size: u64,
}

async fn list_reports(
    sftp: &SftpSession,
    folder: &str,
    date: &str,
) -> Result<Vec<ListedReport>, SftpError> {
    let entries = match sftp.read_dir(folder).await {
        Ok(entries) => entries,
        Err(SftpProtocolError::Status(status)) if status.status_code == StatusCode::NoSuchFile => {
            return Err(SftpError::NotPublished {
                date: date.to_owned(),
                folder: folder.to_owned(),
            });
        }
        Err(source) => {
            return Err(SftpError::Remote {
                path: folder.to_owned(),
                source,
            });
        }
    };
    let mut reports: Vec<ListedReport> = entries
        .filter(|entry| entry.file_type().is_file() && is_report_name(&entry.file_name()))
        .map(|entry| ListedReport {
            size: entry.metadata().len(),
            name: entry.file_name(),
        })
        .collect();
    reports.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(reports)
}

/// Downloads one report to a temp file in `into`, checks its size, then renames it over
/// `<into>/<name>`. Any failure drops (deletes) the temp file.
async fn download(
    sftp: &SftpSession,
    folder: &str,
    report: &ListedReport,
    into: &Path,
    progress: &mut (dyn FnMut(FetchProgress) + Send),
) -> Result<FetchedFile, SftpError> {
    let remote_path = format!("{}/{}", folder.trim_end_matches('/'), report.name);
    let remote_error = |source| SftpError::Remote {
        path: remote_path.clone(),
        source,
    };
    let final_path = into.join(&report.name);
    let local_error = |source| SftpError::Io {
        path: final_path.clone(),
        source,
    };
    let mut remote = sftp
        .open(remote_path.as_str())
        .await
        .map_err(remote_error)?;
    let temp = tempfile::Builder::new()
        .prefix(&format!(".{}.", report.name))
        .suffix(".part")
        .tempfile_in(into)
        .map_err(local_error)?;
    let mut local = tokio::fs::File::from_std(temp.as_file().try_clone().map_err(local_error)?);
    let mut buffer = vec![0u8; CHUNK_BYTES];
    let mut done: u64 = 0;
    loop {
        let read = remote
            .read(&mut buffer)
            .await
            .map_err(|err| remote_error(SftpProtocolError::IO(err.to_string())))?;
        if read == 0 {
            break;
        }
        local
            .write_all(&buffer[..read])
            .await
            .map_err(local_error)?;
        done += read as u64;
        progress(FetchProgress::File {
            name: report.name.clone(),
            done,
            total: report.size,
        });
    }
    let _ = remote.shutdown().await;
    if done != report.size {
        return Err(SftpError::SizeMismatch {
            name: report.name.clone(),
            received: done,
            listed: report.size,
        });
    }
    local.flush().await.map_err(local_error)?;
    local.sync_all().await.map_err(local_error)?;
    drop(local);
    temp.persist(&final_path)
        .map_err(|err| local_error(err.error))?;
    Ok(FetchedFile {
        name: report.name.clone(),
        path: final_path.clone(),
        bytes: done,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::locale::Locale;

    #[test]
    fn report_names_are_alipays_and_nothing_else() {
        for name in [
            "transactionItems_20261130_000.csv",
            "transactionItems_20261130_999.csv",
            "settlementItems_USD_2026113000001_000.csv",
            "settlementItems_ALIPAY_CN_USD_2026113000001_001.csv",
            "settlementSummary_USD_2026113000001_000.csv",
            "settlementSummary_KAKAOPAY_KRW_B-7_000.csv",
        ] {
            assert!(is_report_name(name), "{name}");
        }
        for name in [
            "README.txt",
            "transactionItems_20261130_000.xlsx",
            "transactionItems_20261130_0.csv",
            "transactionItems_2026113_000.csv",
            "transactionItems_20261130.csv",
            "settlementItems__000.csv",
            "settlementItems_USD__000.csv",
            "settlementItems_../../x_000.csv",
            "settlementItems_US D_1_000.csv",
            ".transactionItems_20261130_000.csv",
            "feeItems_USD_1_000.csv",
            "transactionItems_20261130_000.csv.part",
        ] {
            assert!(!is_report_name(name), "{name}");
        }
    }

    #[test]
    fn dates_are_calendar_days_as_yyyymmdd() {
        for good in ["20261130", "20240229", "19991231"] {
            assert!(check_date(good).is_ok(), "{good}");
        }
        for bad in [
            "2026-11-30",
            "20261131",
            "20230229",
            "20261300",
            "2026113",
            "202611300",
            "../../x",
            "",
        ] {
            assert!(
                matches!(check_date(bad), Err(SftpError::BadDate { .. })),
                "{bad}"
            );
        }
    }

    fn secret_file(dir: &tempfile::TempDir, contents: &[u8], mode: u32) -> PathBuf {
        let path = dir.path().join("secret");
        std::fs::write(&path, contents).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        }
        #[cfg(not(unix))]
        let _ = mode;
        path
    }

    #[test]
    fn a_password_file_loses_one_trailing_newline_only() {
        let dir = tempfile::tempdir().unwrap();
        for (contents, password) in [
            (&b"s3cret\n"[..], "s3cret"),
            (b"s3cret\r\n", "s3cret"),
            (b"s3cret", "s3cret"),
            (b" spaced pass ", " spaced pass "),
            ("密码\n".as_bytes(), "密码"),
        ] {
            let path = secret_file(&dir, contents, 0o600);
            assert_eq!(read_password_file(&path).unwrap().0, password);
        }
        for (contents, expected) in [
            (&b""[..], "empty"),
            (b"\n", "empty"),
            (b"s3cret\n\n", "more than one line"),
            (b"one\ntwo\n", "more than one line"),
            (b"\xff\xfe", "UTF-8"),
        ] {
            let path = secret_file(&dir, contents, 0o600);
            let problem = read_password_file(&path).unwrap_err();
            assert!(problem.to_string().contains(expected), "{problem}");
        }
    }

    #[test]
    fn a_password_never_prints() {
        let dir = tempfile::tempdir().unwrap();
        let path = secret_file(&dir, b"hunter2\n", 0o600);
        let password = read_password_file(&path).unwrap();
        assert!(!format!("{password:?}").contains("hunter2"));
    }

    #[cfg(unix)]
    #[test]
    fn secret_files_others_can_read_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        for mode in [0o644, 0o640, 0o604] {
            let path = secret_file(&dir, b"s3cret\n", mode);
            assert!(
                matches!(
                    read_password_file(&path),
                    Err(CredentialProblem::TooOpen(m)) if m == mode
                ),
                "{mode:o}"
            );
        }
        let missing = dir.path().join("nope");
        assert!(matches!(
            read_password_file(&missing),
            Err(CredentialProblem::Missing)
        ));
    }

    #[test]
    fn identity_files_must_be_unencrypted_non_rsa_keys() {
        let dir = tempfile::tempdir().unwrap();
        let path = secret_file(&dir, b"not a key\n", 0o600);
        assert!(matches!(
            read_identity_file(&path),
            Err(CredentialProblem::NotAKey)
        ));
    }

    /// A configuration for a server on 127.0.0.1:`port` with its files in `dir`.
    fn config_in(dir: &tempfile::TempDir, port: u16) -> ReconciliationConfig {
        ReconciliationConfig {
            sftp_host: "127.0.0.1".to_owned(),
            sftp_port: port,
            username: "merchant".to_owned(),
            credential: crate::config::SftpCredential::PasswordFile(dir.path().join("password")),
            known_hosts: dir.path().join("known_hosts"),
            customer_id: "C1".to_owned(),
            remote_root: "/".to_owned(),
        }
    }

    async fn fetch_error(config: &ReconciliationConfig, date: &str) -> SftpError {
        let into = tempfile::tempdir().unwrap();
        let mut events = Vec::new();
        let result = fetch_day(config, date, into.path(), &mut |e| events.push(e)).await;
        assert!(events.is_empty(), "{events:?}");
        assert!(std::fs::read_dir(into.path()).unwrap().next().is_none());
        result.unwrap_err()
    }

    #[tokio::test]
    async fn local_problems_are_found_before_connecting_and_in_order() {
        let dir = tempfile::tempdir().unwrap();
        // Nothing listens there: any attempt to connect would be a Connect error.
        let closed_port = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            listener.local_addr().unwrap().port()
        };
        let config = config_in(&dir, closed_port);
        let err = fetch_error(&config, "2026-11-30").await;
        assert!(matches!(err, SftpError::BadDate { .. }), "{err}");
        let err = fetch_error(&config, "20261130").await;
        assert!(matches!(err, SftpError::KnownHosts { .. }), "{err}");
        std::fs::write(&config.known_hosts, "").unwrap();
        let err = fetch_error(&config, "20261130").await;
        assert!(
            matches!(
                &err,
                SftpError::Credential {
                    key: "reconciliation.password_file",
                    problem: CredentialProblem::Missing,
                    ..
                }
            ),
            "{err}"
        );
        secret_file(&dir, b"s3cret\n", 0o600);
        std::fs::rename(dir.path().join("secret"), dir.path().join("password")).unwrap();
        let err = fetch_error(&config, "20261130").await;
        assert!(matches!(err, SftpError::Connect { .. }), "{err}");
        let message = err.message(Locale::English);
        assert!(
            message.contains(&format!("127.0.0.1:{closed_port}")),
            "{message}"
        );
        assert!(!message.contains("s3cret") && !format!("{err:?}").contains("s3cret"));
    }

    #[test]
    fn rsa_is_never_asked_for_and_recorded_types_come_first() {
        let known = "[h]:2222 ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBFPvtbjVd6RNJlvS0TkraFQ75BSvW7FiGdnoOsBsr3kbqlgYuhas2cFVRyZc8/D6dKz8lxszGIZBwpvO2jvfkfc=\n";
        let preference = host_key_preference(known, "h", 2222);
        assert!(
            preference
                .iter()
                .all(|a| !matches!(a, Algorithm::Rsa { .. })),
            "{preference:?}"
        );
        assert_eq!(
            preference.first(),
            Some(&Algorithm::Ecdsa {
                curve: russh::keys::EcdsaCurve::NistP256
            })
        );
        assert!(preference.contains(&Algorithm::Ed25519));
    }
}
