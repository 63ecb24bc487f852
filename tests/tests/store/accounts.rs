//! Accounts in the store: creation and reading back (the sealed profile,
//! the email's blind index for login), the unique email, and profile
//! changes (a new login email ends the other sessions, is audited and is
//! republished as the `profile` sync record).

use chrono::Duration;
use praxis_server::store::{ProfilePatch, StoreError};
use praxis_tests::StoreFixture;

use super::{account, new_user, pull_all, sign_in};

praxis_tests::store_suite!(
    created_account_reads_back_and_its_email_is_unique,
    new_login_email_moves_the_index_and_ends_other_sessions,
    taken_email_refuses_the_change_and_keeps_the_profile,
);

async fn created_account_reads_back_and_its_email_is_unique(f: StoreFixture) {
    let u = new_user(&f, "ada");
    let (id, email, hash) = (u.id, u.email.clone(), u.password_hash.clone());
    let (name, dob) = (u.full_name.clone(), u.date_of_birth);
    f.store.create_user(u, f.now()).await.expect("create");

    let got = f.store.user(id).await.expect("read").expect("stored");
    assert_eq!(got.id, id);
    assert_eq!(got.email, email);
    assert_eq!(got.full_name, name);
    assert_eq!(got.date_of_birth, dob);
    assert_eq!(
        (got.phone.as_str(), got.country.as_str()),
        ("+33612345678", "FR")
    );
    assert_eq!(got.created_at, f.now());
    assert!(!got.email_verified);

    let creds = f
        .store
        .credentials(&email)
        .await
        .expect("read")
        .expect("found");
    assert_eq!((creds.user_id, creds.password_hash), (id, hash));
    assert!(
        f.store
            .credentials("nobody@clinic-example.org")
            .await
            .expect("read")
            .is_none()
    );

    // The same email again, under another id: refused, nothing written.
    let mut dup = new_user(&f, "ada");
    dup.email = email.clone();
    let dup_id = dup.id;
    let err = f
        .store
        .create_user(dup, f.now())
        .await
        .expect_err("duplicate");
    assert!(matches!(err, StoreError::Conflict), "{err:?}");
    assert!(f.store.user(dup_id).await.expect("read").is_none());
    let users = f.store.list_users().await.expect("list");
    assert_eq!(users, vec![(id, f.now())]);

    // The profile is the first record of the account's scope.
    let records = pull_all(&f, id).await;
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].collection, "profile");
    assert_eq!(records[0].fields["email"].v, email.as_str());
}

async fn new_login_email_moves_the_index_and_ends_other_sessions(f: StoreFixture) {
    let a = account(&f, "bea").await;
    let here = sign_in(&f, a.id, "phone").await;
    let there = sign_in(&f, a.id, "tablet").await;
    f.advance(Duration::minutes(1));
    let new_email = format!("new.{}", a.email);
    let patch = ProfilePatch {
        email: Some(new_email.clone()),
        full_name: Some("Béatrice Renamed".into()),
        ..ProfilePatch::default()
    };
    let got = f
        .store
        .update_user(a.id, patch, here.family, f.now())
        .await
        .expect("update")
        .expect("exists");
    assert_eq!(got.email, new_email);
    assert_eq!(got.full_name, "Béatrice Renamed");
    assert_eq!(got.updated_at, f.now());
    assert_eq!(got.profession, "nurse", "fields not in the patch are kept");

    // Login finds the account by its new address only.
    assert!(f.store.credentials(&a.email).await.expect("read").is_none());
    let creds = f
        .store
        .credentials(&new_email)
        .await
        .expect("read")
        .expect("found");
    assert_eq!(creds.user_id, a.id);

    // The caller's session lives on, the other one ended.
    assert!(
        f.store
            .access(&here.access, f.now())
            .await
            .expect("read")
            .is_some()
    );
    assert!(
        f.store
            .access(&there.access, f.now())
            .await
            .expect("read")
            .is_none()
    );

    let events = f.store.audit_of_user(a.id, 10).await.expect("audit");
    assert!(
        events.iter().any(|e| e.event == "email_changed"),
        "{events:?}"
    );

    // Devices learn the change through the profile record.
    let records = pull_all(&f, a.id).await;
    let profile = records.last().expect("profile");
    assert_eq!(profile.collection, "profile");
    assert_eq!(profile.fields["email"].v, new_email.as_str());
    assert_eq!(profile.fields["full_name"].v, "Béatrice Renamed");

    // An unknown account is not created by a patch.
    let none = f
        .store
        .update_user(
            uuid::Uuid::new_v4(),
            ProfilePatch::default(),
            here.family,
            f.now(),
        )
        .await
        .expect("update");
    assert!(none.is_none());
}

async fn taken_email_refuses_the_change_and_keeps_the_profile(f: StoreFixture) {
    let a = account(&f, "cem").await;
    let b = account(&f, "dia").await;
    let s = sign_in(&f, a.id, "phone").await;
    let patch = ProfilePatch {
        email: Some(b.email.clone()),
        full_name: Some("Not Applied".into()),
        ..ProfilePatch::default()
    };
    let err = f
        .store
        .update_user(a.id, patch, s.family, f.now())
        .await
        .expect_err("taken");
    assert!(matches!(err, StoreError::Conflict), "{err:?}");
    let got = f.store.user(a.id).await.expect("read").expect("exists");
    assert_eq!((got.email, got.full_name), (a.email.clone(), a.full_name));
    let creds = f
        .store
        .credentials(&b.email)
        .await
        .expect("read")
        .expect("found");
    assert_eq!(creds.user_id, b.id, "the address still logs into its owner");
    assert_eq!(pull_all(&f, a.id).await.len(), 1, "no profile republished");
}
