//! What the sandbox can be told, and the defaults it starts with.
//!
//! Where the reference leaves a value to "the contract" (code expiry, cancel and refund
//! windows), the default here is a plausible contract and a flag can change it, because the
//! terminal must cope with any value Alipay's contracts choose.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use url::Url;

use super::SandboxError;
use super::faults::FaultSettings;
use super::reports::{DEFAULT_FEE_RATE_BPS, EmptyDay, MAX_FEE_RATE_BPS, ReportSettings};
use crate::ams::crypto::PublicKey;
use crate::ams::keys;

/// Where the sandbox listens unless told otherwise: loopback only, so a developer machine
/// never offers a payment gateway to its network by accident.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8090";
/// An order code without `paymentExpiryTime` is payable this long.
pub const DEFAULT_ORDER_CODE_EXPIRY: Duration = Duration::from_secs(300);
/// A paid payment can be cancelled (funds back) for a day.
pub const DEFAULT_CANCEL_WINDOW: Duration = Duration::from_secs(86_400);
/// A paid payment can be refunded for a year (counted from `paymentTime`).
pub const DEFAULT_REFUND_WINDOW: Duration = Duration::from_secs(31_536_000);
/// A registration stays `PENDING` this long before it is approved.
pub const DEFAULT_REGISTRATION_DELAY: Duration = Duration::from_secs(10);
/// How long magic amounts 9902/9904 hold a request before breaking the connection; longer than
/// every SDK's read timeout, so the client gives up first.
pub const DEFAULT_HANG_TIME: Duration = Duration::from_secs(60);
/// How often expiries and registration approvals are swept. Answers never depend on it (every
/// access evaluates the clock itself); it only bounds how late a registration notification is.
pub const DEFAULT_SWEEP_INTERVAL: Duration = Duration::from_millis(250);
/// The older Order Code page: a specified expiry "must be less than 30 minutes".
pub const MAX_PAYMENT_EXPIRY: Duration = Duration::from_secs(30 * 60);

/// A merchant the sandbox accepts requests from: its client id and the public key its
/// requests are verified with.
#[derive(Debug, Clone)]
pub struct ClientRegistration {
    pub client_id: String,
    pub merchant_public_key: PublicKey,
}

impl ClientRegistration {
    /// Reads `CLIENT_ID=KEY`, where KEY is a path to the merchant's public key file or, if no
    /// such file exists, the one-line base64 key itself (what Alipay's dashboard shows). The
    /// client id cannot contain `=`, so the first `=` separates the two.
    pub fn parse(spec: &str) -> Result<Self, SandboxError> {
        let Some((client_id, key)) = spec.split_once('=') else {
            return Err(SandboxError::Options(format!(
                "--client `{spec}`: expected CLIENT_ID=PATH_TO_MERCHANT_PUBLIC_KEY"
            )));
        };
        let client_id = client_id.trim();
        if client_id.is_empty() || client_id.len() > 64 {
            return Err(SandboxError::Options(format!(
                "--client `{spec}`: the client id must be 1 to 64 characters"
            )));
        }
        let key = key.trim();
        let path = Path::new(key);
        let loaded = if path.exists() {
            keys::load_public_key_file(path)?
        } else if !key.is_empty()
            && key
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'='))
        {
            keys::parse_public_key(key).map_err(|e| {
                SandboxError::Options(format!(
                    "--client {client_id}: `{}` is neither an existing file nor a usable \
                     one-line base64 public key ({e})",
                    abbreviate(key)
                ))
            })?
        } else {
            return Err(SandboxError::Options(format!(
                "--client {client_id}: no such file `{key}` (give the path to the merchant's \
                 public key, or the one-line base64 key)"
            )));
        };
        Ok(ClientRegistration {
            client_id: client_id.to_owned(),
            merchant_public_key: loaded.key,
        })
    }
}

fn abbreviate(text: &str) -> String {
    if text.chars().count() > 24 {
        format!("{}…", text.chars().take(24).collect::<String>())
    } else {
        text.to_owned()
    }
}

/// Everything a sandbox start needs. Build with [`SandboxOptions::new`] and adjust fields.
#[derive(Debug, Clone)]
pub struct SandboxOptions {
    pub listen: SocketAddr,
    /// Required for a non-loopback `listen` address.
    pub allow_lan: bool,
    /// Base URL put into order codes (wallet pages); default `http://<bound address>`.
    pub public_url: Option<Url>,
    /// Keys and (unless `ephemeral`) the ledger live here.
    pub data_dir: PathBuf,
    /// Keep the ledger in memory; keys are still read from / written to `data_dir`.
    pub ephemeral: bool,
    pub clients: Vec<ClientRegistration>,
    pub order_code_expiry: Duration,
    pub cancel_window: Duration,
    pub refund_window: Duration,
    pub registration_delay: Duration,
    /// Multiplies the notification resend schedule (tests use e.g. 0.001).
    pub time_scale: f64,
    /// The simulated wallet allows one refund per payment (`MULTIPLE_REFUNDS_NOT_SUPPORTED`).
    pub single_refund: bool,
    pub hang_time: Duration,
    /// Faults in force from the start: global, or one client's when `client_id` is set (the
    /// control endpoint can change them).
    pub faults: Option<FaultSettings>,
    pub sweep_interval: Duration,
    /// Alipay's fee on every settled transaction, in basis points (60 = 0.60 %); see
    /// [`super::reports`].
    pub fee_rate_bps: u32,
    /// What a day without transactions publishes: an empty `transactionItems` file (header
    /// and `<END>`, the default) or nothing.
    pub empty_day: EmptyDay,
}

impl SandboxOptions {
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        SandboxOptions {
            listen: SocketAddr::from(([127, 0, 0, 1], 8090)),
            allow_lan: false,
            public_url: None,
            data_dir: data_dir.into(),
            ephemeral: false,
            clients: Vec::new(),
            order_code_expiry: DEFAULT_ORDER_CODE_EXPIRY,
            cancel_window: DEFAULT_CANCEL_WINDOW,
            refund_window: DEFAULT_REFUND_WINDOW,
            registration_delay: DEFAULT_REGISTRATION_DELAY,
            time_scale: 1.0,
            single_refund: false,
            hang_time: DEFAULT_HANG_TIME,
            faults: None,
            sweep_interval: DEFAULT_SWEEP_INTERVAL,
            fee_rate_bps: DEFAULT_FEE_RATE_BPS,
            empty_day: EmptyDay::EmptyFile,
        }
    }

    /// The report settings these options give.
    pub fn report_settings(&self) -> ReportSettings {
        ReportSettings {
            fee_rate_bps: self.fee_rate_bps,
            empty_day: self.empty_day,
        }
    }

    /// Refuses combinations that would start a sandbox nobody meant to start.
    pub fn check(&self) -> Result<(), SandboxError> {
        if !self.listen.ip().is_loopback() && !self.allow_lan {
            return Err(SandboxError::Options(format!(
                "refusing to listen on {}: it is not a loopback address, so phones and other \
                 machines on the network could reach the sandbox; pass --allow-lan to mean it \
                 (and --public-url to set the address put into QR codes)",
                self.listen
            )));
        }
        if !(self.time_scale.is_finite() && self.time_scale >= 0.0) {
            return Err(SandboxError::Options(format!(
                "--time-scale {} must be a finite number ≥ 0",
                self.time_scale
            )));
        }
        if let Some(url) = &self.public_url
            && !matches!(url.scheme(), "http" | "https")
        {
            return Err(SandboxError::Options(format!(
                "--public-url {url} must be an http:// or https:// URL"
            )));
        }
        if let Some(faults) = &self.faults {
            faults.check().map_err(SandboxError::Options)?;
        }
        if self.fee_rate_bps > MAX_FEE_RATE_BPS {
            return Err(SandboxError::Options(format!(
                "--fee-rate-bps {} is more than {MAX_FEE_RATE_BPS} (100 %); give basis points, \
                 e.g. 60 for 0.60 %",
                self.fee_rate_bps
            )));
        }
        let mut seen = std::collections::HashSet::new();
        for client in &self.clients {
            if !seen.insert(client.client_id.as_str()) {
                return Err(SandboxError::Options(format!(
                    "client id {} is registered twice",
                    client.client_id
                )));
            }
        }
        Ok(())
    }
}

/// The business settings the request handlers read.
#[derive(Debug, Clone)]
pub(crate) struct Rules {
    pub order_code_expiry: Duration,
    pub cancel_window: Duration,
    pub refund_window: Duration,
    pub registration_delay: Duration,
    pub single_refund: bool,
}

impl From<&SandboxOptions> for Rules {
    fn from(o: &SandboxOptions) -> Self {
        Rules {
            order_code_expiry: o.order_code_expiry,
            cancel_window: o.cancel_window,
            refund_window: o.refund_window,
            registration_delay: o.registration_delay,
            single_refund: o.single_refund,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vector(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/testvectors")
            .join(name)
    }

    #[test]
    fn client_spec_takes_a_path_or_an_inline_base64_key() {
        let path = vector("merchant_public_key.pem");
        let by_path = ClientRegistration::parse(&format!("SANDBOX_X={}", path.display())).unwrap();
        assert_eq!(by_path.client_id, "SANDBOX_X");
        let b64 = std::fs::read_to_string(vector("merchant_public_key.b64")).unwrap();
        let inline = ClientRegistration::parse(&format!("C2={}", b64.trim())).unwrap();
        assert_eq!(inline.merchant_public_key, by_path.merchant_public_key);
    }

    #[test]
    fn client_spec_errors_say_what_to_give() {
        let e = ClientRegistration::parse("NOEQUALS")
            .unwrap_err()
            .to_string();
        assert!(e.contains("CLIENT_ID="), "{e}");
        let e = ClientRegistration::parse("C=/no/such/key.pem")
            .unwrap_err()
            .to_string();
        assert!(e.contains("no such file"), "{e}");
        let e = ClientRegistration::parse("C=QUJD").unwrap_err().to_string();
        assert!(e.contains("base64"), "{e}");
        let e = ClientRegistration::parse("=abc").unwrap_err().to_string();
        assert!(e.contains("client id"), "{e}");
    }

    #[test]
    fn lan_listen_needs_allow_lan() {
        let mut o = SandboxOptions::new("/tmp/x");
        o.check().unwrap();
        o.listen = "0.0.0.0:8090".parse().unwrap();
        let e = o.check().unwrap_err().to_string();
        assert!(e.contains("--allow-lan"), "{e}");
        o.allow_lan = true;
        o.check().unwrap();
        o.listen = "[::1]:0".parse().unwrap();
        o.allow_lan = false;
        o.check().unwrap();
    }

    #[test]
    fn time_scale_and_public_url_are_checked() {
        let mut o = SandboxOptions::new("/tmp/x");
        o.time_scale = -1.0;
        assert!(o.check().is_err());
        o.time_scale = 0.001;
        o.public_url = Some(Url::parse("ftp://x").unwrap());
        assert!(o.check().is_err());
    }

    #[test]
    fn fee_rate_is_at_most_one_hundred_percent() {
        let mut o = SandboxOptions::new("/tmp/x");
        assert_eq!(o.fee_rate_bps, 60);
        o.fee_rate_bps = 10_000;
        o.check().unwrap();
        o.fee_rate_bps = 10_001;
        let e = o.check().unwrap_err().to_string();
        assert!(e.contains("--fee-rate-bps 10001"), "{e}");
    }
}
