//! The privacy notice for the apps (see `praxis_core::notice`).

// The notice's parts are the protocol's own types, under the names the
// apps know them by (their `Debug` shows no names or addresses).
pub(crate) use praxis_core::protocol::notice::{
    Authority as NoticeAuthority, Contact as NoticeContact, Controller as NoticeController,
};

use crate::client::PraxisClient;
use crate::error::PraxisError;
use crate::privacy::Purpose;
use praxis_core::protocol::redacted_debug;

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

impl From<praxis_core::NoticeStatus> for PrivacyNoticeStatus {
    fn from(s: praxis_core::NoticeStatus) -> Self {
        let n = s.notice;
        Self {
            notice: PrivacyNotice {
                version: n.version,
                published: n.published.to_string(),
                url: n.url,
                controller: n.controller,
                privacy_contact: n.privacy_contact,
                dpo: n.dpo,
                supervisory_authority: n.supervisory_authority,
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

crate::capability!(
    /// The privacy notice: fetched, held, acknowledged.
    Notices,
    notices
);

#[uniffi::export(async_runtime = "tokio")]
impl Notices {
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
