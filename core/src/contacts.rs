//! Contact sharing: my card, invitations, and the cards shared with me.
//!
//! Received cards arrive through sync as the read-only `contacts`
//! collection and live in the encrypted cache, holding only the fields
//! their owner chose for me. An invitation code is checked on the device
//! (the server's Ed25519 signature, the expiry) before it is sent anywhere,
//! so a tampered or forged code is refused without a request.

use crate::local::CONTACTS_KEY as KEY;
use std::sync::Arc;

use praxis_protocol::contacts::{
    self, AcceptInvitationRequest, AcceptInvitationResponse, BlockRequest, CodeError, CodePayload,
    ContactCard, CreateInvitationRequest, ForwardRequest, Holder, Invitation,
    InvitationCodeRequest, InvitationPreview, SigningKey,
};
use reqwest::Method;
use serde_json::Value;
use uuid::Uuid;

use crate::cache::{RecordMeta, blocking};
use crate::session::Session;
use crate::sync::SyncEngine;
use crate::sync::plan::LocalRecord;
use crate::{Error, Result};

/// A card someone shared with me.
#[derive(Clone, PartialEq)]
pub struct Contact {
    /// Its owner.
    pub owner_id: Uuid,
    /// The fields shared with me (the others are empty).
    pub card: ContactCard,
    /// Which fields the owner shared with me.
    pub shared_fields: Vec<String>,
    /// Whether I may forward it.
    pub allow_forward: bool,
    /// Who forwarded it to me, if forwarded.
    pub forwarded_by: Option<Uuid>,
}
praxis_protocol::redacted_debug!(Contact {
    owner_id,
    shared_fields,
    allow_forward
});

fn decode(r: &LocalRecord) -> Option<Contact> {
    let f = |k: &str| r.fields.get(k).map(|v| &v.v).filter(|v| !v.is_null());
    let s = |k: &str| f(k).and_then(Value::as_str).map(str::to_owned);
    Some(Contact {
        owner_id: s("owner_id")?.parse().ok()?,
        card: ContactCard {
            display_name: s("display_name").unwrap_or_default(),
            profession: s("profession"),
            specialty: s("specialty"),
            work_phone: s("work_phone"),
            work_email: s("work_email"),
            organisation: s("organisation"),
            clinic_address: s("clinic_address"),
            languages: f("languages")
                .and_then(|v| serde_json::from_value(v.clone()).ok())
                .unwrap_or_default(),
        },
        shared_fields: f("shared_fields")
            .and_then(|v| serde_json::from_value(v.clone()).ok())
            .unwrap_or_default(),
        allow_forward: f("allow_forward").and_then(Value::as_bool).unwrap_or(false),
        forwarded_by: s("forwarded_by").and_then(|u| u.parse().ok()),
    })
}

fn fields_ok(fields: &[String]) -> Result<()> {
    contacts::check_fields(fields).map_err(|reason| Error::InvalidInput {
        field: "fields",
        reason,
    })
}

/// The contacts capability; cheap to clone.
#[derive(Debug, Clone)]
pub struct Contacts {
    pub(crate) engine: Arc<SyncEngine>,
    pub(crate) session: Arc<Session>,
}

impl Contacts {
    /// My card (made from my profile until I set one).
    pub async fn my_card(&self) -> Result<ContactCard> {
        self.session
            .call::<(), _>(Method::GET, "v1/contacts/card".into(), None)
            .await
    }

    /// Replaces my card; every holder's copy follows (their fields only).
    pub async fn update_card(&self, card: &ContactCard) -> Result<ContactCard> {
        self.session
            .call(Method::PUT, "v1/contacts/card".into(), Some(card))
            .await
    }

    /// A single-use invitation offering `fields` of my card, valid
    /// `ttl_hours` (default 48, at most 168).
    pub async fn invite(
        &self,
        fields: Vec<String>,
        allow_forward: bool,
        ttl_hours: Option<u32>,
    ) -> Result<Invitation> {
        fields_ok(&fields)?;
        if ttl_hours.is_some_and(|h| !(1..=contacts::MAX_TTL_HOURS).contains(&h)) {
            return Err(Error::InvalidInput {
                field: "ttl_hours",
                reason: "must be 1 to 168 hours",
            });
        }
        let req = CreateInvitationRequest {
            fields,
            allow_forward,
            ttl_hours,
        };
        self.session
            .call(Method::POST, "v1/contacts/invitations".into(), Some(&req))
            .await
    }

    async fn server_key(&self, refresh: bool) -> Result<SigningKey> {
        if !refresh
            && let Some(k) =
                blocking(self.engine.cache(), |c| c.get::<SigningKey>(KEY.0, KEY.1)).await?
        {
            return Ok(k.value);
        }
        let key: SigningKey = self
            .session
            .call::<(), _>(Method::GET, "v1/contacts/signing-key".into(), None)
            .await?;
        let stored = key.clone();
        blocking(self.engine.cache(), move |c| {
            c.put(KEY.0, KEY.1, &stored, RecordMeta::local())
        })
        .await?;
        Ok(key)
    }

    /// Checks a code on the device: well formed, signed by this server,
    /// not expired. Nothing about the code is sent.
    pub async fn verify(&self, code: &str) -> Result<CodePayload> {
        let now = self.engine.clock().now();
        let refused = |e: CodeError| Error::InvalidInput {
            field: "code",
            reason: e.code(),
        };
        match contacts::verify_code(code, &self.server_key(false).await?, now) {
            // The server's key may have changed since it was cached.
            Err(CodeError::Forged) => {
                contacts::verify_code(code, &self.server_key(true).await?, now).map_err(refused)
            }
            other => other.map_err(refused),
        }
    }

    /// Who invites me and what they offer (the invitation stays unused).
    pub async fn preview(&self, code: &str) -> Result<InvitationPreview> {
        self.verify(code).await?;
        let req = InvitationCodeRequest {
            code: code.trim().to_owned(),
        };
        self.session
            .call(
                Method::POST,
                "v1/contacts/invitations/preview".into(),
                Some(&req),
            )
            .await
    }

    /// Accepts: we are connected both ways; `fields` of my card go to the
    /// inviter. Their card arrives at the next sync (run here).
    pub async fn accept(
        &self,
        code: &str,
        fields: Vec<String>,
        allow_forward: bool,
    ) -> Result<Uuid> {
        fields_ok(&fields)?;
        self.verify(code).await?;
        let req = AcceptInvitationRequest {
            code: code.trim().to_owned(),
            fields,
            allow_forward,
        };
        let r: AcceptInvitationResponse = self
            .session
            .call(
                Method::POST,
                "v1/contacts/invitations/accept".into(),
                Some(&req),
            )
            .await?;
        // Best effort: the card shows now when online, later otherwise.
        let _ = self.engine.sync_now("contacts").await;
        Ok(r.owner_id)
    }

    /// Declines an invitation.
    pub async fn decline(&self, code: &str) -> Result<()> {
        self.verify(code).await?;
        let req = InvitationCodeRequest {
            code: code.trim().to_owned(),
        };
        self.session
            .call::<_, ()>(
                Method::POST,
                "v1/contacts/invitations/decline".into(),
                Some(&req),
            )
            .await
    }

    /// The cards shared with me, on this device (works offline).
    pub async fn list(&self) -> Result<Vec<Contact>> {
        let mut out: Vec<Contact> = self
            .engine
            .records(contacts::COLLECTION)
            .await?
            .iter()
            .filter_map(|(_, r)| decode(r))
            .collect();
        out.sort_by(|a, b| {
            (&a.card.display_name, a.owner_id).cmp(&(&b.card.display_name, b.owner_id))
        });
        Ok(out)
    }

    /// One card shared with me, by its owner.
    pub async fn get(&self, owner_id: Uuid) -> Result<Option<Contact>> {
        let me = self.me()?;
        let r = self
            .engine
            .record(
                contacts::COLLECTION,
                contacts::record_id(owner_id, me).to_string(),
            )
            .await?;
        Ok(r.as_ref().and_then(decode))
    }

    fn me(&self) -> Result<Uuid> {
        match self.session.state() {
            crate::SessionState::SignedIn { user_id } => Ok(user_id),
            _ => Err(Error::NotSignedIn),
        }
    }

    async fn forget(&self, owner_id: Uuid) -> Result<()> {
        let id = contacts::record_id(owner_id, self.me()?).to_string();
        blocking(self.engine.cache(), move |c| {
            c.delete(contacts::COLLECTION, &id).map(drop)
        })
        .await
    }

    /// Ends my connection with `user_id`, both ways. Their card leaves this
    /// device now and my other devices at their next sync; mine leaves
    /// theirs at their next sync.
    pub async fn revoke(&self, user_id: Uuid) -> Result<()> {
        self.session
            .call::<(), ()>(
                Method::DELETE,
                format!("v1/contacts/connections/{user_id}"),
                None,
            )
            .await?;
        self.forget(user_id).await
    }

    /// Who holds my card.
    pub async fn holders(&self) -> Result<Vec<Holder>> {
        self.session
            .call::<(), _>(Method::GET, "v1/contacts/holders".into(), None)
            .await
    }

    /// Takes my card back from one holder.
    pub async fn revoke_holder(&self, holder_id: Uuid) -> Result<()> {
        self.session
            .call::<(), ()>(
                Method::DELETE,
                format!("v1/contacts/holders/{holder_id}"),
                None,
            )
            .await
    }

    /// Forwards a card I hold to one of my connections (if its owner
    /// allowed me to).
    pub async fn forward(&self, owner_id: Uuid, to: Uuid) -> Result<()> {
        let req = ForwardRequest { owner_id, to };
        self.session
            .call::<_, ()>(Method::POST, "v1/contacts/forward".into(), Some(&req))
            .await
    }

    /// Blocks someone: our connection ends and their invitations are
    /// refused.
    pub async fn block(&self, user_id: Uuid) -> Result<()> {
        self.session
            .call::<_, ()>(
                Method::POST,
                "v1/contacts/blocks".into(),
                Some(&BlockRequest { user_id }),
            )
            .await?;
        self.forget(user_id).await
    }

    /// Lifts a block.
    pub async fn unblock(&self, user_id: Uuid) -> Result<()> {
        self.session
            .call::<(), ()>(
                Method::DELETE,
                format!("v1/contacts/blocks/{user_id}"),
                None,
            )
            .await
    }
}
