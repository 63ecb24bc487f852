//! Credentials for the apps: changing the password, resetting a forgotten
//! one with a mailed code, proving the email address.

use crate::client::PraxisClient;
use crate::error::PraxisError;

#[uniffi::export(async_runtime = "tokio")]
impl PraxisClient {
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
