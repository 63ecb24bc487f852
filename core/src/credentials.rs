//! Credentials on the account: changing the password (the user's other
//! devices are signed out by the server, this one stays signed in), a
//! forgotten password reset with a mailed code (every session ends), and
//! proving the email address with a mailed code.

use praxis_protocol::{
    ChangePasswordRequest, EmailVerificationConfirm, PasswordResetConfirm, PasswordResetRequest,
};
use reqwest::Method;

use crate::Result;
use crate::account::Account;
use crate::http::Body;

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

    /// Asks the server to mail a password reset code to `email` (no one
    /// needs to be signed in). The server answers the same whether or not
    /// an account has the address; a code goes only to a verified one and
    /// is valid 15 minutes.
    pub async fn request_password_reset(&self, email: &str) -> Result<()> {
        let body = PasswordResetRequest {
            email: email.to_owned(),
        };
        self.session
            .api()
            .send(Method::POST, "v1/password-resets", None, Body::Json(&body))
            .await?;
        self.log.info("account", "password reset requested");
        Ok(())
    }

    /// Sets a new password with the mailed `code`. Every session of the
    /// account ends, this device's too: sign in with the new password.
    pub async fn reset_password(&self, email: &str, code: &str, new: &str) -> Result<()> {
        let body = PasswordResetConfirm {
            email: email.to_owned(),
            code: code.to_owned(),
            new_password: new.to_owned(),
        };
        self.session
            .api()
            .send(
                Method::POST,
                "v1/password-resets/confirm",
                None,
                Body::Json(&body),
            )
            .await?;
        self.log.info("account", "password reset");
        Ok(())
    }

    /// Proves the email address with the mailed `code`.
    pub async fn verify_email(&self, code: &str) -> Result<()> {
        let body = EmailVerificationConfirm {
            code: code.to_owned(),
        };
        self.session
            .call::<_, ()>(
                Method::POST,
                "v1/me/email-verification/confirm".into(),
                Some(&body),
            )
            .await?;
        self.log.info("account", "email verified");
        Ok(())
    }

    /// Mails a new verification code; `false` when the address is already
    /// verified (nothing is sent).
    pub async fn resend_verification(&self) -> Result<bool> {
        let api = self.session.api();
        let status = self
            .session
            .authorized(|token| async move {
                api.send(
                    Method::POST,
                    "v1/me/email-verification",
                    Some(&token),
                    Body::<()>::None,
                )
                .await
                .map(|(status, _)| status)
            })
            .await?;
        Ok(status == reqwest::StatusCode::ACCEPTED)
    }
}
