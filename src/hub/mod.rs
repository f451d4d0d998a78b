//! The store hub (`alipay-pos hub`): the merchant's public notification URL for terminals
//! that sit behind a shop's NAT.
//!
//! Alipay posts `notifyPayment` to `<public_url>/alipay/notify`; the hub verifies it
//! exactly as a terminal's own receiver would, commits the raw notification (path, headers,
//! body) to PostgreSQL, and only then answers Alipay's fixed SUCCESS. Each terminal keeps an
//! outbound, token-authenticated server-sent-event connection to the hub; the hub routes a
//! notification to the terminal whose tag is in its `paymentRequestId`
//! (`request_ids::tag_of`), and marks it done when that terminal acknowledges it. The
//! terminal re-verifies Alipay's signature itself, so the hub is trusted for delivery,
//! never for truth.
//!
//! Pieces, by concern:
//! * `db`: the PostgreSQL pool and where its URL comes from;
//! * `schema`: the versioned, append-only migrations run at start;
//! * `terminals`: enrolment, revocation, tokens (their SHA-256 only) and authentication;
//! * `notifications`: storing, de-duplicating, routing and acknowledging notifications;
//! * `replication`: the chain's copy of every terminal's journal (shipped batches) and the
//!   store views read from it;
//! * `refund_reservations`: refunds at any counter, reserved against the replicated
//!   payment before they are sent;
//! * `server`: the axum endpoints and their tower layers;
//! * `wakeups`: waking a tag's streams when a notification is stored, on this hub or, by
//!   PostgreSQL `LISTEN/NOTIFY`, on any hub of the same database;
//! * `wire`: the JSON the hub and a terminal's `hub_link` exchange;
//! * `entry_code`: Entry Code payments hosted by the hub (pages, journal, resolver).
//!
//! No GUI: nothing here (or below it) imports Slint, so the hub builds without it.

pub mod db;
pub mod entry_code;
pub mod notifications;
pub mod refund_reservations;
pub mod replication;
pub mod schema;
pub mod server;
pub mod terminals;
pub mod wakeups;
pub mod wire;

pub use server::{HubSettings, RunningHub};

use crate::config::Config;
use crate::locale::Locale;

/// The pool for `config`'s database: `hub.database_url`, else `DATABASE_URL`.
pub fn pool_for(config: &Config) -> Result<deadpool_postgres::Pool, HubError> {
    db::pool(&database_url_of(config)?)
}

/// The connection settings of `config`'s database (as the pool uses them), for the hub's
/// own `LISTEN` connection.
pub fn connection_for(config: &Config) -> Result<tokio_postgres::Config, HubError> {
    db::connection_config(&database_url_of(config)?)
}

fn database_url_of(config: &Config) -> Result<crate::config::DatabaseUrl, HubError> {
    let configured = config
        .hub
        .as_ref()
        .and_then(|hub| hub.database_url.as_ref());
    db::database_url(configured, std::env::var(db::DATABASE_URL_VAR).ok())
}

/// What `alipay-pos hub` runs with: the database migrated to the latest version, Alipay's
/// public key loaded, the listen address of `[hub] listen`.
pub async fn prepare(config: &Config) -> Result<HubSettings, HubError> {
    prepare_verifying_with(config, None).await
}

/// Like [`prepare`], verifying notifications with `alipay_key` when given (the embedded
/// sandbox's key, in a demo hub) instead of `alipay.alipay_public_key`.
pub async fn prepare_verifying_with(
    config: &Config,
    alipay_key: Option<crate::ams::crypto::PublicKey>,
) -> Result<HubSettings, HubError> {
    let alipay_key = match alipay_key {
        Some(key) => key,
        None => {
            let key_path = config
                .alipay
                .alipay_public_key
                .clone()
                .ok_or(HubError::NoAlipayKey)?;
            tokio::task::spawn_blocking(move || {
                crate::ams::keys::load_public_key_file(&key_path).map(|loaded| loaded.key)
            })
            .await
            .map_err(|e| HubError::Key(e.to_string()))?
            .map_err(|e| HubError::Key(e.to_string()))?
        }
    };
    let pool = pool_for(config)?;
    schema::migrate(&pool).await?;
    let listen = config.hub.as_ref().map_or(
        std::net::SocketAddr::from(([127, 0, 0, 1], crate::config::DEFAULT_HUB_PORT)),
        |hub| hub.listen,
    );
    Ok(HubSettings {
        listen,
        client_id: config.alipay.client_id.clone(),
        alipay_key,
        pool,
    })
}

/// Something the hub could not do, worded for the operator: what went wrong and what to do.
#[derive(Debug, thiserror::Error)]
pub enum HubError {
    #[error(
        "no database configured: set `hub.database_url` in the config file or the \
         DATABASE_URL environment variable to postgres://USER@HOST:PORT/DATABASE"
    )]
    NoDatabaseUrl,
    #[error("the DATABASE_URL environment variable {0}")]
    BadDatabaseUrl(String),
    #[error(
        "cannot use PostgreSQL at {url}: {reason}; check that it runs and that \
         `hub.database_url` (or DATABASE_URL) is right"
    )]
    Unreachable { url: String, reason: String },
    #[error("PostgreSQL refused the hub's work: {0}; check the database's log")]
    Database(String),
    #[error(
        "PostgreSQL cannot be reached ({0}); check that it runs and that `hub.database_url` \
         (or DATABASE_URL) is right"
    )]
    Unavailable(String),
    #[error(
        "the hub's database has schema version {found}, newer than this alipay-pos knows \
         ({known}); run the newer alipay-pos that migrated it"
    )]
    SchemaTooNew { found: i32, known: i32 },
    #[error(
        "`{name}` cannot be a terminal name: it {problem}; use the terminal's `store.terminal_id`"
    )]
    BadName { name: String, problem: &'static str },
    #[error(
        "`{name}` has the request-id tag `{tag}`, which the active terminal `{other}` already \
         has, so notifications could not tell them apart; give the terminal another \
         `store.terminal_id`, or revoke `{other}` first (`alipay-pos hub terminals revoke {other}`)"
    )]
    TagTaken {
        name: String,
        tag: String,
        other: String,
    },
    #[error("no active terminal is called `{name}`; `alipay-pos hub terminals list` shows them")]
    NoSuchTerminal { name: String },
    #[error(
        "the hub verifies Alipay's notifications with Alipay's public key: set \
         `alipay.alipay_public_key` (and `alipay.client_id`) in the config file"
    )]
    NoAlipayKey,
    #[error("`alipay.alipay_public_key` holds no usable key: {0}")]
    Key(String),
    #[error("cannot listen on {address}: {reason}; choose a free `hub.listen` address")]
    Listen {
        address: std::net::SocketAddr,
        reason: String,
    },
    #[error("cannot draw a random token: {0}; try again")]
    Random(String),
}

impl HubError {
    /// Whether the command or the configuration is at fault (exit 1) rather than the
    /// environment (exit 4).
    pub fn is_usage(&self) -> bool {
        matches!(
            self,
            HubError::NoDatabaseUrl
                | HubError::BadDatabaseUrl(_)
                | HubError::BadName { .. }
                | HubError::TagTaken { .. }
                | HubError::NoSuchTerminal { .. }
                | HubError::NoAlipayKey
                | HubError::Key(_)
        )
    }

    /// The message in the operator's language.
    pub fn message(&self, locale: Locale) -> String {
        if locale == Locale::English {
            return self.to_string();
        }
        match self {
            HubError::NoDatabaseUrl => "没有配置数据库：请在配置文件中设置 `hub.database_url`，或设置环境变量 DATABASE_URL 为 postgres://用户@主机:端口/数据库。".to_owned(),
            HubError::BadDatabaseUrl(problem) => format!("环境变量 DATABASE_URL 不可用：{problem}"),
            HubError::Unreachable { url, reason } => format!(
                "无法使用 {url} 上的 PostgreSQL：{reason}。请确认数据库正在运行，并检查 `hub.database_url`（或 DATABASE_URL）。"
            ),
            HubError::Database(reason) => format!("PostgreSQL 拒绝了操作：{reason}。请查看数据库日志。"),
            HubError::Unavailable(reason) => format!(
                "无法连接 PostgreSQL（{reason}）。请确认数据库正在运行，并检查 `hub.database_url`（或 DATABASE_URL）。"
            ),
            HubError::SchemaTooNew { found, known } => format!(
                "集线器数据库的结构版本为 {found}，比本程序所知的 {known} 更新；请运行迁移过它的新版 alipay-pos。"
            ),
            HubError::BadName { name, problem } => format!(
                "`{name}` 不能作为终端名称（{problem}）；请使用该终端的 `store.terminal_id`。"
            ),
            HubError::TagTaken { name, tag, other } => format!(
                "`{name}` 的请求号标记 `{tag}` 已被在用终端 `{other}` 占用，通知将无法区分二者；请为该终端换一个 `store.terminal_id`，或先吊销 `{other}`（`alipay-pos hub terminals revoke {other}`）。"
            ),
            HubError::NoSuchTerminal { name } => format!(
                "没有名为 `{name}` 的在用终端；`alipay-pos hub terminals list` 可列出全部终端。"
            ),
            HubError::NoAlipayKey => "集线器需要支付宝公钥来验证通知：请在配置文件中设置 `alipay.alipay_public_key`（以及 `alipay.client_id`）。".to_owned(),
            HubError::Key(reason) => format!("`alipay.alipay_public_key` 中没有可用的公钥：{reason}"),
            HubError::Listen { address, reason } => format!(
                "无法在 {address} 上监听：{reason}；请为 `hub.listen` 选择一个空闲地址。"
            ),
            HubError::Random(reason) => format!("无法生成随机令牌：{reason}；请重试。"),
        }
    }
}

impl From<tokio_postgres::Error> for HubError {
    fn from(error: tokio_postgres::Error) -> Self {
        HubError::Database(db::describe(&error))
    }
}

impl From<deadpool_postgres::PoolError> for HubError {
    /// No connection could be had: the database is down, unreachable or refuses us.
    fn from(error: deadpool_postgres::PoolError) -> Self {
        HubError::Unavailable(db::describe_pool(&error))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_message_has_a_chinese_text() {
        let errors = [
            HubError::NoDatabaseUrl,
            HubError::NoSuchTerminal { name: "T01".into() },
            HubError::TagTaken {
                name: "T-01".into(),
                tag: "T01".into(),
                other: "T01".into(),
            },
            HubError::NoAlipayKey,
        ];
        for error in errors {
            let zh = error.message(Locale::SimplifiedChinese);
            assert_ne!(zh, error.message(Locale::English));
            assert!(
                zh.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c)),
                "{zh}"
            );
        }
    }
}
