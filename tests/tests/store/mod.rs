//! Store-level suites: the server's storage (`praxis_server::store::Store`)
//! called directly, with no router and no HTTP, one module per capability,
//! each test run on SQLite and on PostgreSQL (`store::<capability>::sqlite`
//! and `::postgres`, through `praxis_tests::store_suite!`). Every time comes
//! from the fixture's injected clock, which starts at the test epoch.
//!
//! This module holds the setup most capabilities share: accounts, sessions,
//! sync mutations and pushes.

mod accounts;
mod audit;
mod backend;
mod contacts;
mod credentials;
mod erasure;
mod export;
mod location;
mod orgs;
mod privacy;
mod retention;
mod sessions;
mod sharing;
mod sync;
mod wakeups;

use chrono::{DateTime, Duration, Utc};
use praxis_protocol::privacy::Purpose;
use praxis_protocol::sync::{FieldValue, Fields, Mutation, MutationResult, SyncRecord};
use praxis_server::store::{DeviceLabel, NewSession, NewUser};
use praxis_tests::StoreFixture;
use serde_json::{Value, json};
use uuid::Uuid;

/// An account created through the store.
#[derive(Debug, Clone)]
pub struct Account {
    /// Its id.
    pub id: Uuid,
    /// Its (normalised) email.
    pub email: String,
    /// Its full name.
    pub full_name: String,
}

/// A new account's fields; unique email and name, born 40 years before the
/// test clock.
pub fn new_user(f: &StoreFixture, tag: &str) -> NewUser {
    let n = Uuid::new_v4().simple().to_string();
    NewUser {
        id: Uuid::new_v4(),
        email: format!("{tag}.{}@clinic-example.org", &n[..12]),
        password_hash: format!("$argon2id$v=19$m=19456,t=2,p=1$stand-in${}", &n[..16]),
        full_name: format!("Nurse {tag} {}", &n[..6]),
        phone: "+33612345678".into(),
        country: "FR".into(),
        language: "fr-FR".into(),
        profession: "nurse".into(),
        date_of_birth: (f.now() - Duration::days(40 * 365)).date_naive(),
    }
}

/// Creates an account, asserting success.
pub async fn account(f: &StoreFixture, tag: &str) -> Account {
    let u = new_user(f, tag);
    let a = Account {
        id: u.id,
        email: u.email.clone(),
        full_name: u.full_name.clone(),
    };
    f.store.create_user(u, f.now()).await.expect("create user");
    a
}

/// The token hashes of one sign-in (the store only ever sees hashes).
#[derive(Debug, Clone)]
pub struct Tokens {
    /// The token family (the session).
    pub family: Uuid,
    /// Hash of the access token.
    pub access: Vec<u8>,
    /// Hash of the refresh token.
    pub refresh: Vec<u8>,
}

/// A random 32-byte stand-in for a token hash.
pub fn token_hash() -> Vec<u8> {
    [Uuid::new_v4().into_bytes(), Uuid::new_v4().into_bytes()].concat()
}

/// A fresh token pair issued at `now`: access for 15 minutes, refresh for
/// 30 days. Returns it with its hashes.
pub fn pair(now: DateTime<Utc>) -> (NewSession, Vec<u8>, Vec<u8>) {
    let (access, refresh) = (token_hash(), token_hash());
    let s = NewSession {
        access_hash: access.clone(),
        access_expires_at: now + Duration::minutes(15),
        refresh_hash: refresh.clone(),
        refresh_expires_at: now + Duration::days(30),
    };
    (s, access, refresh)
}

/// Signs `user` in (a new token family) from a device named `device`.
pub async fn sign_in(f: &StoreFixture, user: Uuid, device: &str) -> Tokens {
    let family = Uuid::new_v4();
    let (s, access, refresh) = pair(f.now());
    let label = DeviceLabel {
        name: Some(device.to_owned()),
        platform: Some(praxis_protocol::Platform::Android),
    };
    f.store
        .create_session(user, family, s, &label, f.now())
        .await
        .expect("create session");
    Tokens {
        family,
        access,
        refresh,
    }
}

/// A device's HLC stamp `ahead_ms` after the test clock.
pub fn hlc(f: &StoreFixture, ahead_ms: i64, node: &str) -> String {
    format!(
        "{:013}-000000-{node}",
        f.now().timestamp_millis() + ahead_ms
    )
}

/// Fields stamped with `t`.
pub fn fields(t: &str, values: &[(&str, Value)]) -> Fields {
    values
        .iter()
        .map(|(k, v)| {
            (
                (*k).to_owned(),
                FieldValue {
                    v: v.clone(),
                    t: t.to_owned(),
                },
            )
        })
        .collect()
}

/// A new appointment titled `title` (the device's `client_seq`-th change),
/// starting two days after the test clock.
pub fn appointment(f: &StoreFixture, client_seq: i64, id: &str, title: &str) -> Mutation {
    let t = hlc(f, client_seq, "dev1");
    let start = (f.now() + Duration::days(2)).to_rfc3339();
    Mutation {
        client_seq,
        collection: "appointments".into(),
        id: id.to_owned(),
        base_version: None,
        fields: fields(
            &t,
            &[
                ("title", json!(title)),
                ("start", json!(start)),
                ("duration_min", json!(30)),
            ],
        ),
        delete: None,
    }
}

/// A consent ledger entry (append-only) granting or withdrawing `purpose`
/// for policy `version`, dated now.
pub fn consent(
    f: &StoreFixture,
    client_seq: i64,
    purpose: Purpose,
    granted: bool,
    version: u32,
) -> Mutation {
    let t = hlc(f, client_seq, "dev1");
    Mutation {
        client_seq,
        collection: "consents".into(),
        id: Uuid::new_v4().to_string(),
        base_version: None,
        fields: fields(
            &t,
            &[
                ("purpose", json!(purpose.as_str())),
                ("granted", json!(granted)),
                ("policy_version", json!(version)),
                ("at", json!(f.now().to_rfc3339())),
                ("device", json!("dev1")),
            ],
        ),
        delete: None,
    }
}

/// Pushes `mutations` as device `client` of `user`, prechecked as the
/// route does; the store's answers.
pub async fn push(
    f: &StoreFixture,
    user: Uuid,
    client: &str,
    mutations: &[Mutation],
) -> Vec<MutationResult> {
    try_push(f, user, client, mutations)
        .await
        .expect("push stored")
}

/// [`push`], returning the store's error.
pub async fn try_push(
    f: &StoreFixture,
    user: Uuid,
    client: &str,
    mutations: &[Mutation],
) -> Result<Vec<MutationResult>, praxis_server::store::StoreError> {
    let pre = praxis_server::sync::precheck(mutations, f.now());
    f.store
        .push(user, Uuid::new_v4(), client, mutations, &pre, f.now())
        .await
}

/// The record an answer carries, asserting it was applied.
#[track_caller]
pub fn applied(r: &MutationResult) -> &SyncRecord {
    match r {
        MutationResult::Applied { record, .. } => record,
        other => panic!("expected applied, got {other:?}"),
    }
}

/// Every change of `user`'s scope, in sequence order.
pub async fn pull_all(f: &StoreFixture, user: Uuid) -> Vec<SyncRecord> {
    let page = f
        .store
        .pull(&praxis_server::sync::user_scope(user), 0, 1000)
        .await
        .expect("pull");
    assert!(!page.more);
    page.changes
}

/// Creates an organisation administered by `admin`; its id.
pub async fn new_org(f: &StoreFixture, admin: Uuid) -> Uuid {
    let org = Uuid::new_v4();
    f.store
        .create_org(org, "Clinique du Parc", admin, f.now())
        .await
        .expect("create org");
    org
}

/// `user` joins `org` with a fresh code from `admin`, asserting it.
pub async fn join(f: &StoreFixture, org: Uuid, admin: Uuid, user: Uuid) {
    let code = token_hash();
    f.store
        .create_join_code(&code, org, admin, f.now(), f.now() + Duration::days(1))
        .await
        .expect("join code");
    let out = f
        .store
        .redeem_join_code(&code, user, f.now())
        .await
        .expect("redeem");
    assert_eq!(out, praxis_server::store::RedeemOutcome::Joined(org));
}

/// Records a consent entry a minute after the previous one (the ledger
/// ranks entries by time), asserting it was stored.
pub async fn record_consent(
    f: &StoreFixture,
    user: Uuid,
    seq: i64,
    purpose: Purpose,
    granted: bool,
    version: u32,
) {
    f.advance(Duration::minutes(1));
    let r = push(
        f,
        user,
        "dev1",
        &[consent(f, seq, purpose, granted, version)],
    )
    .await;
    applied(&r[0]);
}

/// An organisation whose admin sets its location `policy`, with a member;
/// both consent to `purpose`. Returns (organisation, admin, member).
pub async fn location_org(
    f: &StoreFixture,
    policy: &praxis_protocol::privacy::UpdateLocationPolicyRequest,
    purpose: Purpose,
) -> (Uuid, Account, Account) {
    let admin = account(f, "adm").await;
    let member = account(f, "mem").await;
    let org = new_org(f, admin.id).await;
    join(f, org, admin.id, member.id).await;
    f.store
        .update_location_policy(org, admin.id, policy, f.now())
        .await
        .expect("policy");
    for u in [&admin, &member] {
        record_consent(f, u.id, 1, purpose, true, 1).await;
    }
    (org, admin, member)
}
