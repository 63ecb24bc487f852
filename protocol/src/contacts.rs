//! Contact sharing between practitioners: the card, invitations (signed,
//! single-use, expiring codes), and the `contacts` sync collection.
//!
//! An invitation code is `PXC1.<payload>.<signature>` (base64url, no
//! padding): the payload is JSON `{i, s, e, k}` (invitation id, a 256-bit
//! secret, expiry in Unix seconds, signing key id) and the signature is
//! Ed25519 over the payload bytes by the server's key. A device checks the
//! signature with the server's public key before sending anything, so a
//! tampered or forged code never leaves the phone; the server keeps only a
//! SHA-256 of the secret.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::redacted_debug;

/// The fields of a card, in display order.
pub const FIELDS: &[&str] = &[
    "display_name",
    "profession",
    "specialty",
    "work_phone",
    "work_email",
    "organisation",
    "clinic_address",
    "languages",
];

/// Default life of an invitation, in hours.
pub const DEFAULT_TTL_HOURS: u32 = 48;
/// Longest life of an invitation, in hours (7 days).
pub const MAX_TTL_HOURS: u32 = 168;

/// A practitioner's professional contact card. The owner keeps one and
/// chooses, per connection, which fields are shared.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct ContactCard {
    /// Name as shown to colleagues (1..=200 characters).
    pub display_name: String,
    /// Profession, e.g. "nurse".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "uniffi", uniffi(default = None))]
    pub profession: Option<String>,
    /// Specialty, e.g. "wound care".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "uniffi", uniffi(default = None))]
    pub specialty: Option<String>,
    /// Work phone, E.164.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "uniffi", uniffi(default = None))]
    pub work_phone: Option<String>,
    /// Work email.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "uniffi", uniffi(default = None))]
    pub work_email: Option<String>,
    /// Organisation or clinic name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "uniffi", uniffi(default = None))]
    pub organisation: Option<String>,
    /// Clinic address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "uniffi", uniffi(default = None))]
    pub clinic_address: Option<String>,
    /// Languages spoken (BCP 47 tags).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[cfg_attr(feature = "uniffi", uniffi(default = []))]
    pub languages: Vec<String>,
}
redacted_debug!(ContactCard {});

impl ContactCard {
    /// One field as JSON (`None` when the card has no value for it).
    pub fn field(&self, name: &str) -> Option<serde_json::Value> {
        let s = |v: &Option<String>| v.clone().map(serde_json::Value::from);
        match name {
            "display_name" => Some(self.display_name.clone().into()),
            "profession" => s(&self.profession),
            "specialty" => s(&self.specialty),
            "work_phone" => s(&self.work_phone),
            "work_email" => s(&self.work_email),
            "organisation" => s(&self.organisation),
            "clinic_address" => s(&self.clinic_address),
            "languages" => (!self.languages.is_empty()).then(|| self.languages.clone().into()),
            _ => None,
        }
    }
}

/// Checks a list of field names: known, no duplicates, not empty.
pub fn check_fields(fields: &[String]) -> Result<(), &'static str> {
    if fields.is_empty() {
        return Err("choose at least one field");
    }
    for (i, f) in fields.iter().enumerate() {
        if !FIELDS.contains(&f.as_str()) {
            return Err("unknown field");
        }
        if fields[..i].contains(f) {
            return Err("a field is listed twice");
        }
    }
    Ok(())
}

/// `POST /v1/contacts/invitations`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateInvitationRequest {
    /// The card fields the recipient will see.
    pub fields: Vec<String>,
    /// Whether the recipient may forward the card to their connections.
    #[serde(default)]
    pub allow_forward: bool,
    /// Hours until it expires (1..=168, default 48).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl_hours: Option<u32>,
}

/// A new invitation.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Invitation {
    /// Invitation id.
    pub invitation_id: Uuid,
    /// The code to show as a QR code or send as a link.
    pub code: String,
    /// When it stops working.
    pub expires_at: DateTime<Utc>,
}
redacted_debug!(Invitation {
    invitation_id,
    expires_at
});

/// A body carrying an invitation code (preview, decline).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct InvitationCodeRequest {
    /// The code.
    pub code: String,
}
redacted_debug!(InvitationCodeRequest {});

/// Who invites, before accepting.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct InvitationPreview {
    /// The inviter's account id.
    pub inviter_id: Uuid,
    /// Their display name, if offered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// Their profession, if offered and on their card.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profession: Option<String>,
    /// Their organisation, if offered and on their card.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organisation: Option<String>,
    /// The fields they offer.
    pub fields: Vec<String>,
    /// When the invitation expires.
    pub expires_at: DateTime<Utc>,
}
redacted_debug!(InvitationPreview {
    inviter_id,
    fields,
    expires_at
});

/// `POST /v1/contacts/invitations/accept`: connects both ways.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct AcceptInvitationRequest {
    /// The code.
    pub code: String,
    /// Which of my fields the inviter will see.
    pub fields: Vec<String>,
    /// Whether the inviter may forward my card.
    #[serde(default)]
    pub allow_forward: bool,
}
redacted_debug!(AcceptInvitationRequest {
    fields,
    allow_forward
});

/// Answer to an acceptance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AcceptInvitationResponse {
    /// The inviter, now a connection.
    pub owner_id: Uuid,
}

/// `POST /v1/contacts/forward`: pass a card I hold to one of my
/// connections (only if its owner allowed forwarding to me).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ForwardRequest {
    /// The card's owner.
    pub owner_id: Uuid,
    /// The connection to pass it to.
    pub to: Uuid,
}

/// Someone who holds my card (`GET /v1/contacts/holders`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Holder {
    /// Their account id.
    pub holder_id: Uuid,
    /// The fields they see.
    pub fields: Vec<String>,
    /// Whether they may forward it.
    pub allow_forward: bool,
    /// Who forwarded it to them, if it was forwarded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub forwarded_by: Option<Uuid>,
    /// Since when.
    pub since: DateTime<Utc>,
}

/// `POST /v1/contacts/blocks`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct BlockRequest {
    /// The account to block.
    pub user_id: Uuid,
}

/// The server's public key for invitation codes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SigningKey {
    /// Key id (in every code).
    pub key_id: String,
    /// Ed25519 public key, base64url.
    pub public_key: String,
}

/// The `contacts` collection: cards shared with me, written by the server,
/// read-only on devices. Fields: `owner_id`, the shared card fields,
/// `shared_fields`, `allow_forward`, `forwarded_by`.
pub const COLLECTION: &str = "contacts";

/// The record id of `owner`'s card as held by `holder` (stable, unique).
pub fn record_id(owner: Uuid, holder: Uuid) -> Uuid {
    Uuid::new_v5(&owner, holder.as_bytes())
}

/// What a code carries (signed).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CodePayload {
    /// Invitation id.
    pub i: Uuid,
    /// Secret, base64url (32 bytes).
    pub s: String,
    /// Expiry, Unix seconds.
    pub e: i64,
    /// Signing key id.
    pub k: String,
}
redacted_debug!(CodePayload { i, e, k });

/// Why a code was refused on the device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeError {
    /// Not an invitation code at all.
    Malformed,
    /// Signed by a key this server does not use (made elsewhere).
    Forged,
    /// The signature does not match: the code was altered.
    Tampered,
    /// Past its expiry.
    Expired,
}

impl CodeError {
    /// A stable snake_case code.
    pub fn code(self) -> &'static str {
        match self {
            Self::Malformed => "malformed_code",
            Self::Forged => "forged_code",
            Self::Tampered => "tampered_code",
            Self::Expired => "invitation_expired",
        }
    }
}

const PREFIX: &str = "PXC1";

/// Builds a code from its payload and a signing function.
pub fn encode_code(payload: &CodePayload, sign: impl FnOnce(&[u8]) -> Vec<u8>) -> String {
    let bytes = serde_json::to_vec(payload).expect("a payload serialises");
    let sig = sign(&bytes);
    format!(
        "{PREFIX}.{}.{}",
        URL_SAFE_NO_PAD.encode(&bytes),
        URL_SAFE_NO_PAD.encode(sig)
    )
}

/// Parses a code and checks its signature with the server's key (and its
/// expiry against `now`), before anything is sent.
pub fn verify_code(
    code: &str,
    key: &SigningKey,
    now: DateTime<Utc>,
) -> Result<CodePayload, CodeError> {
    let mut parts = code.trim().split('.');
    let (Some(PREFIX), Some(p), Some(s), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(CodeError::Malformed);
    };
    let payload_bytes = URL_SAFE_NO_PAD
        .decode(p)
        .map_err(|_| CodeError::Malformed)?;
    let sig = URL_SAFE_NO_PAD
        .decode(s)
        .map_err(|_| CodeError::Malformed)?;
    let parsed: Option<CodePayload> = serde_json::from_slice(&payload_bytes).ok();
    let public = URL_SAFE_NO_PAD
        .decode(&key.public_key)
        .map_err(|_| CodeError::Malformed)?;
    let verified = ring::signature::UnparsedPublicKey::new(&ring::signature::ED25519, &public)
        .verify(&payload_bytes, &sig)
        .is_ok();
    match parsed {
        Some(payload) if payload.k != key.key_id => Err(CodeError::Forged),
        _ if !verified => Err(CodeError::Tampered),
        None => Err(CodeError::Malformed),
        Some(payload) if payload.e <= now.timestamp() => Err(CodeError::Expired),
        Some(payload) => Ok(payload),
    }
}

#[cfg(test)]
mod tests {
    use ring::signature::{Ed25519KeyPair, KeyPair};

    use super::*;

    fn keypair() -> (Ed25519KeyPair, SigningKey) {
        let rng = ring::rand::SystemRandom::new();
        let pkcs8 = Ed25519KeyPair::generate_pkcs8(&rng).expect("key");
        let kp = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).expect("parse");
        let key = SigningKey {
            key_id: "k1".into(),
            public_key: URL_SAFE_NO_PAD.encode(kp.public_key().as_ref()),
        };
        (kp, key)
    }

    fn now() -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000, 0).expect("valid")
    }

    fn payload(k: &str, e: i64) -> CodePayload {
        CodePayload {
            i: Uuid::new_v4(),
            s: URL_SAFE_NO_PAD.encode([7u8; 32]),
            e,
            k: k.into(),
        }
    }

    #[test]
    fn codes_verify_and_every_alteration_is_caught() {
        let (kp, key) = keypair();
        let good = payload("k1", now().timestamp() + 3600);
        let code = encode_code(&good, |b| kp.sign(b).as_ref().to_vec());
        assert_eq!(verify_code(&code, &key, now()), Ok(good.clone()));
        // Flip one character of the payload, then of the signature.
        for part in [1usize, 2] {
            let mut pieces: Vec<String> = code.split('.').map(str::to_owned).collect();
            let mut chars: Vec<char> = pieces[part].chars().collect();
            chars[5] = if chars[5] == 'A' { 'B' } else { 'A' };
            pieces[part] = chars.into_iter().collect();
            let altered = pieces.join(".");
            assert!(
                matches!(
                    verify_code(&altered, &key, now()),
                    Err(CodeError::Tampered | CodeError::Malformed)
                ),
                "part {part}"
            );
        }
        // Signed by another key, claiming ours: tampered; naming another key: forged.
        let (other, _) = keypair();
        let fake = encode_code(&good, |b| other.sign(b).as_ref().to_vec());
        assert_eq!(verify_code(&fake, &key, now()), Err(CodeError::Tampered));
        let foreign = encode_code(&payload("k9", now().timestamp() + 60), |b| {
            other.sign(b).as_ref().to_vec()
        });
        assert_eq!(verify_code(&foreign, &key, now()), Err(CodeError::Forged));
        let old = encode_code(&payload("k1", now().timestamp() - 1), |b| {
            kp.sign(b).as_ref().to_vec()
        });
        assert_eq!(verify_code(&old, &key, now()), Err(CodeError::Expired));
        for junk in [
            "",
            "PXC1",
            "PXC1..",
            "hello.world.x",
            "PXC1.!!!.???",
            "PXC2.a.b",
        ] {
            assert!(verify_code(junk, &key, now()).is_err(), "{junk}");
        }
    }

    #[test]
    fn field_lists_are_checked() {
        let f = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        assert!(check_fields(&f(&["display_name", "work_phone"])).is_ok());
        assert!(check_fields(&f(&[])).is_err());
        assert!(check_fields(&f(&["home_address"])).is_err());
        assert!(check_fields(&f(&["work_phone", "work_phone"])).is_err());
    }
}
