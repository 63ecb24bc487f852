//! Contact sharing end to end: a real server on loopback and three
//! practitioners' devices (one of them with a second device that is
//! offline for a while), each a real core client with an encrypted cache.

use std::sync::Arc;

use chrono::Duration;
use praxis_core::clock::ManualClock;
use praxis_core::protocol::ErrorCode;
use praxis_core::protocol::contacts::ContactCard;
use praxis_core::sync::SyncState;
use praxis_core::{Error, PraxisClient};
use praxis_tests::{Backend, TestServer, Transport, epoch, person};
use uuid::Uuid;

struct Device {
    client: Arc<PraxisClient>,
    clock: Arc<ManualClock>,
    dir: tempfile::TempDir,
    key: u8,
}

async fn open(
    url: &str,
    dir: &tempfile::TempDir,
    key: u8,
    clock: &Arc<ManualClock>,
) -> Arc<PraxisClient> {
    let mut config = praxis_tests::client_config(url, dir.path(), key);
    config.clock = clock.clone();
    PraxisClient::open(config).await.expect("open")
}

async fn device(s: &TestServer, email: &str, password: &str, key: u8) -> Device {
    let dir = tempfile::tempdir().expect("dir");
    let clock = Arc::new(ManualClock::new(epoch()));
    let client = open(s.base_url().expect("url"), &dir, key, &clock).await;
    client
        .account()
        .login(email, password)
        .await
        .expect("login");
    Device {
        client,
        clock,
        dir,
        key,
    }
}

/// Registers a practitioner and signs them in on a new device.
async fn practitioner(s: &TestServer, tag: &str, key: u8) -> (Device, Uuid, String, String) {
    let body = person(tag);
    let id: Uuid = s.register(&body).await.parse().expect("id");
    let (e, p) = (
        body["email"].as_str().expect("e").to_owned(),
        body["password"].as_str().expect("p").to_owned(),
    );
    (device(s, &e, &p, key).await, id, e, p)
}

async fn sync(d: &Device) {
    let status = d.client.sync().sync_now("test").await.expect("sync");
    assert_eq!(status.state, SyncState::Idle, "{status:?}");
}

fn fields(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| (*s).to_owned()).collect()
}

fn alice_card() -> ContactCard {
    ContactCard {
        display_name: "Dr Alice Vandenberghe".into(),
        profession: Some("physician".into()),
        specialty: Some("Endocrinologie-SECRET".into()),
        work_phone: Some("+33320554433".into()),
        work_email: Some("alice.vdb@cabinet-example.org".into()),
        organisation: Some("Cabinet Vauban".into()),
        clinic_address: Some("18 boulevard Vauban, Lille".into()),
        languages: vec!["fr".into(), "nl".into()],
    }
}

fn cache_bytes(d: &Device) -> Vec<u8> {
    let mut bytes = Vec::new();
    for entry in std::fs::read_dir(d.dir.path()).expect("dir") {
        bytes.extend(std::fs::read(entry.expect("entry").path()).expect("read"));
    }
    bytes
}

fn contains(hay: &[u8], needle: &str) -> bool {
    hay.windows(needle.len()).any(|w| w == needle.as_bytes()) || {
        let utf16: Vec<u8> = needle.encode_utf16().flat_map(u16::to_le_bytes).collect();
        hay.windows(utf16.len()).any(|w| w == utf16.as_slice())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_practitioners_share_edit_forward_and_revoke() {
    let s = TestServer::start(Backend::Sqlite, Transport::Http)
        .await
        .expect("server");
    let (alice, alice_id, _, _) = practitioner(&s, "alice", 1).await;
    let (bruno, bruno_id, be, bp) = practitioner(&s, "bruno", 2).await;
    let (chloe, chloe_id, _, _) = practitioner(&s, "chloe", 3).await;
    let bruno_tablet = device(&s, &be, &bp, 4).await;

    alice
        .client
        .contacts()
        .update_card(&alice_card())
        .await
        .expect("card");
    bruno
        .client
        .contacts()
        .update_card(&ContactCard {
            display_name: "Bruno Lefebvre".into(),
            work_phone: Some("+33320998877".into()),
            work_email: Some("bruno@soins-example.org".into()),
            ..ContactCard::default()
        })
        .await
        .expect("card");
    let invitation = alice
        .client
        .contacts()
        .invite(
            fields(&["display_name", "work_phone", "organisation"]),
            false,
            None,
        )
        .await
        .expect("invite");
    let bc = bruno.client.contacts();
    let preview = bc.preview(&invitation.code).await.expect("preview");
    assert_eq!(
        preview.display_name.as_deref(),
        Some("Dr Alice Vandenberghe")
    );
    assert_eq!(preview.inviter_id, alice_id);
    // One's own invitation cannot be accepted.
    let own = alice
        .client
        .contacts()
        .accept(&invitation.code, fields(&["display_name"]), false)
        .await;
    assert!(
        matches!(
            own,
            Err(Error::Api {
                code: ErrorCode::OwnInvitation,
                ..
            })
        ),
        "{own:?}"
    );
    let owner = bc
        .accept(
            &invitation.code,
            fields(&["display_name", "work_email"]),
            false,
        )
        .await
        .expect("accept");
    assert_eq!(owner, alice_id);

    // Bruno's phone sees only what Alice chose.
    let a = bc.get(alice_id).await.expect("get").expect("alice's card");
    assert_eq!(a.card.display_name, "Dr Alice Vandenberghe");
    assert_eq!(a.card.work_phone.as_deref(), Some("+33320554433"));
    assert_eq!(a.card.organisation.as_deref(), Some("Cabinet Vauban"));
    assert_eq!(a.card.specialty, None);
    assert_eq!(a.card.work_email, None);
    assert_eq!(a.card.clinic_address, None);
    sync(&bruno_tablet).await;
    assert_eq!(
        bruno_tablet
            .client
            .contacts()
            .list()
            .await
            .expect("list")
            .len(),
        1
    );
    sync(&alice).await;
    let b = alice
        .client
        .contacts()
        .get(bruno_id)
        .await
        .expect("get")
        .expect("bruno's card");
    assert!(b.card.work_email.is_some() && b.card.work_phone.is_none());

    // An edit reaches every holder's device.
    let mut edited = alice_card();
    edited.work_phone = Some("+33320000111".into());
    alice
        .client
        .contacts()
        .update_card(&edited)
        .await
        .expect("edit");
    sync(&bruno).await;
    assert_eq!(
        bc.get(alice_id)
            .await
            .expect("get")
            .expect("card")
            .card
            .work_phone
            .as_deref(),
        Some("+33320000111")
    );

    // Chloe: connected with Alice (forwarding allowed) and with Bruno.
    let inv = alice
        .client
        .contacts()
        .invite(fields(&["display_name", "work_email"]), true, Some(24))
        .await
        .expect("invite");
    chloe
        .client
        .contacts()
        .accept(&inv.code, fields(&["display_name"]), false)
        .await
        .expect("accept");
    let inv = bruno
        .client
        .contacts()
        .invite(fields(&["display_name"]), false, None)
        .await
        .expect("invite");
    chloe
        .client
        .contacts()
        .accept(&inv.code, fields(&["display_name"]), false)
        .await
        .expect("accept");
    // Bruno may not forward Alice's card; Chloe may.
    let refused = bc.forward(alice_id, chloe_id).await;
    assert!(
        matches!(refused, Err(Error::Api { status: 403, .. })),
        "{refused:?}"
    );
    sync(&bruno).await;
    chloe
        .client
        .contacts()
        .forward(alice_id, bruno_id)
        .await
        .expect("forward");
    let holders = alice.client.contacts().holders().await.expect("holders");
    assert_eq!(holders.len(), 2, "Bruno and Chloe");

    // Alice takes her card back from Bruno while his tablet is offline.
    alice
        .client
        .contacts()
        .revoke_holder(bruno_id)
        .await
        .expect("revoke");
    sync(&bruno).await;
    assert!(
        bc.get(alice_id).await.expect("get").is_none(),
        "gone from the phone"
    );
    assert!(
        bruno_tablet
            .client
            .contacts()
            .get(alice_id)
            .await
            .expect("get")
            .is_some()
    );
    sync(&bruno_tablet).await;
    assert!(
        bruno_tablet
            .client
            .contacts()
            .get(alice_id)
            .await
            .expect("get")
            .is_none(),
        "gone from the offline tablet at its next sync"
    );

    // Chloe revokes her connection with Bruno: both cards go both ways.
    chloe
        .client
        .contacts()
        .revoke(bruno_id)
        .await
        .expect("revoke");
    assert!(
        chloe
            .client
            .contacts()
            .get(bruno_id)
            .await
            .expect("get")
            .is_none()
    );
    sync(&bruno).await;
    assert!(bc.get(chloe_id).await.expect("get").is_none());

    // Nothing of Alice's card is readable in Bruno's cache files.
    for marker in [
        "Vandenberghe",
        "+33320554433",
        "+33320000111",
        "Cabinet Vauban",
        "Endocrinologie",
        "alice.vdb@",
        "boulevard Vauban",
    ] {
        assert!(
            !contains(&cache_bytes(&bruno), marker),
            "{marker} in Bruno's phone cache"
        );
        assert!(
            !contains(&cache_bytes(&bruno_tablet), marker),
            "{marker} in Bruno's tablet cache"
        );
    }
}

fn tamper(code: &str) -> String {
    let mut parts: Vec<String> = code.split('.').map(str::to_owned).collect();
    let mut p: Vec<char> = parts[1].chars().collect();
    p[4] = if p[4] == 'A' { 'B' } else { 'A' };
    parts[1] = p.into_iter().collect();
    parts.join(".")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_codes_are_refused_on_the_device_before_any_request() {
    let s = TestServer::start(Backend::Sqlite, Transport::Http)
        .await
        .expect("server");
    let (alice, _, _, _) = practitioner(&s, "alice", 5).await;
    let (mut bruno, _, _, _) = practitioner(&s, "bruno", 6).await;
    let code = alice
        .client
        .contacts()
        .invite(fields(&["display_name"]), false, Some(1))
        .await
        .expect("invite")
        .code;
    // Bruno's device learns the server's key once (verifying a good code).
    bruno
        .client
        .contacts()
        .verify(&code)
        .await
        .expect("genuine");
    // Now offline: refusals come from the device itself, not the network.
    drop(std::mem::replace(
        &mut bruno.client,
        open("http://127.0.0.1:9", &bruno.dir, bruno.key, &bruno.clock).await,
    ));
    let contacts = bruno.client.contacts();
    let reason = |r: praxis_core::Result<_>| match r {
        Err(Error::InvalidInput {
            field: "code",
            reason,
        }) => reason,
        other => panic!("expected a refused code, got {other:?}"),
    };
    assert_eq!(
        reason(contacts.preview(&tamper(&code)).await.map(drop)),
        "tampered_code"
    );
    assert_eq!(
        reason(
            contacts
                .accept("PXC1.abc", fields(&["display_name"]), false)
                .await
                .map(drop)
        ),
        "malformed_code"
    );
    assert_eq!(
        reason(
            contacts
                .verify("a QR code from a cereal box")
                .await
                .map(drop)
        ),
        "malformed_code"
    );
    // A genuine code still passes the device check (then needs the network).
    assert!(matches!(
        contacts.preview(&code).await,
        Err(Error::Network(_))
    ));
    bruno.clock.advance(Duration::hours(2));
    assert_eq!(
        reason(contacts.preview(&code).await.map(drop)),
        "invitation_expired"
    );
    assert!(matches!(
        contacts.accept(&code, vec![], false).await,
        Err(Error::InvalidInput {
            field: "fields",
            ..
        })
    ));
}
