//! Credentials for the apps: changing the password.

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
}
