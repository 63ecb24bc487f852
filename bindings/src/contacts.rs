//! Contact sharing, mirrored for the apps. No logic: conversions and calls
//! into the core.

use std::time::SystemTime;

pub(crate) use praxis_core::Contact;
pub(crate) use praxis_core::protocol::contacts::ContactCard;
use uuid::Uuid;

use crate::client::{PraxisClient, uuid};
use crate::error::PraxisError;
use praxis_core::protocol::redacted_debug;

/// A card shared with me.
#[uniffi::remote(Record)]
pub struct Contact {
    /// Its owner's account id.
    pub owner_id: Uuid,
    /// The fields shared with me (others empty).
    pub card: ContactCard,
    /// Which fields were shared.
    pub shared_fields: Vec<String>,
    /// Whether I may forward it.
    pub allow_forward: bool,
    /// Who forwarded it to me.
    pub forwarded_by: Option<Uuid>,
}

/// A new invitation.
#[derive(Clone, PartialEq, uniffi::Record)]
pub struct ContactInvitation {
    /// Its id.
    pub invitation_id: String,
    /// The code for a QR code or a link (single use).
    pub code: String,
    /// When it stops working.
    pub expires_at: SystemTime,
}

redacted_debug!(ContactInvitation { invitation_id });

/// Who invites me.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct InvitationPreview {
    /// Their account id.
    pub inviter_id: String,
    /// Their name, if offered.
    pub display_name: Option<String>,
    /// Their profession, if offered.
    pub profession: Option<String>,
    /// Their organisation.
    pub organisation: Option<String>,
    /// The fields offered.
    pub fields: Vec<String>,
    /// Expiry.
    pub expires_at: SystemTime,
}

/// Someone who holds my card.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct CardHolder {
    /// Their account id.
    pub holder_id: String,
    /// The fields they see.
    pub fields: Vec<String>,
    /// Whether they may forward it.
    pub allow_forward: bool,
    /// Who forwarded it to them.
    pub forwarded_by: Option<String>,
    /// Since when.
    pub since: SystemTime,
}

crate::capability!(
    /// Contact sharing between practitioners: the user's card, invitations, the cards shared with them.
    Contacts,
    contacts
);

#[uniffi::export(async_runtime = "tokio")]
impl Contacts {
    /// My contact card.
    pub async fn my_card(&self) -> Result<ContactCard, PraxisError> {
        Ok(self.core().contacts().my_card().await?)
    }

    /// Replaces my card; every holder's copy follows.
    pub async fn update_card(&self, card: ContactCard) -> Result<ContactCard, PraxisError> {
        Ok(self.core().contacts().update_card(&card).await?)
    }

    /// A single-use invitation offering `fields` of my card.
    pub async fn create_invitation(
        &self,
        fields: Vec<String>,
        allow_forward: bool,
        ttl_hours: Option<u32>,
    ) -> Result<ContactInvitation, PraxisError> {
        let i = self
            .core()
            .contacts()
            .invite(fields, allow_forward, ttl_hours)
            .await?;
        Ok(ContactInvitation {
            invitation_id: i.invitation_id.to_string(),
            code: i.code,
            expires_at: i.expires_at.into(),
        })
    }

    /// Checks a code on the device (signature, expiry) without sending it.
    pub async fn verify_invitation(&self, code: String) -> Result<(), PraxisError> {
        self.core().contacts().verify(&code).await?;
        Ok(())
    }

    /// Who invites me and what they offer.
    pub async fn preview_invitation(&self, code: String) -> Result<InvitationPreview, PraxisError> {
        let p = self.core().contacts().preview(&code).await?;
        Ok(InvitationPreview {
            inviter_id: p.inviter_id.to_string(),
            display_name: p.display_name,
            profession: p.profession,
            organisation: p.organisation,
            fields: p.fields,
            expires_at: p.expires_at.into(),
        })
    }

    /// Accepts an invitation, sharing `fields` of my card back; returns the
    /// inviter's id.
    pub async fn accept_invitation(
        &self,
        code: String,
        fields: Vec<String>,
        allow_forward: bool,
    ) -> Result<String, PraxisError> {
        Ok(self
            .core()
            .contacts()
            .accept(&code, fields, allow_forward)
            .await?
            .to_string())
    }

    /// Declines an invitation.
    pub async fn decline_invitation(&self, code: String) -> Result<(), PraxisError> {
        Ok(self.core().contacts().decline(&code).await?)
    }

    /// The cards shared with me (offline).
    pub async fn list(&self) -> Result<Vec<Contact>, PraxisError> {
        Ok(self.core().contacts().list().await?)
    }

    /// One card shared with me.
    pub async fn contact(&self, owner_id: String) -> Result<Option<Contact>, PraxisError> {
        let id = uuid("owner_id", &owner_id)?;
        Ok(self.core().contacts().get(id).await?)
    }

    /// Ends my connection with someone, both ways.
    pub async fn revoke_contact(&self, user_id: String) -> Result<(), PraxisError> {
        let id = uuid("user_id", &user_id)?;
        Ok(self.core().contacts().revoke(id).await?)
    }

    /// Who holds my card.
    pub async fn card_holders(&self) -> Result<Vec<CardHolder>, PraxisError> {
        let h = self.core().contacts().holders().await?;
        Ok(h.into_iter()
            .map(|h| CardHolder {
                holder_id: h.holder_id.to_string(),
                fields: h.fields,
                allow_forward: h.allow_forward,
                forwarded_by: h.forwarded_by.map(|u| u.to_string()),
                since: h.since.into(),
            })
            .collect())
    }

    /// Takes my card back from one holder.
    pub async fn revoke_holder(&self, holder_id: String) -> Result<(), PraxisError> {
        let id = uuid("holder_id", &holder_id)?;
        Ok(self.core().contacts().revoke_holder(id).await?)
    }

    /// Forwards a card I hold to one of my connections.
    pub async fn forward_contact(&self, owner_id: String, to: String) -> Result<(), PraxisError> {
        let (owner, to) = (uuid("owner_id", &owner_id)?, uuid("to", &to)?);
        Ok(self.core().contacts().forward(owner, to).await?)
    }

    /// Blocks someone.
    pub async fn block_user(&self, user_id: String) -> Result<(), PraxisError> {
        let id = uuid("user_id", &user_id)?;
        Ok(self.core().contacts().block(id).await?)
    }

    /// Lifts a block.
    pub async fn unblock_user(&self, user_id: String) -> Result<(), PraxisError> {
        let id = uuid("user_id", &user_id)?;
        Ok(self.core().contacts().unblock(id).await?)
    }
}
