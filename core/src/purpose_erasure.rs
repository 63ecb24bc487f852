//! Erasure by purpose on the device (GDPR Art. 17(1)(b)): after the
//! server erased what was collected under a location purpose
//! (`DELETE /v1/me/location-data`), this device drops its copies at once
//! (queued and synced visit events, its live shares) instead of waiting
//! for the tombstones of the next pull, so nothing queued is sent again.

use praxis_protocol::privacy::{LocationErasure, Purpose, visit_events};
use praxis_protocol::sync::Mutation;
use reqwest::Method;

use crate::cache::blocking;
use crate::location::Location;
use crate::privacy::OWN_SHARES;
use crate::sync::plan::LocalRecord;
use crate::{Error, Result};

impl Location {
    /// Erases the data collected under `purpose` (`None`: both location
    /// purposes) on the server and on this device; the user's other
    /// devices drop theirs at their next sync. The answer says what an
    /// organisation's stated retention holds (restricted, until a date).
    /// Refused for a purpose that is not a location one; nothing changes
    /// when the server cannot be reached.
    pub async fn erase_data(&self, purpose: Option<Purpose>) -> Result<LocationErasure> {
        let path = match purpose {
            None => "v1/me/location-data".to_owned(),
            Some(p) if p.is_location() => format!("v1/me/location-data?purpose={}", p.as_str()),
            Some(_) => {
                return Err(Error::InvalidInput {
                    field: "purpose",
                    reason: "location_visits or location_sharing",
                });
            }
        };
        let erased: LocationErasure = self
            .session
            .call::<(), _>(Method::DELETE, path, None)
            .await?;
        let visits = purpose.is_none_or(|p| p == Purpose::LocationVisits);
        let sharing = purpose.is_none_or(|p| p == Purpose::LocationSharing);
        blocking(self.engine.cache(), move |c| {
            c.transaction(|tx| {
                if visits {
                    for entry in tx.outbox(usize::MAX)? {
                        let m: Mutation = serde_json::from_slice(&entry.payload)?;
                        if m.collection == visit_events::COLLECTION {
                            tx.remove_outbox_entry(entry.seq)?;
                        }
                    }
                    for r in tx.list::<LocalRecord>(visit_events::COLLECTION)? {
                        tx.delete(visit_events::COLLECTION, &r.id)?;
                    }
                }
                if sharing {
                    for r in tx.list::<serde_json::Value>(OWN_SHARES)? {
                        tx.delete(OWN_SHARES, &r.id)?;
                    }
                }
                Ok(())
            })
        })
        .await?;
        self.engine.notify();
        Ok(erased)
    }
}
