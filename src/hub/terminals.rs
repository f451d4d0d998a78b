//! Enrolled terminals: their tokens, revocation, and checking a terminal's credentials.
//!
//! A token is `aphub.<terminal row id>.<43 characters of base64url randomness>` (256 bits).
//! Only the SHA-256 of the random part is stored, so a copy of the database lets no one
//! connect as a terminal. The row id in the token finds the row; the hashes are then compared
//! in constant time (`subtle`), so response timing says nothing about how much of a guessed
//! token was right.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use deadpool_postgres::Pool;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::HubError;
use crate::request_ids::terminal_tag;

/// What every token starts with, so a leaked one is recognisable (secret scanners, logs).
pub const TOKEN_PREFIX: &str = "aphub";
/// Longest terminal name, as `store.terminal_id` allows.
pub const MAX_NAME_CHARS: usize = 64;

/// A terminal's token, shown once at enrolment. Never printed by `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct Token(String);

impl Token {
    /// The token itself: for the one line `hub terminals add` prints.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Token(***)")
    }
}

/// A terminal just enrolled.
#[derive(Debug, Clone)]
pub struct Enrolled {
    pub id: i64,
    pub name: String,
    pub tag: String,
    pub token: Token,
}

/// One row of `hub terminals list`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TerminalRow {
    pub id: i64,
    pub name: String,
    pub tag: String,
    /// RFC 3339, UTC.
    pub created_at: String,
    /// RFC 3339, UTC; `None` while the terminal may connect.
    pub revoked_at: Option<String>,
}

/// A terminal whose token checked out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authenticated {
    pub id: i64,
    pub name: String,
    pub tag: String,
}

/// Why a connection's credentials were refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// No `Authorization: Bearer aphub.…` header.
    Missing,
    /// No such token: wrong, mistyped, or of another hub.
    Unknown,
    /// The token was right but the terminal was revoked.
    Revoked { name: String },
    /// The database could not be asked; nothing is known about the token.
    Unavailable(String),
}

impl Refusal {
    /// The text the terminal is answered with (and logs): what to do next.
    pub fn message(&self) -> String {
        match self {
            Refusal::Missing => "no hub token: send `Authorization: Bearer <token>` with the \
                                 token `alipay-pos hub terminals add NAME` printed"
                .to_owned(),
            Refusal::Unknown => "unknown token: check `hub.token_file` on the terminal, or \
                                 enrol it again with `alipay-pos hub terminals add NAME`"
                .to_owned(),
            Refusal::Revoked { name } => format!(
                "the token of terminal `{name}` was revoked; enrol it again with \
                 `alipay-pos hub terminals add {name}` and put the new token in its \
                 `hub.token_file`"
            ),
            Refusal::Unavailable(reason) => {
                format!("the hub cannot check tokens right now ({reason}); the terminal retries")
            }
        }
    }
}

/// Why `name` cannot be a terminal's name, if it cannot (the rules of `store.terminal_id`).
fn name_problem(name: &str) -> Option<&'static str> {
    if name.trim().is_empty() {
        Some("is empty")
    } else if name.trim() != name {
        Some("starts or ends with spaces")
    } else if name.chars().count() > MAX_NAME_CHARS {
        Some("is longer than 64 characters")
    } else if name.chars().any(char::is_control) {
        Some("contains control characters")
    } else {
        None
    }
}

fn secret_sha256(secret: &str) -> Vec<u8> {
    Sha256::digest(secret.as_bytes()).to_vec()
}

/// Enrols `name` (the terminal's `store.terminal_id`) and returns its new token. Refused when
/// an active terminal already has the same tag: notifications are routed by it.
pub async fn add(pool: &Pool, name: &str) -> Result<Enrolled, HubError> {
    if let Some(problem) = name_problem(name) {
        return Err(HubError::BadName {
            name: name.to_owned(),
            problem,
        });
    }
    let tag = terminal_tag(name);
    let mut random = [0u8; 32];
    getrandom::fill(&mut random).map_err(|e| HubError::Random(e.to_string()))?;
    let secret = URL_SAFE_NO_PAD.encode(random);
    let mut client = pool.get().await?;
    let transaction = client.transaction().await?;
    let taken = transaction
        .query_opt(
            "SELECT name FROM hub_terminals WHERE tag = $1 AND revoked_at IS NULL",
            &[&tag],
        )
        .await?;
    if let Some(row) = taken {
        return Err(HubError::TagTaken {
            name: name.to_owned(),
            tag,
            other: row.get(0),
        });
    }
    let inserted = transaction
        .query_one(
            "INSERT INTO hub_terminals (name, tag, token_sha256) VALUES ($1, $2, $3) RETURNING id",
            &[&name, &tag, &secret_sha256(&secret)],
        )
        .await;
    let id: i64 = match inserted {
        Ok(row) => row.get(0),
        // Another enrolment of the same tag committed between the check and the insert.
        Err(error) if error.code() == Some(&tokio_postgres::error::SqlState::UNIQUE_VIOLATION) => {
            return Err(HubError::TagTaken {
                name: name.to_owned(),
                tag,
                other: "(enrolled at the same moment)".to_owned(),
            });
        }
        Err(error) => return Err(error.into()),
    };
    transaction.commit().await?;
    Ok(Enrolled {
        id,
        name: name.to_owned(),
        tag,
        token: Token(format!("{TOKEN_PREFIX}.{id}.{secret}")),
    })
}

/// Revokes the active terminal `name`: its token stops working at once, and an open
/// connection is closed within the hub's rescan interval.
pub async fn revoke(pool: &Pool, name: &str) -> Result<(), HubError> {
    let client = pool.get().await?;
    let changed = client
        .execute(
            "UPDATE hub_terminals SET revoked_at = now() WHERE name = $1 AND revoked_at IS NULL",
            &[&name],
        )
        .await?;
    if changed == 0 {
        return Err(HubError::NoSuchTerminal {
            name: name.to_owned(),
        });
    }
    Ok(())
}

const RFC3339_UTC: &str = "YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"";

/// Every terminal ever enrolled, oldest first.
pub async fn list(pool: &Pool) -> Result<Vec<TerminalRow>, HubError> {
    let client = pool.get().await?;
    let rows = client
        .query(
            &format!(
                "SELECT id, name, tag, to_char(created_at AT TIME ZONE 'UTC', '{RFC3339_UTC}'), \
                 to_char(revoked_at AT TIME ZONE 'UTC', '{RFC3339_UTC}') \
                 FROM hub_terminals ORDER BY id"
            ),
            &[],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|row| TerminalRow {
            id: row.get(0),
            name: row.get(1),
            tag: row.get(2),
            created_at: row.get(3),
            revoked_at: row.get(4),
        })
        .collect())
}

/// Checks an `Authorization` header. Changes nothing, whatever the answer.
pub async fn authenticate(
    pool: &Pool,
    authorization: Option<&str>,
) -> Result<Authenticated, Refusal> {
    let token = authorization
        .and_then(|value| value.strip_prefix("Bearer "))
        .map(str::trim)
        .ok_or(Refusal::Missing)?;
    let mut parts = token.splitn(3, '.');
    let (Some(TOKEN_PREFIX), Some(id), Some(secret)) = (parts.next(), parts.next(), parts.next())
    else {
        return Err(Refusal::Unknown);
    };
    let id: i64 = id.parse().map_err(|_| Refusal::Unknown)?;
    let client = pool
        .get()
        .await
        .map_err(|e| Refusal::Unavailable(super::db::describe_pool(&e)))?;
    let row = client
        .query_opt(
            "SELECT name, tag, token_sha256, revoked_at IS NOT NULL FROM hub_terminals WHERE id = $1",
            &[&id],
        )
        .await
        .map_err(|e| Refusal::Unavailable(super::db::describe(&e)))?
        .ok_or(Refusal::Unknown)?;
    let stored: Vec<u8> = row.get(2);
    let offered = secret_sha256(secret);
    if !bool::from(stored.ct_eq(&offered)) {
        return Err(Refusal::Unknown);
    }
    let name: String = row.get(0);
    if row.get::<_, bool>(3) {
        return Err(Refusal::Revoked { name });
    }
    Ok(Authenticated {
        id,
        name,
        tag: row.get(1),
    })
}

/// Whether terminal `id` may still be connected (not revoked).
pub async fn is_active(pool: &Pool, id: i64) -> Result<bool, HubError> {
    let client = pool.get().await?;
    let row = client
        .query_opt(
            "SELECT revoked_at IS NULL FROM hub_terminals WHERE id = $1",
            &[&id],
        )
        .await?;
    Ok(row.is_some_and(|row| row.get(0)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_terminal_id_rules_and_tokens_never_print() {
        assert_eq!(name_problem("T01"), None);
        assert!(name_problem("").is_some());
        assert!(name_problem(" T01").is_some());
        assert!(name_problem(&"x".repeat(65)).is_some());
        assert!(name_problem("T\n1").is_some());
        let token = Token("aphub.1.secret".into());
        assert_eq!(format!("{token:?}"), "Token(***)");
        assert_eq!(secret_sha256("a").len(), 32);
    }
}
