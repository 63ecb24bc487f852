//! Erasure end to end: a practitioner with three devices (one offline for a
//! week), two colleagues holding their card, an organisation where they are
//! the only admin and one where they are alone.

use std::sync::Arc;

use chrono::Duration;
use praxis_core::clock::{Clock as _, ManualClock};
use praxis_core::protocol::ErrorCode;
use praxis_core::{Error, NewAppointment, PraxisClient, SessionState};
use praxis_tests::{Backend, TestServer, Transport, epoch, person};
use serde_json::Value;

struct Device {
    client: Arc<PraxisClient>,
    clock: Arc<ManualClock>,
    dir: tempfile::TempDir,
}

async fn device(s: &TestServer, body: &Value, key: u8) -> Device {
    let dir = tempfile::tempdir().expect("dir");
    let clock = Arc::new(ManualClock::new(epoch()));
    let mut config = praxis_tests::client_config(s.base_url().expect("url"), dir.path(), key);
    config.clock = clock.clone();
    let client = PraxisClient::open(config).await.expect("open");
    praxis_tests::sign_in(&client, body).await;
    Device { client, clock, dir }
}

async fn practitioner(s: &TestServer, tag: &str, key: u8) -> (Value, Device) {
    let body = person(tag);
    s.register(&body).await;
    let d = device(s, &body, key).await;
    (body, d)
}

fn contains(hay: &[u8], needle: &str) -> bool {
    hay.windows(needle.len()).any(|w| w == needle.as_bytes())
}

async fn connect(owner: &Device, holder: &Device) {
    let code = owner
        .client
        .contacts()
        .invite(
            vec!["display_name".into(), "work_phone".into()],
            false,
            None,
        )
        .await
        .expect("invite")
        .code;
    holder
        .client
        .contacts()
        .accept(&code, vec!["display_name".into()], false)
        .await
        .expect("accept");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn erasure_reaches_every_device_holder_and_organisation() {
    let s = TestServer::start(Backend::Sqlite, Transport::Http)
        .await
        .expect("server");
    let (eve, phone) = practitioner(&s, "erased", 1).await;
    let tablet = device(&s, &eve, 2).await;
    let laptop = device(&s, &eve, 3).await;
    let (_, member) = practitioner(&s, "member", 4).await;
    let (_, h1) = practitioner(&s, "holder1", 5).await;
    let (_, h2) = practitioner(&s, "holder2", 6).await;
    let eve_id = phone.client.account().user_id().expect("id");

    // An organisation with a member (Eve its only admin), one with Eve alone.
    let org = phone
        .client
        .account()
        .create_org("Cabinet Eve")
        .await
        .expect("org");
    let code = phone
        .client
        .account()
        .create_join_code(org)
        .await
        .expect("code");
    member
        .client
        .account()
        .join_org(&code.code)
        .await
        .expect("join");
    let alone = phone
        .client
        .account()
        .create_org("Eve Solo")
        .await
        .expect("org");
    phone
        .client
        .contacts()
        .update_card(&praxis_core::protocol::contacts::ContactCard {
            display_name: "Dr Eve Marker".into(),
            work_phone: Some("+33320777666".into()),
            ..Default::default()
        })
        .await
        .expect("card");
    connect(&phone, &h1).await;
    connect(&phone, &h2).await;
    phone
        .client
        .appointments()
        .create(NewAppointment {
            title: "Eve visit marker".into(),
            patient_label: Some("EVE-PATIENT".into()),
            start: phone.clock.now(),
            duration_min: 30,
            address: Some("9 rue Eve-Marker".into()),
            point: None,
            geofence: None,
        })
        .await
        .expect("visit");
    for d in [&phone, &tablet, &laptop] {
        d.client.sync().sync_now("test").await.expect("sync");
    }
    assert_eq!(
        laptop
            .client
            .appointments()
            .list()
            .await
            .expect("list")
            .len(),
        1
    );

    // Erasure needs the password; a wrong one changes nothing.
    let wrong = phone
        .client
        .account()
        .delete_account("not-my-password")
        .await;
    assert!(
        matches!(
            wrong,
            Err(Error::Api {
                code: ErrorCode::InvalidCredentials,
                ..
            })
        ),
        "{wrong:?}"
    );
    // Without a fresh confirmation the server refuses outright.
    let r = s
        .send(
            "DELETE",
            "/v1/me",
            Some(
                &s.login(
                    eve["email"].as_str().expect("e"),
                    eve["password"].as_str().expect("p"),
                )
                .await
                .0,
            ),
            None,
        )
        .await;
    r.assert_problem(403, "reauth_required");

    phone
        .client
        .account()
        .delete_account(eve["password"].as_str().expect("p"))
        .await
        .expect("erase");
    assert_eq!(phone.client.account().state(), SessionState::SignedOut);
    assert!(
        phone
            .client
            .appointments()
            .list()
            .await
            .expect("list")
            .is_empty()
    );

    // The tablet is online: its next sync wipes it.
    let _ = tablet.client.sync().sync_now("test").await;
    assert_eq!(tablet.client.account().state(), SessionState::SignedOut);
    assert!(
        tablet
            .client
            .appointments()
            .list()
            .await
            .expect("list")
            .is_empty()
    );

    // The laptop comes back after a week offline: wiped too.
    s.clock.advance(Duration::days(7));
    laptop.clock.advance(Duration::days(7));
    let r = laptop.client.account().profile().await;
    assert!(matches!(r, Err(Error::AccountErased)), "{r:?}");
    assert_eq!(laptop.client.account().state(), SessionState::SignedOut);
    assert!(
        laptop
            .client
            .appointments()
            .list()
            .await
            .expect("list")
            .is_empty()
    );

    // Holders lose the card at their next sync.
    for h in [&h1, &h2] {
        h.clock.advance(Duration::days(7));
        h.client.sync().sync_now("test").await.expect("sync");
        assert!(
            h.client
                .contacts()
                .get(eve_id)
                .await
                .expect("get")
                .is_none()
        );
    }
    // The organisation keeps an admin; the solo one is gone.
    member.clock.advance(Duration::days(7));
    let orgs = member.client.account().orgs().await.expect("orgs");
    assert_eq!(orgs[0].org_id, org);
    assert_eq!(orgs[0].role, praxis_core::protocol::Role::Admin);
    assert_eq!(
        s.count(&format!("SELECT COUNT(*) FROM orgs WHERE id = '{alone}'"))
            .await,
        0
    );

    // No trace of Eve's data in the server's file after VACUUM, nor in any
    // of her devices' files.
    s.sqlite_vacuum();
    let server_bytes = s.sqlite_file_bytes().expect("sqlite");
    let markers = [
        eve["email"].as_str().expect("e"),
        eve["full_name"].as_str().expect("n"),
        "Dr Eve Marker",
        "+33320777666",
        "Eve visit marker",
        "EVE-PATIENT",
        "rue Eve-Marker",
    ];
    for m in markers {
        assert!(
            !contains(&server_bytes, m),
            "{m} still in the server database"
        );
    }
    for d in [&phone, &tablet, &laptop] {
        let mut bytes = Vec::new();
        for e in std::fs::read_dir(d.dir.path()).expect("dir") {
            bytes.extend(std::fs::read(e.expect("entry").path()).expect("read"));
        }
        for m in markers {
            assert!(!contains(&bytes, m), "{m} on a device");
        }
    }
    // The erasure itself is on record (ids only).
    let audit = s
        .state
        .store()
        .audit_of_user(eve_id, 100)
        .await
        .expect("audit");
    assert!(audit.iter().any(|e| e.event == "account_erased"));
}
