//! What the cache stores, as callers see it: a record's sync flags, a
//! decrypted record, an outbox entry, and the format records are sealed in.

/// The format records are sealed in. From format 3 a record's flags
/// (server version, dirty, deleted, expiry day) are part of its associated
/// data, so a rolled-back or edited flag fails authentication like a
/// tampered payload. Records of formats 1 and 2 (flags outside the seal)
/// are resealed when the cache opens.
pub(super) const RECORD_FMT: u32 = 3;

/// Sync metadata kept in clear beside each encrypted record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RecordMeta {
    /// The server's version of this record, once it has one.
    pub server_version: Option<i64>,
    /// Changed locally and not yet acknowledged by the server.
    pub dirty: bool,
    /// A tombstone: deleted locally, the deletion not yet acknowledged.
    pub deleted: bool,
    /// Day number (days since 1970-01-01) after which retention removes it.
    pub expires_day: Option<i64>,
}

impl RecordMeta {
    /// A local change, waiting for sync.
    pub fn local() -> Self {
        Self {
            dirty: true,
            ..Self::default()
        }
    }

    /// A record as the server has it at `version`.
    pub fn synced(version: i64) -> Self {
        Self {
            server_version: Some(version),
            ..Self::default()
        }
    }
}

/// A decrypted record.
#[derive(Clone, PartialEq)]
pub struct Record<T> {
    /// Its collection.
    pub collection: String,
    /// Its id within the collection.
    pub id: String,
    /// The decrypted value.
    pub value: T,
    /// Its sync metadata.
    pub meta: RecordMeta,
}

impl<T> std::fmt::Debug for Record<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Record")
            .field("collection", &self.collection)
            .field("meta", &self.meta)
            .finish_non_exhaustive()
    }
}

/// A pending outbox entry, decrypted.
#[derive(Clone, PartialEq, Eq)]
pub struct OutboxEntry {
    /// Position in the outbox (strictly increasing).
    pub seq: i64,
    /// The bytes that were enqueued.
    pub payload: Vec<u8>,
}

impl std::fmt::Debug for OutboxEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutboxEntry")
            .field("seq", &self.seq)
            .finish_non_exhaustive()
    }
}
