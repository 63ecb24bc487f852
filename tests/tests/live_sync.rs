//! Live sync end to end: a real server on loopback and real core clients.
//! The practitioner's tablet only runs the live driver (it never calls
//! `sync_now`); what happens elsewhere reaches its encrypted cache, and
//! its status listener, by itself: an edit and a delete made on the
//! phone, an admin switching location off (the gate closes on arrival),
//! a colleague taking a contact card back, and the account erased from
//! the phone (the tablet's data is wiped).

use std::sync::Arc;
use std::time::{Duration, Instant};

use praxis_core::clock::ManualClock;
use praxis_core::protocol::privacy::{Closed, Purpose, UpdateLocationPolicyRequest};
use praxis_core::sync::LiveOptions;
use praxis_core::{AppointmentPatch, NewAppointment, PraxisClient, SessionState};
use praxis_tests::{Backend, TestServer, Transport, epoch, person};
use uuid::Uuid;

struct Device {
    client: Arc<PraxisClient>,
    _dir: tempfile::TempDir,
}

async fn device(s: &TestServer, body: &serde_json::Value, key: u8) -> Device {
    let dir = tempfile::tempdir().expect("dir");
    let mut config = praxis_tests::client_config(s.base_url().expect("url"), dir.path(), key);
    config.clock = Arc::new(ManualClock::new(epoch()));
    let client = PraxisClient::open(config).await.expect("open");
    praxis_tests::sign_in(&client, body).await;
    Device { client, _dir: dir }
}

/// Registers someone and signs them in on a new device.
async fn practitioner(s: &TestServer, tag: &str, key: u8) -> (serde_json::Value, Device) {
    let body = person(tag);
    s.register(&body).await;
    let d = device(s, &body, key).await;
    (body, d)
}

fn user_id(d: &Device) -> Uuid {
    match d.client.account().state() {
        SessionState::SignedIn { user_id } => user_id,
        other => panic!("not signed in: {other:?}"),
    }
}

/// Waits (without syncing) until `check` holds; returns how long it took.
async fn arrives<F, Fut>(what: &str, mut check: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    while !check().await {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "{what} did not arrive by itself"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    start.elapsed()
}

async fn the_tablet_follows_by_itself(backend: Backend) {
    let Some(s) = TestServer::start(backend, Transport::Http).await else {
        return;
    };
    let (body, phone) = practitioner(&s, "live", 1).await;
    let tablet = device(&s, &body, 2).await;
    let mut status = tablet.client.sync().subscribe();
    let live = tablet.client.sync().spawn_live(LiveOptions::default());
    // The feed connects and catches up (one cycle).
    arrives("the first cycle", || {
        let done = tablet.client.sync().status().last_success.is_some();
        async move { done }
    })
    .await;
    status.borrow_and_update();

    // An edit made on the phone.
    let id = phone
        .client
        .appointments()
        .create(NewAppointment {
            title: "Pansement".into(),
            patient_label: Some("P-204".into()),
            start: epoch() + chrono::Duration::hours(2),
            duration_min: 30,
            address: Some("12 rue Esquermoise, Lille".into()),
            point: None,
            geofence: None,
        })
        .await
        .expect("create");
    let start = Instant::now();
    phone.client.sync().sync_now("test").await.expect("sync");
    arrives("the new appointment", || async {
        praxis_tests::titles(&tablet.client).await == ["Pansement"]
    })
    .await;
    let created = start.elapsed();
    assert!(status.has_changed().expect("status"), "the listener heard");
    phone
        .client
        .appointments()
        .update(
            id,
            AppointmentPatch {
                title: Some("Pansement et injection".into()),
                ..AppointmentPatch::default()
            },
        )
        .await
        .expect("edit");
    phone.client.sync().sync_now("test").await.expect("sync");
    let edited = arrives("the edit", || async {
        praxis_tests::titles(&tablet.client).await == ["Pansement et injection"]
    })
    .await;
    phone
        .client
        .appointments()
        .delete(id)
        .await
        .expect("delete");
    phone.client.sync().sync_now("test").await.expect("sync");
    let deleted = arrives("the delete", || async {
        praxis_tests::titles(&tablet.client).await.is_empty()
    })
    .await;

    // An admin switches location on, then off: the tablet's gate follows.
    let (_, admin) = practitioner(&s, "admin", 3).await;
    let org = admin
        .client
        .account()
        .create_org("Cabinet du Vieux-Lille")
        .await
        .expect("org");
    let code = admin
        .client
        .account()
        .create_join_code(org)
        .await
        .expect("code");
    phone
        .client
        .account()
        .join_org(&code.code)
        .await
        .expect("join");
    let gate = || async {
        tablet
            .client
            .location()
            .permission(Purpose::LocationVisits)
            .await
            .expect("permission")
            .closed
    };
    let policy = |on: bool| UpdateLocationPolicyRequest {
        location_visits: Some(on),
        ..Default::default()
    };
    admin
        .client
        .account()
        .update_location_policy(org, &policy(true))
        .await
        .expect("policy");
    arrives("the policy switched on", || async {
        gate().await == Some(Closed::ConsentRequired)
    })
    .await;
    tablet
        .client
        .consents()
        .grant(Purpose::LocationVisits)
        .await
        .expect("grant");
    assert_eq!(gate().await, None, "open once consented");
    admin
        .client
        .account()
        .update_location_policy(org, &policy(false))
        .await
        .expect("policy");
    arrives("the policy switched off", || async {
        gate().await == Some(Closed::PolicyDisabled)
    })
    .await;

    // A colleague shares a card, then takes it back.
    let (_, colleague) = practitioner(&s, "colleague", 4).await;
    let colleague_id = user_id(&colleague);
    let invitation = colleague
        .client
        .contacts()
        .invite(vec!["display_name".into()], false, None)
        .await
        .expect("invite");
    phone
        .client
        .contacts()
        .accept(&invitation.code, vec!["display_name".into()], false)
        .await
        .expect("accept");
    let card_on_tablet = || async {
        tablet
            .client
            .contacts()
            .get(colleague_id)
            .await
            .expect("get")
            .is_some()
    };
    arrives("the card", card_on_tablet).await;
    let me = user_id(&phone);
    colleague
        .client
        .contacts()
        .revoke_holder(me)
        .await
        .expect("revoke");
    arrives("the revocation", || async { !card_on_tablet().await }).await;

    // The account is erased from the phone: the tablet signs out and
    // keeps nothing.
    phone
        .client
        .account()
        .delete_account(body["password"].as_str().expect("password"))
        .await
        .expect("erase");
    arrives("the erasure", || {
        let state = tablet.client.account().state();
        async move { !matches!(state, SessionState::SignedIn { .. }) }
    })
    .await;
    assert!(praxis_tests::titles(&tablet.client).await.is_empty());
    live.abort();
    println!(
        "{backend:?}: edit to visible on the other device: create {created:?}, edit {edited:?}, delete {deleted:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_the_tablet_follows_by_itself() {
    the_tablet_follows_by_itself(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_the_tablet_follows_by_itself() {
    the_tablet_follows_by_itself(Backend::Postgres).await;
}
