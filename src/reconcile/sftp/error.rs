//! What can go wrong fetching a day's reports, as values, with a message in both languages
//! that says what to do next. `Display` is the English text for the log; neither it nor
//! [`SftpError::message`] ever holds the password or a key.

use std::io;
use std::path::PathBuf;

use crate::locale::Locale;

/// Why a secret file named by `[reconciliation]` cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum CredentialProblem {
    #[error("it does not exist")]
    Missing,
    #[error("it cannot be read ({0})")]
    Unreadable(#[source] io::Error),
    /// Group or others may read it (mode shown in octal), so another local user could log
    /// in as the merchant.
    #[error("other users can read it (mode {0:03o})")]
    TooOpen(u32),
    #[error("it is empty")]
    Empty,
    /// A password file with more than one line is usually the wrong file.
    #[error("it holds more than one line")]
    SeveralLines,
    #[error("it is not UTF-8 text")]
    NotText,
    #[error("it is not an OpenSSH private key")]
    NotAKey,
    #[error("the key is protected by a passphrase")]
    Encrypted,
    /// RSA identities cannot sign here (russh is built without its `rsa` feature, see
    /// Cargo.toml).
    #[error("it is an RSA key, which this client cannot use")]
    Rsa,
}

/// Why `fetch_day` did not fetch the day's reports.
#[derive(Debug, thiserror::Error)]
pub enum SftpError {
    /// The date argument is not a `yyyyMMdd` calendar date.
    #[error("{date:?} is not a date in the form yyyyMMdd")]
    BadDate { date: String },
    /// The TCP connection failed: refused, unreachable, or the name did not resolve.
    #[error("cannot connect to {host}:{port}: {source}")]
    Connect {
        host: String,
        port: u16,
        #[source]
        source: io::Error,
    },
    /// No answer within the connect or handshake deadline.
    #[error("{host}:{port} did not answer in time")]
    ConnectTimeout { host: String, port: u16 },
    /// `known_hosts` cannot be read.
    #[error("cannot read known_hosts file {}: {source}", path.display())]
    KnownHosts {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// The server's host key is not in `known_hosts`: never trusted on first use.
    #[error(
        "the host key of {host}:{port} ({fingerprint}) is not in {}",
        known_hosts.display()
    )]
    UnknownHostKey {
        host: String,
        port: u16,
        fingerprint: String,
        known_hosts: PathBuf,
    },
    /// `known_hosts` has other keys for this server: it changed, or someone is in between.
    #[error(
        "the host key of {host}:{port} ({fingerprint}) differs from {} line {line}",
        known_hosts.display()
    )]
    ChangedHostKey {
        host: String,
        port: u16,
        fingerprint: String,
        known_hosts: PathBuf,
        line: usize,
    },
    /// An `@revoked` line lists the server's key.
    #[error(
        "the host key of {host}:{port} ({fingerprint}) is revoked in {} line {line}",
        known_hosts.display()
    )]
    RevokedHostKey {
        host: String,
        port: u16,
        fingerprint: String,
        known_hosts: PathBuf,
        line: usize,
    },
    /// The server offers only host-key types this client cannot check (RSA).
    #[error("{host}:{port} offers no Ed25519 or ECDSA host key")]
    NoUsableHostKey { host: String, port: u16 },
    /// The SSH conversation failed (before or after logging in).
    #[error("SSH with {host}:{port} failed: {source}")]
    Ssh {
        host: String,
        port: u16,
        #[source]
        source: russh::Error,
    },
    /// The password or identity file cannot be used; `key` is its config key.
    #[error("`{key}` ({}): {problem}", path.display())]
    Credential {
        key: &'static str,
        path: PathBuf,
        problem: CredentialProblem,
    },
    /// The server refused the user name with this password or key.
    #[error("{host} refused the login of {username:?}")]
    AuthRejected { host: String, username: String },
    /// The day's folder does not exist (yet): Alipay publishes day D's files on D+1.
    #[error("no reports for {date} on the server yet ({folder} does not exist)")]
    NotPublished { date: String, folder: String },
    /// The SFTP subsystem refused a request (permissions, a broken connection, a timeout).
    #[error("SFTP {path}: {source}")]
    Remote {
        path: String,
        #[source]
        source: russh_sftp::client::error::Error,
    },
    /// A file's download ended at another size than the server listed: the connection broke
    /// or the file changed while it was read. Nothing was kept under its name.
    #[error("{name}: received {received} bytes but the server listed {listed}")]
    SizeMismatch {
        name: String,
        received: u64,
        listed: u64,
    },
    /// Writing the local copy failed.
    #[error("cannot write {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

impl SftpError {
    /// The text for the person running the fetch: what happened and what to do next.
    pub fn message(&self, locale: Locale) -> String {
        let zh = locale == Locale::SimplifiedChinese;
        match self {
            SftpError::BadDate { date } => {
                if zh {
                    format!("“{date}”不是日期。请按 yyyyMMdd 格式输入，例如 20261130。")
                } else {
                    format!("{date:?} is not a date. Give it as yyyyMMdd, such as 20261130.")
                }
            }
            SftpError::Connect { host, port, .. } => {
                if zh {
                    format!(
                        "无法连接 {host}:{port}。请检查网络，以及配置中的 [reconciliation] \
                         sftp_host 和 sftp_port；支付宝只接受已登记的来源 IP，如有需要请联系支付宝。"
                    )
                } else {
                    format!(
                        "Cannot connect to {host}:{port}. Check the network and [reconciliation] \
                         sftp_host and sftp_port; Alipay only accepts registered source IP \
                         addresses, so ask Alipay support if this address is new."
                    )
                }
            }
            SftpError::ConnectTimeout { host, port } => {
                if zh {
                    format!(
                        "{host}:{port} 没有响应。请检查网络和防火墙，稍后再试；支付宝只接受已登记的来源 IP。"
                    )
                } else {
                    format!(
                        "{host}:{port} did not answer. Check the network and firewall, then try \
                         again; Alipay only accepts registered source IP addresses."
                    )
                }
            }
            SftpError::KnownHosts { path, .. } => {
                let path = path.display();
                if zh {
                    format!(
                        "无法读取 known_hosts 文件 {path}。请检查 [reconciliation] known_hosts \
                         的路径；向支付宝核对服务器指纹后，用 ssh-keyscan 把主机密钥加入该文件。"
                    )
                } else {
                    format!(
                        "Cannot read the known_hosts file {path}. Check [reconciliation] \
                         known_hosts; after checking the server's fingerprint with Alipay, add \
                         its host key to that file with ssh-keyscan."
                    )
                }
            }
            SftpError::UnknownHostKey {
                host,
                port,
                fingerprint,
                known_hosts,
            } => {
                let path = known_hosts.display();
                let scan = keyscan(host, *port, &path.to_string());
                if zh {
                    format!(
                        "{host}:{port} 的主机密钥不在 {path} 中，已拒绝连接。指纹：{fingerprint}。\
                         请先向支付宝核对这个指纹，一致后再添加：{scan}"
                    )
                } else {
                    format!(
                        "Refused: the host key of {host}:{port} is not in {path}. Its fingerprint \
                         is {fingerprint}. Check it with Alipay first; only if it matches, add \
                         it with: {scan}"
                    )
                }
            }
            SftpError::ChangedHostKey {
                host,
                port,
                fingerprint,
                known_hosts,
                line,
            } => {
                let path = known_hosts.display();
                if zh {
                    format!(
                        "已拒绝连接：{host}:{port} 的主机密钥（{fingerprint}）与 {path} 第 {line} 行\
                         记录的不同。可能有人在冒充服务器。请勿继续；先向支付宝确认服务器是否更换了密钥，\
                         确认后再替换该行。"
                    )
                } else {
                    format!(
                        "Refused: the host key of {host}:{port} ({fingerprint}) differs from the \
                         one in {path} line {line}. Someone may be impersonating the server. \
                         Do not go on; ask Alipay whether the server's key changed, and only \
                         then replace that line."
                    )
                }
            }
            SftpError::RevokedHostKey {
                host,
                port,
                fingerprint,
                known_hosts,
                line,
            } => {
                let path = known_hosts.display();
                if zh {
                    format!(
                        "已拒绝连接：{host}:{port} 的主机密钥（{fingerprint}）已在 {path} 第 {line} 行\
                         被吊销。请联系支付宝获取服务器的新密钥。"
                    )
                } else {
                    format!(
                        "Refused: the host key of {host}:{port} ({fingerprint}) is revoked in \
                         {path} line {line}. Ask Alipay for the server's current key."
                    )
                }
            }
            SftpError::NoUsableHostKey { host, port } => {
                if zh {
                    format!(
                        "{host}:{port} 只提供本程序无法验证的主机密钥（RSA）。请联系支付宝提供 Ed25519 \
                         或 ECDSA 主机密钥，或从商户门户手动下载报表后用 reconcile import 导入。"
                    )
                } else {
                    format!(
                        "{host}:{port} only offers host keys this program cannot check (RSA). \
                         Ask Alipay for an Ed25519 or ECDSA host key, or download the reports \
                         from the merchant portal and use reconcile import."
                    )
                }
            }
            SftpError::Ssh { host, port, source } => {
                if zh {
                    format!(
                        "与 {host}:{port} 的 SSH 连接失败（{source}）。请稍后再试；如果一直失败，\
                         请查看日志并联系支付宝。"
                    )
                } else {
                    format!(
                        "The SSH connection with {host}:{port} failed ({source}). Try again \
                         later; if it keeps failing, see the log and contact Alipay support."
                    )
                }
            }
            SftpError::Credential { key, path, problem } => {
                let path = path.display();
                let fix_en = match problem {
                    CredentialProblem::TooOpen(_) => format!("run `chmod 600 {path}`"),
                    CredentialProblem::Encrypted => {
                        format!("remove the passphrase with `ssh-keygen -p -N \"\" -f {path}`")
                    }
                    CredentialProblem::Rsa | CredentialProblem::NotAKey => {
                        "make an Ed25519 key with `ssh-keygen -t ed25519` and give Alipay its \
                         .pub file"
                            .to_owned()
                    }
                    _ => format!("check `{key}` and the file"),
                };
                if zh {
                    let problem_zh = match problem {
                        CredentialProblem::Missing => "文件不存在".to_owned(),
                        CredentialProblem::Unreadable(_) => "无法读取".to_owned(),
                        CredentialProblem::TooOpen(mode) => {
                            format!("其他用户也能读取（权限 {mode:03o}）")
                        }
                        CredentialProblem::Empty => "文件为空".to_owned(),
                        CredentialProblem::SeveralLines => "文件多于一行".to_owned(),
                        CredentialProblem::NotText => "不是 UTF-8 文本".to_owned(),
                        CredentialProblem::NotAKey => "不是 OpenSSH 私钥".to_owned(),
                        CredentialProblem::Encrypted => "私钥有口令保护".to_owned(),
                        CredentialProblem::Rsa => "是 RSA 私钥，本程序无法使用".to_owned(),
                    };
                    format!("配置项 `{key}`（{path}）无法使用：{problem_zh}。请修正：{fix_en}。")
                } else {
                    format!("`{key}` ({path}) cannot be used: {problem}. To fix: {fix_en}.")
                }
            }
            SftpError::AuthRejected { host, username } => {
                if zh {
                    format!(
                        "{host} 拒绝了用户 “{username}” 的登录。请检查 [reconciliation] username \
                         和密码文件（或私钥）；连续 90 天未使用的账户会被停用，请联系支付宝。"
                    )
                } else {
                    format!(
                        "{host} refused the login of {username:?}. Check [reconciliation] \
                         username and the password file (or identity); Alipay disables \
                         accounts unused for 90 days, so ask Alipay support if it worked before."
                    )
                }
            }
            SftpError::NotPublished { date, folder } => {
                if zh {
                    format!(
                        "服务器上还没有 {date} 的报表（{folder} 不存在）。支付宝在次日发布当日的文件，\
                         请稍后再试；如果已过数日，请检查 [reconciliation] customer_id。"
                    )
                } else {
                    format!(
                        "No reports for {date} on the server yet ({folder} does not exist). \
                         Alipay publishes day D's files on D+1; try again later. If days have \
                         passed, check [reconciliation] customer_id."
                    )
                }
            }
            SftpError::Remote { path, source } => {
                if zh {
                    format!(
                        "服务器拒绝了对 {path} 的操作或连接中断（{source}）。请重新获取；\
                         已下载的文件不会留下不完整的副本。"
                    )
                } else {
                    format!(
                        "The server refused {path} or the connection broke ({source}). Fetch \
                         again; no partial copy was kept."
                    )
                }
            }
            SftpError::SizeMismatch {
                name,
                received,
                listed,
            } => {
                if zh {
                    format!(
                        "{name} 只收到 {received} 字节，服务器列出的是 {listed} 字节；未保存该文件。\
                         请重新获取。"
                    )
                } else {
                    format!(
                        "{name}: received {received} bytes but the server listed {listed}; the \
                         file was not kept. Fetch again."
                    )
                }
            }
            SftpError::Io { path, source } => {
                let path = path.display();
                if zh {
                    format!(
                        "无法写入 {path}（{source}）。请检查磁盘空间和文件夹权限，然后重新获取。"
                    )
                } else {
                    format!(
                        "Cannot write {path} ({source}). Check the disk space and the folder's \
                         permissions, then fetch again."
                    )
                }
            }
        }
    }
}

/// The command that appends a server's Ed25519 and ECDSA host keys to `known_hosts`.
fn keyscan(host: &str, port: u16, known_hosts: &str) -> String {
    let port = if port == 22 {
        String::new()
    } else {
        format!("-p {port} ")
    };
    format!("ssh-keyscan {port}-t ed25519,ecdsa {host} >> {known_hosts}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_message_has_both_languages_and_a_next_step() {
        let errors = [
            SftpError::BadDate {
                date: "2026-11-30".into(),
            },
            SftpError::ConnectTimeout {
                host: "h".into(),
                port: 22,
            },
            SftpError::UnknownHostKey {
                host: "h".into(),
                port: 2222,
                fingerprint: "SHA256:abc".into(),
                known_hosts: "/k".into(),
            },
            SftpError::NotPublished {
                date: "20261130".into(),
                folder: "/v1/settlements/C/20261130".into(),
            },
        ];
        for error in &errors {
            let en = error.message(Locale::English);
            let zh = error.message(Locale::SimplifiedChinese);
            assert_ne!(en, zh);
            assert!(
                zh.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c)),
                "{zh}"
            );
        }
        let unknown = errors[2].message(Locale::English);
        assert!(unknown.contains("SHA256:abc"), "{unknown}");
        assert!(
            unknown.contains("ssh-keyscan -p 2222 -t ed25519,ecdsa h >> /k"),
            "{unknown}"
        );
        assert!(errors[3].message(Locale::English).contains("D+1"));
    }

    #[test]
    fn credential_messages_name_the_key_and_the_fix() {
        let error = SftpError::Credential {
            key: "reconciliation.password_file",
            path: "/etc/alipay/sftp-password".into(),
            problem: CredentialProblem::TooOpen(0o644),
        };
        let en = error.message(Locale::English);
        assert!(en.contains("`reconciliation.password_file`"), "{en}");
        assert!(en.contains("chmod 600 /etc/alipay/sftp-password"), "{en}");
        assert!(en.contains("644"), "{en}");
    }
}
