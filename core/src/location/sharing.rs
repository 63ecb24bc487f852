//! Live sharing of the location with chosen people, for at most 8 hours:
//! the end is checked on every fix and every read (timers do not fire in
//! Doze); stopping deletes the shared position on the server.

use chrono::{DateTime, Utc};
use praxis_protocol::location;
use praxis_protocol::privacy::{
    Closed, MAX_SHARE_MINUTES, MAX_SHARE_RECIPIENTS, Purpose, Share, SharePosition, SharedLocation,
    StartShareRequest,
};
use reqwest::Method;
use serde_json::Value;
use uuid::Uuid;

use super::{Fix, Location};
use crate::cache::{RecordMeta, blocking};
use crate::privacy::{OWN_SHARES, RECEIVED};
use crate::{Error, Result};

impl Location {
    /// The records of a sharing collection that have not ended; ended
    /// ones are deleted on this read (no timer is relied on).
    async fn unexpired<T>(
        &self,
        collection: &'static str,
        now: DateTime<Utc>,
        ends: fn(&T) -> DateTime<Utc>,
    ) -> Result<Vec<T>>
    where
        T: serde::de::DeserializeOwned + Send + 'static,
    {
        blocking(self.engine.cache(), move |c| {
            c.transaction(|tx| {
                let mut out = Vec::new();
                for r in tx.list::<T>(collection)? {
                    if ends(&r.value) <= now {
                        tx.delete(collection, &r.id)?;
                    } else {
                        out.push(r.value);
                    }
                }
                Ok(out)
            })
        })
        .await
    }

    /// Starts sharing live location with `recipients` (people who share an
    /// organisation with the user) for `duration_min` minutes (at most 480).
    pub async fn start_share(&self, recipients: Vec<Uuid>, duration_min: u32) -> Result<Share> {
        if !(1..=MAX_SHARE_MINUTES).contains(&duration_min) {
            return Err(Error::InvalidInput {
                field: "duration_min",
                reason: "must be 1 to 480 minutes",
            });
        }
        if recipients.is_empty() || recipients.len() > MAX_SHARE_RECIPIENTS {
            return Err(Error::InvalidInput {
                field: "recipients",
                reason: "give 1 to 20 recipients",
            });
        }
        self.gates().await?.require(Purpose::LocationSharing)?;
        let req = StartShareRequest {
            recipients,
            duration_min,
        };
        let share: Share = self
            .session
            .call(Method::POST, "v1/location/shares".into(), Some(&req))
            .await?;
        let stored = share.clone();
        blocking(self.engine.cache(), move |c| {
            c.put(
                OWN_SHARES,
                &stored.share_id.to_string(),
                &stored,
                RecordMeta::local(),
            )
        })
        .await?;
        Ok(share)
    }

    /// The user's live shares that have not ended (ended ones are
    /// forgotten on this read).
    pub async fn my_shares(&self) -> Result<Vec<Share>> {
        let now = self.now();
        self.unexpired(OWN_SHARES, now, |s: &Share| s.expires_at)
            .await
    }

    /// Feeds a fix to every live share of the user. Each share's end and
    /// both gates are checked first; a share that has ended is forgotten
    /// and gets nothing. Returns how many shares received the position.
    pub async fn share_fix(&self, fix: Fix) -> Result<usize> {
        let fix = self.accept_fix(fix)?;
        let precision = match self.gates().await?.require(Purpose::LocationSharing) {
            Ok(p) => p,
            Err(e) => {
                self.forget_shares().await?;
                return Err(e);
            }
        };
        let shares = self.my_shares().await?;
        if shares.is_empty() {
            return Ok(0);
        }
        let (lat, lon, accuracy_m) =
            location::apply_precision(precision, fix.lat, fix.lon, fix.accuracy_m).ok_or(
                Error::Closed {
                    purpose: Purpose::LocationSharing,
                    reason: Closed::PolicyDisabled,
                },
            )?;
        let pos = SharePosition {
            lat,
            lon,
            accuracy_m,
            at: fix.at,
            precision,
        };
        let mut sent = 0;
        for share in shares {
            let path = format!("v1/location/shares/{}/position", share.share_id);
            let r: Result<()> = self.session.call(Method::PUT, path, Some(&pos)).await;
            match r {
                Ok(()) => sent += 1,
                // Ended, stopped elsewhere, or a gate the server saw closed:
                // this share is over.
                Err(Error::Api {
                    status: 403 | 404 | 410,
                    ..
                }) => {
                    let id = share.share_id.to_string();
                    blocking(self.engine.cache(), move |c| {
                        c.delete(OWN_SHARES, &id).map(drop)
                    })
                    .await?;
                }
                Err(e) => return Err(e),
            }
        }
        Ok(sent)
    }

    /// Stops a live share; the server deletes its position.
    pub async fn stop_share(&self, share_id: Uuid) -> Result<()> {
        let path = format!("v1/location/shares/{share_id}");
        let r: Result<()> = self.session.call::<(), _>(Method::DELETE, path, None).await;
        match r {
            Ok(()) | Err(Error::Api { status: 404, .. }) => {}
            Err(e) => return Err(e),
        }
        let id = share_id.to_string();
        blocking(self.engine.cache(), move |c| {
            c.delete(OWN_SHARES, &id).map(drop)
        })
        .await
    }

    async fn forget_shares(&self) -> Result<()> {
        let now = self.now();
        blocking(self.engine.cache(), move |c| {
            c.transaction(|tx| crate::privacy::enforce(tx, now).map(drop))
        })
        .await
    }

    /// Live positions others share with the user. Asks the server (which
    /// checks each share's end on this read) and keeps the answer in the
    /// encrypted cache for offline reads; offline, the kept copy is
    /// returned without any share that has ended since.
    pub async fn shared_with_me(&self) -> Result<Vec<SharedLocation>> {
        let fetched: Result<Vec<SharedLocation>> = self
            .session
            .call::<(), _>(Method::GET, "v1/location/shared-with-me".into(), None)
            .await;
        let now = self.now();
        match fetched {
            Ok(list) => {
                blocking(self.engine.cache(), move |c| {
                    c.transaction(|tx| {
                        for r in tx.list::<Value>(RECEIVED)? {
                            tx.delete(RECEIVED, &r.id)?;
                        }
                        for s in &list {
                            tx.put(RECEIVED, &s.share_id.to_string(), s, RecordMeta::local())?;
                        }
                        Ok(())
                    })
                })
                .await?;
            }
            Err(Error::Network(_)) => {}
            Err(e) => return Err(e),
        }
        self.unexpired(RECEIVED, now, |s: &SharedLocation| s.expires_at)
            .await
    }
}
