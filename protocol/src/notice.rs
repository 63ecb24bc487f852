//! The privacy notice: who the controller is, whom to ask, where to
//! complain, and which version of the notice is in force (every seed
//! policy names these). The operator writes it in the server's
//! configuration; `GET /v1/privacy/notice` serves it to anyone, with the
//! published consent versions; devices cache it and learn of a newer
//! version from the privacy step of every sync. Also here: objections to
//! the processing the notice says rests on legitimate interest.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::privacy::Purpose;
use crate::redacted_debug;

/// The data controller (GDPR Art. 13(1)(a)).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
#[cfg_attr(feature = "uniffi", uniffi(name = "NoticeController"))]
pub struct Controller {
    /// Legal name.
    pub name: String,
    /// Postal address of its registered office.
    pub address: String,
    /// Company or registry number.
    pub registration_number: String,
}
redacted_debug!(Controller {});

/// A way to reach someone about personal data.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
#[cfg_attr(feature = "uniffi", uniffi(name = "NoticeContact"))]
pub struct Contact {
    /// A person's or an office's name (optional for a role mailbox).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Email address.
    pub email: String,
    /// Postal address, if letters are accepted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
}
redacted_debug!(Contact {});

/// The supervisory authority a user may complain to (Art. 13(2)(d)).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
#[cfg_attr(feature = "uniffi", uniffi(name = "NoticeAuthority"))]
pub struct Authority {
    /// Its name.
    pub name: String,
    /// Its website (where complaints are lodged).
    pub url: String,
}
redacted_debug!(Authority {});

/// `GET /v1/privacy/notice`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PrivacyNotice {
    /// The notice's version: raised by the operator at every change, so a
    /// device holding a lower one tells its user the notice changed.
    pub version: u32,
    /// The day this version took effect.
    pub published: NaiveDate,
    /// Where the full text is published.
    pub url: String,
    /// Who decides what is done with the data.
    pub controller: Controller,
    /// Where to send questions and requests about personal data.
    pub privacy_contact: Contact,
    /// The data protection officer.
    pub dpo: Contact,
    /// Where to complain.
    pub supervisory_authority: Authority,
    /// The published consent (policy) version per purpose: consent given
    /// to an older version no longer counts.
    #[serde(default)]
    pub consent_versions: BTreeMap<Purpose, u32>,
    /// `true` only on the placeholder a development server serves when no
    /// notice is configured: never a notice to show to real users.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub development: bool,
}
redacted_debug!(PrivacyNotice {
    version,
    published,
    development
});

impl PrivacyNotice {
    /// The placeholder a `--dev` server serves without a configured
    /// notice (version 0, so any real notice is newer).
    pub fn development() -> Self {
        let nobody = || Contact {
            name: None,
            email: "privacy@localhost".into(),
            address: None,
        };
        Self {
            version: 0,
            published: NaiveDate::from_ymd_opt(2026, 1, 1).unwrap_or_default(),
            url: "http://localhost/privacy".into(),
            controller: Controller {
                name: "Development server (no controller configured)".into(),
                address: "-".into(),
                registration_number: "-".into(),
            },
            privacy_contact: nobody(),
            dpo: nobody(),
            supervisory_authority: Authority {
                name: "-".into(),
                url: "http://localhost/".into(),
            },
            consent_versions: BTreeMap::new(),
            development: true,
        }
    }
}

/// The notice a user's data was processed under, as the export names it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NoticeVersion {
    /// [`PrivacyNotice::version`].
    pub version: u32,
    /// [`PrivacyNotice::published`].
    pub published: NaiveDate,
    /// [`PrivacyNotice::url`].
    pub url: String,
}

impl From<&PrivacyNotice> for NoticeVersion {
    fn from(n: &PrivacyNotice) -> Self {
        Self {
            version: n.version,
            published: n.published,
            url: n.url.clone(),
        }
    }
}

/// `PUT /v1/me/objections`: object to processing that rests on the
/// controller's legitimate interest (GDPR Art. 21), or withdraw the
/// objection. The bases are those the processing register lists under
/// `legitimate_interests`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ObjectionRequest {
    /// The processing objected to, e.g. `connection_log`.
    pub basis: String,
    /// `true` to object, `false` to withdraw the objection.
    pub objected: bool,
}

/// One processing that rests on legitimate interest, and where the user
/// stands on it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct Objection {
    /// The processing (`connection_log`, `account_security`, …).
    pub basis: String,
    /// What it is.
    pub processing: String,
    /// Whether the user objects.
    pub objected: bool,
    /// Since when, if so.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<chrono::DateTime<chrono::Utc>>,
    /// What an objection stops (empty: it cannot be stopped).
    pub stops: Vec<String>,
    /// What goes on despite an objection, and why (the compelling
    /// grounds, Art. 21(1)).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub continues: Option<String>,
}

/// What happens to a user's data after their death (the BAKUP policy's
/// promise): erased, or handed to a person they chose, then erased.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum PostMortemAction {
    /// Erase everything (the default without a directive).
    Erase,
    /// Send the export to the designated person, then erase.
    HandOver,
}

/// The person a hand-over goes to.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PostMortemRecipient {
    /// Their name.
    pub name: String,
    /// Their email address.
    pub email: String,
}
redacted_debug!(PostMortemRecipient {});

/// `PUT /v1/me/post-mortem`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PostMortemRequest {
    /// Erase, or hand over then erase.
    pub action: PostMortemAction,
    /// Who receives the export (a hand-over only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recipient: Option<PostMortemRecipient>,
    /// A message for them (a hand-over only; at most 2,000 characters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}
redacted_debug!(PostMortemRequest { action });

/// Longest message of a hand-over, in characters.
pub const MAX_POST_MORTEM_MESSAGE: usize = 2000;

impl PostMortemRequest {
    /// Checks the directive; `Err((field, reason))` names what is wrong.
    pub fn check(&self) -> Result<(), (&'static str, &'static str)> {
        let text = |s: &str, max: usize| {
            !s.trim().is_empty() && s.chars().count() <= max && !s.chars().any(|c| c == '\0')
        };
        match (self.action, &self.recipient) {
            (PostMortemAction::Erase, Some(_)) => {
                return Err(("recipient", "Only a hand-over has a recipient"));
            }
            (PostMortemAction::Erase, None) if self.message.is_some() => {
                return Err(("message", "Only a hand-over has a message"));
            }
            (PostMortemAction::HandOver, None) => {
                return Err(("recipient", "A hand-over needs the person's name and email"));
            }
            (PostMortemAction::HandOver, Some(r)) => {
                if !text(&r.name, 200) || r.name.chars().any(char::is_control) {
                    return Err(("recipient.name", "1 to 200 characters, one line"));
                }
                let email = r.email.trim();
                let at = email.find('@');
                if email.len() > 254
                    || email.chars().any(|c| c.is_whitespace() || c.is_control())
                    || !at.is_some_and(|i| i > 0 && email[i + 1..].contains('.'))
                {
                    return Err(("recipient.email", "An email address"));
                }
            }
            (PostMortemAction::Erase, None) => {}
        }
        if let Some(m) = &self.message
            && !text(m, MAX_POST_MORTEM_MESSAGE)
        {
            return Err(("message", "1 to 2000 characters"));
        }
        Ok(())
    }
}

/// `GET /v1/me/post-mortem`: the directive in force, or the default
/// (erasure) when the user recorded none.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PostMortemDirective {
    /// Erase, or hand over then erase.
    pub action: PostMortemAction,
    /// Who receives the export (a hand-over only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recipient: Option<PostMortemRecipient>,
    /// The message for them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// When the user last set it; absent for the default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<chrono::DateTime<chrono::Utc>>,
}
redacted_debug!(PostMortemDirective { action, updated_at });

impl PostMortemDirective {
    /// The directive of a user who recorded none: erasure.
    pub fn default_erasure() -> Self {
        Self {
            action: PostMortemAction::Erase,
            recipient: None,
            message: None,
            updated_at: None,
        }
    }
}
