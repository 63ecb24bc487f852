//! The account capability for the apps: the profile, credentials
//! (changing the password, resetting a forgotten one with a mailed code,
//! proving the email address) and organisation memberships. Signing in
//! and out stays on the client itself.

use crate::client::{PraxisClient, uuid};
use crate::error::PraxisError;
use crate::types::{JoinCodeResponse, Member, Org, Profile, UpdateProfileRequest};

crate::capability!(
    /// The account: profile, credentials and organisation memberships.
    Account,
    account
);

#[uniffi::export(async_runtime = "tokio")]
impl Account {
    /// The profile from the server.
    pub async fn profile(&self) -> Result<Profile, PraxisError> {
        Ok(self.core().account().profile().await?)
    }

    /// The profile as last seen, offline.
    pub async fn cached_profile(&self) -> Result<Option<Profile>, PraxisError> {
        Ok(self.core().account().cached_profile().await?)
    }

    /// Rectifies profile fields (a new email needs `reauthenticate` first
    /// and signs the other devices out).
    pub async fn update_profile(
        &self,
        update: UpdateProfileRequest,
    ) -> Result<Profile, PraxisError> {
        Ok(self.core().account().update_profile(&update).await?)
    }

    /// Creates an organisation; returns its id.
    pub async fn create_org(&self, name: String) -> Result<String, PraxisError> {
        Ok(self.core().account().create_org(&name).await?.to_string())
    }

    /// Joins an organisation with a code; returns its id.
    pub async fn join_org(&self, code: String) -> Result<String, PraxisError> {
        Ok(self.core().account().join_org(&code).await?.to_string())
    }

    /// The user's organisations.
    pub async fn orgs(&self) -> Result<Vec<Org>, PraxisError> {
        Ok(self.core().account().orgs().await?)
    }

    /// A join code for an organisation (admins).
    pub async fn create_join_code(&self, org_id: String) -> Result<JoinCodeResponse, PraxisError> {
        Ok(self
            .core()
            .account()
            .create_join_code(uuid("org_id", &org_id)?)
            .await?)
    }

    /// Members of an organisation.
    pub async fn members(&self, org_id: String) -> Result<Vec<Member>, PraxisError> {
        Ok(self
            .core()
            .account()
            .members(uuid("org_id", &org_id)?)
            .await?)
    }

    /// Changes the password (`current`: the current one, or `None` within
    /// five minutes of `reauthenticate`). The user's other devices are
    /// signed out; this one stays signed in.
    pub async fn change_password(
        &self,
        current: Option<String>,
        new_password: String,
    ) -> Result<(), PraxisError> {
        Ok(self
            .core()
            .account()
            .change_password(current.as_deref(), &new_password)
            .await?)
    }

    /// Asks for a password reset code by mail (no sign-in needed; the same
    /// answer whether or not an account has the address).
    pub async fn request_password_reset(&self, email: String) -> Result<(), PraxisError> {
        Ok(self.core().account().request_password_reset(&email).await?)
    }

    /// Sets a new password with the mailed code; every session ends.
    pub async fn reset_password(
        &self,
        email: String,
        code: String,
        new_password: String,
    ) -> Result<(), PraxisError> {
        Ok(self
            .core()
            .account()
            .reset_password(&email, &code, &new_password)
            .await?)
    }

    /// Proves the email address with the mailed code.
    pub async fn verify_email(&self, code: String) -> Result<(), PraxisError> {
        Ok(self.core().account().verify_email(&code).await?)
    }

    /// Mails a new verification code; `false` when already verified.
    pub async fn resend_verification(&self) -> Result<bool, PraxisError> {
        Ok(self.core().account().resend_verification().await?)
    }
}
