//! Marketing and analytics consent that means something: the operator's
//! audience for a purpose is exactly the accounts whose latest consent
//! grants the version published now (real devices give and withdraw it),
//! and nobody else, ever.

use std::sync::Arc;

use praxis_core::PraxisClient;
use praxis_core::protocol::privacy::Purpose;
use praxis_server::clock::Clock as _;
use praxis_server::operator::{Reason, consent_audience};
use praxis_tests::{Backend, TestServer, Transport, client_config, person, sign_in};
use serde_json::Value;
use uuid::Uuid;

struct Device {
    client: Arc<PraxisClient>,
    id: Uuid,
    _dir: tempfile::TempDir,
}

async fn device(s: &TestServer, tag: &str, key: u8) -> Device {
    let p = person(tag);
    let id: Uuid = s.register(&p).await.parse().expect("id");
    let dir = tempfile::tempdir().expect("dir");
    let client = PraxisClient::open(client_config(s.base_url().expect("url"), dir.path(), key))
        .await
        .expect("open");
    sign_in(&client, &p).await;
    Device {
        client,
        id,
        _dir: dir,
    }
}

impl Device {
    async fn sync(&self) {
        self.client.sync().sync_now("test").await.expect("sync");
    }

    async fn consent(&self, granted: bool) {
        self.sync().await; // learn the published version first
        let c = self.client.consents();
        if granted {
            c.grant(Purpose::Marketing).await.expect("grant");
        } else {
            c.withdraw(Purpose::Marketing).await.expect("withdraw");
        }
        self.sync().await;
    }
}

async fn verify(s: &TestServer, id: Uuid) {
    let mut tx = s.state.store().db().begin().await.expect("begin");
    tx.execute(
        "UPDATE users SET email_verified_at = ?2 WHERE id = ?1",
        vec![id.into(), s.clock.now().timestamp_millis().into()],
    )
    .await
    .expect("verify");
    tx.commit().await.expect("commit");
}

async fn audit_events(s: &TestServer, id: Uuid) -> Vec<String> {
    s.state
        .store()
        .audit_of_user(id, 1000)
        .await
        .expect("audit")
        .into_iter()
        .map(|e| e.event)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_marketing_audience_is_exactly_the_current_consenters() {
    for backend in [Backend::Sqlite, Backend::Postgres] {
        if let Some(s) = TestServer::start(backend, Transport::Http).await {
            audience(s).await;
        }
    }
}

async fn audience(s: TestServer) {
    let yes = device(&s, "mkt-yes", 1).await;
    let unverified = device(&s, "mkt-unverified", 2).await;
    let withdrew = device(&s, "mkt-withdrew", 3).await;
    let older = device(&s, "mkt-older", 4).await;
    let never = device(&s, "mkt-never", 5).await;
    let restricted = device(&s, "mkt-restricted", 6).await;
    for d in [&yes, &withdrew, &older, &never, &restricted] {
        verify(&s, d.id).await;
    }
    for d in [&yes, &unverified, &withdrew, &older, &restricted] {
        d.consent(true).await;
    }
    never.sync().await;
    let store = s.state.store();
    let now = s.clock.now();
    let list = |purpose| consent_audience(store, purpose, Reason::Campaign, Some("NEWS-1"), now);
    let ids = |l: &[praxis_server::operator::AudienceMember]| {
        let mut v: Vec<Uuid> = l.iter().map(|m| m.id).collect();
        v.sort();
        v
    };
    let sorted = |mut v: Vec<Uuid>| {
        v.sort();
        v
    };
    assert_eq!(
        ids(&list(Purpose::Marketing).await.expect("list")),
        sorted(vec![
            yes.id,
            unverified.id,
            withdrew.id,
            older.id,
            restricted.id
        ]),
        "every current grant, before anything changes"
    );

    // A new marketing notice: earlier consent no longer counts until given
    // again; one user withdraws, one is restricted.
    assert!(
        store
            .publish_policy_version(Purpose::Marketing, 2, now)
            .await
            .expect("publish")
    );
    for d in [&yes, &unverified, &withdrew, &restricted] {
        d.consent(true).await;
    }
    withdrew.consent(false).await;
    older.sync().await;
    store
        .set_restricted(restricted.id, true, now)
        .await
        .expect("restrict");

    let listed = list(Purpose::Marketing).await.expect("list");
    assert_eq!(ids(&listed), sorted(vec![yes.id, unverified.id]));
    let email_of = |id: Uuid| listed.iter().find(|m| m.id == id).expect("listed");
    let yes_email = store.user(yes.id).await.expect("user").expect("some").email;
    assert_eq!(
        email_of(yes.id).verified_email.as_deref(),
        Some(&*yes_email)
    );
    assert_eq!(
        email_of(unverified.id).verified_email,
        None,
        "an unverified address is not handed out"
    );
    assert!(
        !format!("{listed:?}").contains(&yes_email),
        "no address in Debug"
    );
    // Nobody consented to analytics.
    assert!(list(Purpose::Analytics).await.expect("list").is_empty());

    // The listed users can see it in their audit log; the others cannot.
    assert!(
        audit_events(&s, yes.id)
            .await
            .contains(&"operator_listed_for_purpose".to_owned())
    );
    let entry: Value = store
        .audit_of_user(yes.id, 1)
        .await
        .expect("audit")
        .first()
        .map(|e| e.details.clone())
        .expect("entry");
    assert_eq!(entry["purpose"], "marketing");
    assert_eq!(entry["case"], "NEWS-1");
    let before = audit_events(&s, never.id).await;
    assert!(!before.contains(&"operator_listed_for_purpose".to_owned()));
}

/// Analytics run only while the user consents: dropped before consent,
/// counted while it holds, dropped again from the next call after a
/// withdrawal (what was counted and not drained is deleted with it), and
/// an event carrying a part of the user's identity is refused outright.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn analytics_events_are_dropped_while_the_gate_is_closed() {
    use praxis_core::AnalyticsValue::{Count, Flag, Token};
    let s = TestServer::start(Backend::Sqlite, Transport::Http)
        .await
        .expect("sqlite");
    let mut p = person("analytics");
    p["full_name"] = "Jeanne Martin".into();
    s.register(&p).await;
    let dir = tempfile::tempdir().expect("dir");
    let client = PraxisClient::open(client_config(s.base_url().expect("url"), dir.path(), 9))
        .await
        .expect("open");
    sign_in(&client, &p).await;
    client.sync().sync_now("test").await.expect("sync");
    let a = client.analytics();
    let props = |screen: &str| {
        [
            ("screen".to_owned(), Token(screen.to_owned())),
            ("items".to_owned(), Count(3)),
            ("offline".to_owned(), Flag(false)),
        ]
        .into_iter()
        .collect::<std::collections::BTreeMap<_, _>>()
    };
    assert!(
        !a.record("screen_viewed", props("schedule"))
            .await
            .expect("record")
    );
    assert!(
        a.drain().await.expect("drain").is_empty(),
        "nothing before consent"
    );

    client
        .consents()
        .grant(Purpose::Analytics)
        .await
        .expect("grant");
    for _ in 0..3 {
        assert!(
            a.record("screen_viewed", props("schedule"))
                .await
                .expect("record")
        );
    }
    assert!(
        a.record("screen_viewed", props("contacts"))
            .await
            .expect("record")
    );
    // Personal data is refused, gate open or not; nothing is counted.
    let e = a
        .record("screen_viewed", props("jeanne"))
        .await
        .expect_err("a name");
    assert!(format!("{e:?}").contains("personal_data"), "{e:?}");
    let e = a
        .record("sent_to_martin", props("x"))
        .await
        .expect_err("a name");
    assert!(format!("{e:?}").contains("personal_data"), "{e:?}");
    assert!(a.record("Sent to Jeanne", props("x")).await.is_err());

    let drained = a.drain().await.expect("drain");
    let counts: Vec<(praxis_core::AnalyticsValue, u64)> = drained
        .iter()
        .map(|c| (c.props["screen"].clone(), c.count))
        .collect();
    assert_eq!(
        counts,
        vec![(Token("contacts".into()), 1), (Token("schedule".into()), 3)]
    );
    assert!(drained.iter().all(|c| c.event == "screen_viewed"));
    assert!(a.drain().await.expect("drain").is_empty(), "taken once");

    // Counted, not drained, then withdrawn: deleted; the next call drops.
    assert!(
        a.record("screen_viewed", props("schedule"))
            .await
            .expect("record")
    );
    client
        .consents()
        .withdraw(Purpose::Analytics)
        .await
        .expect("withdraw");
    assert!(
        !a.record("screen_viewed", props("schedule"))
            .await
            .expect("record")
    );
    assert!(a.drain().await.expect("drain").is_empty());
    // Consent given again: what was counted before the withdrawal is gone.
    client
        .consents()
        .grant(Purpose::Analytics)
        .await
        .expect("grant");
    assert!(
        a.drain().await.expect("drain").is_empty(),
        "deleted at withdrawal"
    );
}
