//! Password checks shared by the account, session and credential routes:
//! the login throttle's reserve-then-settle around a hash, a signed-in
//! user's password check, the recent-reauth rule, and the strength rules
//! with the user's own data as guessable inputs.

use crate::AppState;
use crate::auth::{password, throttle};
use crate::error::{AppError, AppResult};
use crate::extract::Caller;
use praxis_protocol::ErrorCode;

/// Reserves one password check against the throttle of `key` (see
/// `Store::reserve_login_attempt`); `Some(seconds)` to wait when refused.
pub(super) async fn reserve_attempt(
    state: &AppState,
    key: &[u8],
    now: chrono::DateTime<chrono::Utc>,
) -> AppResult<Option<u64>> {
    Ok(state
        .store()
        .reserve_login_attempt(key, now, now - throttle::STREAK_RESET, |failures, last| {
            throttle::retry_after(failures, last, now)
        })
        .await?)
}

/// Checks a password against a reserved attempt of `key`. When hashing is
/// saturated (`503`) the password was never checked, so the reservation
/// is given back rather than counted against the user.
pub(super) async fn checked_password(
    state: &AppState,
    key: &[u8],
    password: String,
    phc: String,
) -> AppResult<bool> {
    match state
        .hashing(move || password::verify(&password, &phc))
        .await
    {
        Ok(matches) => Ok(matches),
        Err(busy) => {
            state.store().refund_login_attempt(key).await?;
            Err(busy)
        }
    }
}

/// Checks a signed-in user's password under the login throttle of their
/// address (a stolen session guesses no faster than login does):
/// `rate_limited` when the streak says wait; a failure stays counted, a
/// success clears the streak.
pub(super) async fn password_matches(
    state: &AppState,
    email: &str,
    password: String,
    now: chrono::DateTime<chrono::Utc>,
) -> AppResult<bool> {
    let key = state.store().throttle_key(email);
    if let Some(wait) = reserve_attempt(state, &key, now).await? {
        return Err(AppError::rate_limited(wait));
    }
    let phc = state
        .store()
        .credentials(email)
        .await?
        .map(|c| c.password_hash)
        .ok_or_else(|| AppError::new(ErrorCode::Unauthorized))?;
    // A failure was counted when the attempt was reserved.
    let ok = checked_password(state, &key, password, phc).await?;
    if ok {
        state.store().clear_login_failures(&key).await?;
    }
    Ok(ok)
}

/// Whether the password was re-entered in this login within the last five
/// minutes (`POST /v1/sessions/reauth`).
pub(super) async fn recently_reauthenticated(state: &AppState, caller: &Caller) -> AppResult<bool> {
    let now = state.now();
    Ok(state
        .store()
        .reauth_at(caller.family_id)
        .await?
        .is_some_and(|t| now - t <= chrono::Duration::minutes(5) && t <= now))
}

/// The user's own data that must not count as password strength: the
/// email, the name, each of their words and the words run together.
pub(super) fn personal_inputs(email: &str, full_name: &str) -> Vec<String> {
    let mut v = vec![email.to_owned(), full_name.to_owned()];
    for text in [email, full_name] {
        let words: Vec<&str> = text
            .split(|c: char| !c.is_alphanumeric())
            .filter(|w| !w.is_empty())
            .collect();
        v.push(words.concat());
        v.extend(words.into_iter().map(str::to_owned));
    }
    v.retain(|s| !s.is_empty());
    v
}

/// Hashes a new password after the registration rules (length, zxcvbn
/// with the user's email and name as guessable inputs); `weak_password`
/// names `field`.
pub(super) async fn strong_hash(
    state: &AppState,
    field: &'static str,
    password: String,
    email: &str,
    full_name: &str,
) -> AppResult<String> {
    let inputs = personal_inputs(email, full_name);
    state
        .hashing(move || {
            let inputs: Vec<&str> = inputs.iter().map(String::as_str).collect();
            password::check_strength(&password, &inputs).map(|()| password::hash(&password))
        })
        .await?
        .map_err(|w| {
            AppError::new(ErrorCode::WeakPassword)
                .field(field)
                .detail(w.message())
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn personal_inputs_make_names_and_emails_guessable() {
        let inputs = personal_inputs("jeanne.dupont@hopital-nord.fr", "Jeanne Dupont-Marchetti");
        let refs: Vec<&str> = inputs.iter().map(String::as_str).collect();
        for pw in ["JeanneDupontMarchetti", "jeanne.dupont@hopital-nord.fr"] {
            assert_eq!(
                password::check_strength(pw, &[]),
                Ok(()),
                "{pw} is strong to a stranger"
            );
            assert!(
                password::check_strength(pw, &refs).is_err(),
                "{pw} is weak for its owner"
            );
        }
    }
}
