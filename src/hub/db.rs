//! The hub's PostgreSQL: where its URL comes from, and the connection pool.
//!
//! No TLS to the database: the hub is meant to talk to PostgreSQL over a local socket or
//! loopback. A database on another machine needs a TLS connector (README, "Store hub").

use std::str::FromStr;
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};

use super::HubError;
use crate::config::DatabaseUrl;

/// The environment variable read when the config has no `hub.database_url`.
pub const DATABASE_URL_VAR: &str = "DATABASE_URL";

/// How long connecting may take before the hub says the database is unreachable: a
/// notification that cannot be stored must be answered "resend" well within Alipay's
/// patience.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// Connections the hub keeps open at most.
const POOL_SIZE: usize = 16;

/// `hub.database_url`, else `DATABASE_URL`.
pub fn database_url(
    configured: Option<&DatabaseUrl>,
    environment: Option<String>,
) -> Result<DatabaseUrl, HubError> {
    if let Some(url) = configured {
        return Ok(url.clone());
    }
    match environment {
        Some(text) if !text.trim().is_empty() => {
            DatabaseUrl::parse(&text).map_err(HubError::BadDatabaseUrl)
        }
        _ => Err(HubError::NoDatabaseUrl),
    }
}

/// The connection settings for `url`, with the hub's connect timeout and application name.
pub fn connection_config(url: &DatabaseUrl) -> Result<tokio_postgres::Config, HubError> {
    let mut config =
        tokio_postgres::Config::from_str(url.expose()).map_err(|e| HubError::Unreachable {
            url: url.redacted(),
            reason: format!("the URL is not usable ({})", describe(&e)),
        })?;
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(CONNECT_TIMEOUT);
    }
    config.application_name("alipay-pos hub");
    Ok(config)
}

/// A pool of connections to `url`. Nothing is connected yet: the first use connects.
pub fn pool(url: &DatabaseUrl) -> Result<Pool, HubError> {
    let unreachable = |reason: String| HubError::Unreachable {
        url: url.redacted(),
        reason,
    };
    let config = connection_config(url)?;
    let manager = Manager::from_config(
        config,
        tokio_postgres::NoTls,
        // Verified: a connection that a database restart has cut is found out when it is
        // taken from the pool, not by the notification that would have used it.
        ManagerConfig {
            recycling_method: RecyclingMethod::Verified,
        },
    );
    Pool::builder(manager)
        .max_size(POOL_SIZE)
        .runtime(Runtime::Tokio1)
        .wait_timeout(Some(CONNECT_TIMEOUT))
        .create_timeout(Some(CONNECT_TIMEOUT))
        .recycle_timeout(Some(CONNECT_TIMEOUT))
        .build()
        .map_err(|e| unreachable(e.to_string()))
}

/// A PostgreSQL error in one line: the server's own message when it sent one (never the
/// connection parameters, so no password).
pub fn describe(error: &tokio_postgres::Error) -> String {
    match error.as_db_error() {
        Some(db) => format!("{} ({})", db.message(), db.code().code()),
        None => {
            let mut text = error.to_string();
            let mut source = std::error::Error::source(error);
            while let Some(cause) = source {
                text = format!("{text}: {cause}");
                source = cause.source();
            }
            text
        }
    }
}

/// A pool error in one line.
pub fn describe_pool(error: &deadpool_postgres::PoolError) -> String {
    match error {
        deadpool_postgres::PoolError::Backend(error) => describe(error),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_config_wins_over_the_environment_and_passwords_are_hidden() {
        let configured = DatabaseUrl::parse("postgres://hub:secret@127.0.0.1:5432/hub").unwrap();
        let url = database_url(Some(&configured), Some("postgres://other@x/y".into())).unwrap();
        assert_eq!(url, configured);
        assert!(!format!("{url:?} {url}").contains("secret"));
        assert!(url.redacted().contains("***"));
        let from_env = database_url(None, Some("postgresql://a@b/c".into())).unwrap();
        assert_eq!(from_env.expose(), "postgresql://a@b/c");
        assert!(matches!(
            database_url(None, None),
            Err(HubError::NoDatabaseUrl)
        ));
        assert!(matches!(
            database_url(None, Some("mysql://x".into())),
            Err(HubError::BadDatabaseUrl(_))
        ));
    }
}
