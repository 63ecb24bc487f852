//! The privacy notice for the apps (see `praxis_core::notice`).

use praxis_core::protocol::notice as pn;

use crate::client::PraxisClient;
use crate::error::PraxisError;
use crate::privacy::Purpose;
use praxis_core::protocol::redacted_debug;

/// The data controller (a company's public identity: `Debug` shows it).
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct NoticeController {
    /// Legal name.
    pub name: String,
    /// Postal address of its registered office.
    pub address: String,
    /// Company or registry number.
    pub registration_number: String,
}

/// A way to reach someone about personal data.
#[derive(Clone, PartialEq, uniffi::Record)]
pub struct NoticeContact {
    /// A person's or an office's name.
    pub name: Option<String>,
    /// Email address.
    pub email: String,
    /// Postal address.
    pub address: Option<String>,
}

/// The supervisory authority a user may complain to.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct NoticeAuthority {
    /// Its name.
    pub name: String,
    /// Its website.
    pub url: String,
}

/// The published consent version of one purpose.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct PublishedConsentVersion {
    /// The purpose.
    pub purpose: Purpose,
    /// Consent to an older version no longer counts.
    pub version: u32,
}

/// The privacy notice in force.
#[derive(Clone, PartialEq, uniffi::Record)]
pub struct PrivacyNotice {
    /// Raised at every change of the notice.
    pub version: u32,
    /// The day this version took effect (`YYYY-MM-DD`).
    pub published: String,
    /// Where the full text is published.
    pub url: String,
    /// Who decides what is done with the data.
    pub controller: NoticeController,
    /// Where to send questions and requests about personal data.
    pub privacy_contact: NoticeContact,
    /// The data protection officer.
    pub dpo: NoticeContact,
    /// Where to complain.
    pub supervisory_authority: NoticeAuthority,
    /// The published consent versions.
    pub consent_versions: Vec<PublishedConsentVersion>,
    /// A development server's placeholder: never show it to real users.
    pub development: bool,
}

// A DPO's name is a person's: `Debug` shows neither names nor addresses.
redacted_debug!(NoticeContact {});

redacted_debug!(PrivacyNotice { version, published });

/// The notice held on the device, and whether the user has yet to be told
/// it changed.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct PrivacyNoticeStatus {
    /// The notice.
    pub notice: PrivacyNotice,
    /// A sync brought this newer version; show "our privacy notice
    /// changed", then call `acknowledge_privacy_notice(version)`.
    pub changed: bool,
}

fn contact(c: pn::Contact) -> NoticeContact {
    NoticeContact {
        name: c.name,
        email: c.email,
        address: c.address,
    }
}

impl From<praxis_core::NoticeStatus> for PrivacyNoticeStatus {
    fn from(s: praxis_core::NoticeStatus) -> Self {
        let n = s.notice;
        Self {
            notice: PrivacyNotice {
                version: n.version,
                published: n.published.to_string(),
                url: n.url,
                controller: NoticeController {
                    name: n.controller.name,
                    address: n.controller.address,
                    registration_number: n.controller.registration_number,
                },
                privacy_contact: contact(n.privacy_contact),
                dpo: contact(n.dpo),
                supervisory_authority: NoticeAuthority {
                    name: n.supervisory_authority.name,
                    url: n.supervisory_authority.url,
                },
                consent_versions: n
                    .consent_versions
                    .into_iter()
                    .map(|(p, version)| PublishedConsentVersion {
                        purpose: p,
                        version,
                    })
                    .collect(),
                development: n.development,
            },
            changed: s.changed,
        }
    }
}

#[uniffi::export(async_runtime = "tokio")]
impl PraxisClient {
    /// Fetches the privacy notice in force (no sign-in needed: show it
    /// before registering) and keeps it; offline, the copy held.
    pub async fn fetch_privacy_notice(&self) -> Result<PrivacyNoticeStatus, PraxisError> {
        Ok(self.core().notices().fetch().await?.into())
    }

    /// The privacy notice held on the device, without the network; its
    /// `changed` flag says a sync brought a newer version.
    pub async fn privacy_notice(&self) -> Result<Option<PrivacyNoticeStatus>, PraxisError> {
        Ok(self.core().notices().held().await?.map(Into::into))
    }

    /// The user was shown notice `version`: its `changed` flag goes down
    /// (not if a newer version arrived meanwhile). Returns whether it did.
    pub async fn acknowledge_privacy_notice(&self, version: u32) -> Result<bool, PraxisError> {
        Ok(self.core().notices().acknowledge(version).await?)
    }
}
