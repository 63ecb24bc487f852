//! Credentials on the account: changing the password (the user's other
//! devices are signed out by the server, this one stays signed in).

use praxis_protocol::ChangePasswordRequest;
use reqwest::Method;

use crate::Result;
use crate::account::Account;

impl Account {
    /// Changes the password. `current` is the current password; `None`
    /// works within five minutes of [`Account::reauthenticate`]. The
    /// user's other sessions end; this one goes on.
    pub async fn change_password(&self, current: Option<&str>, new: &str) -> Result<()> {
        let body = ChangePasswordRequest {
            current_password: current.map(str::to_owned),
            new_password: new.to_owned(),
        };
        self.session
            .call::<_, ()>(Method::PUT, "v1/me/password".into(), Some(&body))
            .await?;
        self.log.info("account", "password changed");
        Ok(())
    }
}
