//! Whose journal this is: the terminal and store it belongs to (the `meta` row).
//!
//! Request ids are generated per terminal (`ids.rs` builds them from the terminal id and the
//! clock), so they are only unique within one terminal's journal. A journal copied to
//! another till (a restored backup, a cloned SD card, a shared network folder) would mix
//! two terminals' ids and hand one terminal's open payments to the other's resolver. The
//! first terminal to start on a journal records its ids; any other is refused, by name.

use rusqlite::{Connection, OptionalExtension, params};
use time::OffsetDateTime;

use super::error::JournalError;
use super::timestamp::{from_stored, to_stored};
use super::{Journal, check_text};

/// The terminal a journal belongs to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JournalIdentity {
    /// `store.terminal_id` of the terminal that first started on the journal.
    pub terminal_id: String,
    /// Its `store.reference_store_id`.
    pub store_id: String,
    /// When that happened.
    pub bound_at: OffsetDateTime,
}

pub(crate) fn read_identity(conn: &Connection) -> Result<Option<JournalIdentity>, JournalError> {
    let row: Option<(String, String, String)> = conn
        .prepare_cached("SELECT terminal_id, store_id, bound_at FROM meta WHERE id = 1")?
        .query_row([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .optional()?;
    row.map(|(terminal_id, store_id, bound_at)| {
        Ok(JournalIdentity {
            terminal_id,
            store_id,
            bound_at: from_stored(&bound_at)?,
        })
    })
    .transpose()
}

impl Journal {
    /// Records that this journal belongs to `terminal_id` of `store_id`, the first time;
    /// afterwards checks that it still does. Returns the recorded identity.
    ///
    /// Fails with [`JournalError::IdentityMismatch`], naming both pairs, when the journal
    /// belongs to another terminal or store: the caller must stop rather than take payments
    /// into someone else's journal.
    pub fn bind_identity(
        &mut self,
        terminal_id: &str,
        store_id: &str,
    ) -> Result<JournalIdentity, JournalError> {
        check_text("terminal_id", terminal_id, 64, true)?;
        check_text("store_id", store_id, 64, true)?;
        let now = self.now();
        let path = self.path.clone();
        let tx = self.begin_write()?;
        if let Some(bound) = read_identity(&tx)? {
            if bound.terminal_id == terminal_id && bound.store_id == store_id {
                return Ok(bound);
            }
            return Err(JournalError::IdentityMismatch {
                path,
                journal_terminal: bound.terminal_id,
                journal_store: bound.store_id,
                config_terminal: terminal_id.to_owned(),
                config_store: store_id.to_owned(),
            });
        }
        tx.prepare_cached(
            "INSERT INTO meta (id, terminal_id, store_id, bound_at) VALUES (1, ?1, ?2, ?3)",
        )?
        .execute(params![terminal_id, store_id, to_stored(now, "bound_at")?])?;
        let bound = read_identity(&tx)?.ok_or_else(|| JournalError::Unreadable {
            what: "the meta row just written".to_owned(),
        })?;
        tx.commit()?;
        Ok(bound)
    }

    /// The terminal this journal belongs to; `None` until one has started on it.
    pub fn identity(&self) -> Result<Option<JournalIdentity>, JournalError> {
        read_identity(&self.conn)
    }
}
