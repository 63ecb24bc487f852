//! Encryption at rest, verified by reading bytes: after a full scenario
//! (accounts, a profile edit, an organisation, consent, an appointment with
//! an address and a point, a check-in, live sharing, contact cards
//! exchanged) the server's SQLite file holds none of the emails, names,
//! phones, addresses or coordinates in clear; and after erasure, a copy of
//! the database taken before it (a backup) no longer opens that user's
//! rows.

use std::sync::Arc;

use chrono::Duration;
use praxis_core::clock::{Clock as _, ManualClock};
use praxis_core::protocol::contacts::ContactCard;
use praxis_core::protocol::location::Precision;
use praxis_core::protocol::privacy::{Purpose, UpdateLocationPolicyRequest};
use praxis_core::protocol::{RegisterRequest, UpdateProfileRequest};
use praxis_core::{Fix, FixSource, GeoPoint, NewAppointment, PraxisClient};
use praxis_server::clock::Clock as _;
use praxis_server::store::{Store, Vault, sqlite::SqliteDb};
use praxis_tests::{Backend, TestServer, Transport, epoch, person};
use serde_json::Value;

struct Device {
    client: Arc<PraxisClient>,
    clock: Arc<ManualClock>,
    _dir: tempfile::TempDir,
    body: Value,
}

async fn device(s: &TestServer, tag: &str, key: u8) -> Device {
    let dir = tempfile::tempdir().expect("dir");
    let clock = Arc::new(ManualClock::new(epoch()));
    let mut config = praxis_tests::client_config(s.base_url().expect("url"), dir.path(), key);
    config.clock = clock.clone();
    let client = PraxisClient::open(config).await.expect("open");
    let body = person(tag);
    let req: RegisterRequest = serde_json::from_value(body.clone()).expect("body");
    client.account().register(&req).await.expect("register");
    praxis_tests::sign_in(&client, &body).await;
    Device {
        client,
        clock,
        _dir: dir,
        body,
    }
}

fn fix(d: &Device, lat: f64, lon: f64) -> Fix {
    Fix {
        lat,
        lon,
        accuracy_m: 8.0,
        at: d.clock.now(),
        source: FixSource::Gps,
    }
}

fn contains(hay: &[u8], needle: &str) -> bool {
    hay.windows(needle.len()).any(|w| w == needle.as_bytes())
}

const CLINIC: (f64, f64) = (50.637_213, 3.063_519);
const SHARED: (f64, f64) = (50.641_187, 3.057_934);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_database_holds_no_personal_data_in_clear() {
    let s = TestServer::start(Backend::Sqlite, Transport::Http)
        .await
        .expect("server");
    let admin = device(&s, "atrestadmin", 1).await;
    let nurse = device(&s, "atrestnurse", 2).await;
    let account = admin.client.account();
    let org = account
        .create_org("Soins du Vieux-Lille")
        .await
        .expect("org");
    let code = account.create_join_code(org).await.expect("code");
    nurse
        .client
        .account()
        .join_org(&code.code)
        .await
        .expect("join");
    account
        .update_location_policy(
            org,
            &UpdateLocationPolicyRequest {
                location_visits: Some(true),
                location_sharing: Some(true),
                max_precision: Some(Precision::Precise),
                ..Default::default()
            },
        )
        .await
        .expect("policy");
    nurse
        .client
        .account()
        .update_profile(&UpdateProfileRequest {
            phone: Some("+33699887766".into()),
            ..Default::default()
        })
        .await
        .expect("profile");

    // Consent, an appointment at an address, a check-in there, a share.
    let consents = nurse.client.consents();
    nurse.client.sync().sync_now("test").await.expect("sync");
    consents
        .grant(Purpose::LocationVisits)
        .await
        .expect("grant");
    consents
        .grant(Purpose::LocationSharing)
        .await
        .expect("grant");
    let loc = nurse.client.location();
    loc.set_precision(Precision::Precise)
        .await
        .expect("precision");
    let appointment = nurse
        .client
        .appointments()
        .create(NewAppointment {
            title: "Pansement Madame Quenouille".into(),
            patient_label: Some("Quenouille-204".into()),
            start: nurse.clock.now() + Duration::hours(1),
            duration_min: 30,
            address: Some("17 rue Esquermoise, Lille".into()),
            point: Some(GeoPoint {
                lat: CLINIC.0,
                lon: CLINIC.1,
            }),
            geofence: None,
        })
        .await
        .expect("appointment");
    nurse.client.sync().sync_now("test").await.expect("sync");
    loc.check_in(appointment, fix(&nurse, CLINIC.0, CLINIC.1))
        .await
        .expect("check-in");
    let admin_id = account.user_id().expect("id");
    loc.start_share(vec![admin_id], 60).await.expect("share");
    loc.share_fix(fix(&nurse, SHARED.0, SHARED.1))
        .await
        .expect("fix");

    // Cards with every field, exchanged both ways.
    let card = ContactCard {
        display_name: "Dr Capucine Vermeille".into(),
        profession: Some("nurse".into()),
        specialty: Some("Stomatherapie".into()),
        work_phone: Some("+33320456789".into()),
        work_email: Some("capucine.vermeille@soins-example.org".into()),
        organisation: Some("Cabinet Vermeille".into()),
        clinic_address: Some("5 place Rihour, Lille".into()),
        languages: vec!["fr".into()],
    };
    nurse
        .client
        .contacts()
        .update_card(&card)
        .await
        .expect("card");
    let invite = nurse
        .client
        .contacts()
        .invite(
            praxis_core::protocol::contacts::FIELDS
                .iter()
                .map(|f| (*f).to_owned())
                .collect(),
            true,
            None,
        )
        .await
        .expect("invite");
    admin
        .client
        .contacts()
        .accept(&invite.code, vec!["display_name".into()], false)
        .await
        .expect("accept");
    for d in [&admin, &nurse] {
        d.client.sync().sync_now("test").await.expect("sync");
    }
    assert_eq!(
        admin
            .client
            .location()
            .shared_with_me()
            .await
            .expect("shared")[0]
            .position
            .as_ref()
            .map(|p| p.lat),
        Some(SHARED.0),
        "the scenario really stored a position"
    );

    s.sqlite_vacuum();
    let bytes = s.sqlite_file_bytes().expect("sqlite");
    let mut markers: Vec<String> = Vec::new();
    for d in [&admin, &nurse] {
        for k in ["email", "full_name"] {
            markers.push(d.body[k].as_str().expect("marker").to_owned());
        }
    }
    markers.extend(
        [
            "+33612345678",
            "+33699887766",
            "1985-04-12",
            "Quenouille",
            "Esquermoise",
            "Capucine",
            "Vermeille",
            "Stomatherapie",
            "Rihour",
            "soins-example.org",
            "+33320456789",
            "50.637",
            "3.0635",
            "50.641",
            "3.0579",
        ]
        .map(str::to_owned),
    );
    // The check: each marker is looked for in clear; the first assertion
    // proves the scan reads the real file (the org name is stored in clear
    // by design: organisation names are not personal data).
    assert!(
        contains(&bytes, "Soins du Vieux-Lille"),
        "scan reads the file"
    );
    for m in &markers {
        assert!(!contains(&bytes, m), "{m} in clear in the server database");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_old_backup_does_not_open_an_erased_users_rows() {
    let s = TestServer::start(Backend::Sqlite, Transport::Oneshot)
        .await
        .expect("server");
    let u = s.user("backedup").await;
    let id: uuid::Uuid = u.id.parse().expect("uuid");
    s.sqlite_vacuum();

    // The backup: a byte copy of the database before the erasure. The
    // wrapped data keys are backed up apart (README): this copy leaves
    // them out, as the procedure says.
    let backup = tempfile::tempdir().expect("dir");
    let backup_path = backup.path().join("praxis.sqlite3");
    std::fs::write(&backup_path, s.sqlite_file_bytes().expect("bytes")).expect("copy");

    // Before erasure, a restore of data plus the live key table reads the
    // account back...
    let before = restore_with_live_keys(&s, &backup_path).await;
    assert!(before.user(id).await.expect("read").is_some());

    s.state
        .store()
        .erase_user(id, &s.state.store().throttle_key(&u.email), s.clock.now())
        .await
        .expect("erase");

    // ...after it, the same restore cannot: the key is gone.
    let after = restore_with_live_keys(&s, &backup_path).await;
    assert!(
        after.user(id).await.is_err(),
        "the erased user's profile no longer opens"
    );
}

/// Opens the backup file with the live `user_keys` table copied over it
/// (the restore procedure: data from the backup, keys from the key store).
async fn restore_with_live_keys(s: &TestServer, backup: &std::path::Path) -> Store {
    let dir = tempfile::tempdir().expect("dir").keep();
    let path = dir.join("praxis.sqlite3");
    std::fs::copy(backup, &path).expect("copy");
    s.sqlite_vacuum(); // the WAL checkpointed: the file is the live state
    let live = s.sqlite_file_bytes().expect("live");
    let live_path = dir.join("live.sqlite3");
    std::fs::write(&live_path, live).expect("live copy");
    let c = rusqlite::Connection::open(&path).expect("open");
    c.execute_batch(&format!(
        "ATTACH DATABASE '{}' AS live; DELETE FROM user_keys; INSERT INTO user_keys SELECT * FROM live.user_keys; DETACH DATABASE live;",
        live_path.display()
    ))
    .expect("restore keys");
    drop(c);
    let db = SqliteDb::open(&path).expect("open backup");
    Store::open(Arc::new(db), Vault::new(s.master_keys()), s.clock.now())
        .await
        .expect("open store")
}

/// A database written before encryption at rest (migrations 1 to 6, rows
/// in clear) is sealed in place at the first start with a master key:
/// nothing is lost, nothing stays in clear.
#[tokio::test]
async fn a_database_from_before_encryption_is_sealed_in_place() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("praxis.sqlite3");
    let id = uuid::Uuid::new_v4();
    {
        let c = rusqlite::Connection::open(&path).expect("open");
        c.execute_batch(
            "CREATE TABLE schema_migrations (version BIGINT PRIMARY KEY, applied_at BIGINT NOT NULL);",
        )
        .expect("table");
        for (version, ddl) in &praxis_server::store::schema::MIGRATIONS[..6] {
            c.execute_batch(ddl).expect("old migration");
            c.execute(
                "INSERT INTO schema_migrations VALUES (?1, 0)",
                [i64::from(*version)],
            )
            .expect("record");
        }
        c.execute(
            "INSERT INTO users (id, email, password_hash, full_name, phone, country, language, profession, date_of_birth, created_at, updated_at) VALUES (?1, 'legacy.ana@clinic-example.org', 'hash', 'Ana Legacy', '+33611223344', 'FR', 'fr-FR', 'nurse', '1980-02-03', 0, 0)",
            [id.to_string()],
        )
        .expect("user");
        c.execute(
            "INSERT INTO sync_records VALUES ('appointments', 'a1', ?1, 1, '{\"address\":{\"v\":\"9 rue Legacyplatz\",\"t\":\"0000000000000:0000:d\"}}', NULL, 0)",
            [format!("u:{id}")],
        )
        .expect("record");
        c.execute(
            "INSERT INTO contact_cards VALUES (?1, '{\"display_name\":\"Ana Legacy Card\"}', 0)",
            [id.to_string()],
        )
        .expect("card");
        c.execute(
            "INSERT INTO server_keys VALUES ('old', 'invitations', x'00112233', 0)",
            [],
        )
        .expect("key");
    }
    let store = Store::open(
        Arc::new(SqliteDb::open(&path).expect("open")),
        Vault::new(praxis_server::store::MasterKeys::random()),
        epoch(),
    )
    .await
    .expect("migrate");
    let user = store.user(id).await.expect("read").expect("kept");
    assert_eq!(
        (user.full_name.as_str(), user.phone.as_str()),
        ("Ana Legacy", "+33611223344")
    );
    let creds = store
        .credentials("legacy.ana@clinic-example.org")
        .await
        .expect("lookup")
        .expect("found by its blind index");
    assert_eq!(creds.user_id, id);
    let page = store.pull(&format!("u:{id}"), 0, 10).await.expect("pull");
    assert_eq!(page.changes[0].fields["address"].v, "9 rue Legacyplatz");
    let card = store.card(id).await.expect("card").expect("kept");
    assert_eq!(card.display_name, "Ana Legacy Card");
    drop(store);
    let c = rusqlite::Connection::open(&path).expect("open");
    c.execute_batch("PRAGMA wal_checkpoint(TRUNCATE); VACUUM;")
        .expect("vacuum");
    drop(c);
    let bytes = std::fs::read(&path).expect("bytes");
    for m in [
        "legacy.ana",
        "Ana Legacy",
        "+33611223344",
        "Legacyplatz",
        "1980-02-03",
    ] {
        assert!(
            !contains(&bytes, m),
            "{m} still in clear after the migration"
        );
    }
}
