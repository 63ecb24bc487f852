//! The operator's commands as processes (`praxis-server admin …`), on
//! SQLite and, when `PRAXIS_TEST_DATABASE_URL` is set, PostgreSQL: each
//! acts on one account found by id or email, leaves an audit entry with
//! the reason, and nothing runs without the master key.

use std::process::{Command, Output};

use clap::Parser as _;
use praxis_server::config::Config;
use praxis_server::store::{MasterKeys, NewUser, Store, Vault};
use uuid::Uuid;

/// Where the database is: a SQLite directory, or a PostgreSQL URL whose
/// connections use a schema of their own.
struct Db {
    dir: tempfile::TempDir,
    url: Option<String>,
}

impl Db {
    fn args(&self) -> Vec<String> {
        let mut a = vec![
            "--data-dir".to_owned(),
            self.dir.path().to_str().expect("utf-8").to_owned(),
        ];
        if let Some(u) = &self.url {
            a.extend(["--database-url".to_owned(), u.clone()]);
        }
        a
    }

    async fn store(&self, key: &str) -> Store {
        let mut argv = vec!["praxis-server".to_owned()];
        argv.extend(self.args());
        let config = Config::try_parse_from(argv).expect("config");
        let db = config.open_db().await.expect("db");
        Store::open(
            db,
            Vault::new(MasterKeys::parse(key).expect("key")),
            chrono::Utc::now(),
        )
        .await
        .expect("store")
    }

    fn admin(&self, args: &[&str], key: Option<&str>) -> Output {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_praxis-server"));
        cmd.args(self.args())
            .arg("admin")
            .args(args)
            .env_remove("PRAXIS_MASTER_KEY")
            .env_remove("PRAXIS_MASTER_KEY_FILE")
            .env_remove("DATABASE_URL")
            .env_remove("PRAXIS_SMTP_URL");
        if let Some(k) = key {
            cmd.env("PRAXIS_MASTER_KEY", k);
        }
        cmd.output().expect("run praxis-server")
    }
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

async fn pg_db() -> Option<(Db, tokio_postgres::Client, String)> {
    let Ok(url) = std::env::var("PRAXIS_TEST_DATABASE_URL") else {
        eprintln!("SKIPPED: PostgreSQL operator test (PRAXIS_TEST_DATABASE_URL is not set)");
        return None;
    };
    let schema = format!("operator_{}", Uuid::new_v4().simple());
    let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .expect("postgres");
    tokio::spawn(conn);
    client
        .batch_execute(&format!("CREATE SCHEMA {schema}"))
        .await
        .expect("schema");
    let sep = if url.contains('?') { '&' } else { '?' };
    let db = Db {
        dir: tempfile::tempdir().expect("dir"),
        url: Some(format!("{url}{sep}options=-csearch_path%3D{schema}")),
    };
    Some((db, client, schema))
}

async fn scenario(db: Db) {
    let key = MasterKeys::generate_line("k1");
    let store = db.store(&key).await;
    let now = chrono::Utc::now();
    let mut ids = Vec::new();
    for (tag, email) in [
        ("minor", "young.marker@clinic-example.org"),
        ("adult", "adult.marker@clinic-example.org"),
    ] {
        let id = Uuid::new_v4();
        store
            .create_user(
                NewUser {
                    id,
                    email: email.to_owned(),
                    password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".to_owned(),
                    full_name: format!("Operator {tag} Marker"),
                    phone: "+33612345678".to_owned(),
                    country: "FR".to_owned(),
                    language: "fr-FR".to_owned(),
                    profession: "nurse".to_owned(),
                    date_of_birth: chrono::NaiveDate::from_ymd_opt(1990, 1, 2).expect("date"),
                },
                now,
            )
            .await
            .expect("user");
        ids.push(id);
    }
    let (minor, adult) = (ids[0], ids[1]);

    // Nothing runs without the master key.
    for args in [
        vec!["list-users"],
        vec![
            "erase-user",
            "--user",
            "young.marker@clinic-example.org",
            "--reason",
            "minor",
            "--yes",
        ],
    ] {
        let o = db.admin(&args, None);
        assert!(!o.status.success(), "{args:?} ran without a key");
        assert!(text(&o).contains("no master key"), "{}", text(&o));
    }
    assert!(store.user(minor).await.expect("read").is_some());

    // Ids and creation dates only.
    let o = db.admin(&["list-users"], Some(&key));
    assert!(o.status.success(), "{}", text(&o));
    let out = text(&o);
    assert!(out.contains(&minor.to_string()) && out.contains(&adult.to_string()));
    assert!(!out.contains("marker"), "{out}");

    // A consent audience only for marketing or analytics; nobody here
    // consented, so nobody is listed.
    let o = db.admin(
        &["consent-audience", "--purpose", "location_visits"],
        Some(&key),
    );
    assert!(!o.status.success());
    assert!(text(&o).contains("marketing or analytics"), "{}", text(&o));
    let o = db.admin(
        &[
            "consent-audience",
            "--purpose",
            "marketing",
            "--case",
            "NEWS-1",
        ],
        Some(&key),
    );
    assert!(o.status.success(), "{}", text(&o));
    assert!(o.stdout.is_empty(), "{}", text(&o));
    assert!(
        text(&o).contains("0 accounts consent to marketing"),
        "{}",
        text(&o)
    );

    // Export to a new file, by email, with a case reference.
    let file = db.dir.path().join("adult-export.json");
    let path = file.to_str().expect("utf-8");
    let o = db.admin(
        &[
            "export-user",
            "--user",
            "Adult.Marker@clinic-example.org",
            "--out",
            path,
            "--reason",
            "request",
            "--case",
            "TICKET-42",
        ],
        Some(&key),
    );
    assert!(o.status.success(), "{}", text(&o));
    let doc: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&file).expect("export")).expect("json");
    assert_eq!(doc["format"], "praxis-export/1");
    assert_eq!(doc["user_id"], adult.to_string());
    assert_eq!(doc["account"]["full_name"], "Operator adult Marker");
    // An existing file is not overwritten; a bad case reference is refused.
    let o = db.admin(
        &[
            "export-user",
            "--user",
            &adult.to_string(),
            "--out",
            path,
            "--reason",
            "request",
        ],
        Some(&key),
    );
    assert!(!o.status.success());
    let o = db.admin(
        &[
            "export-user",
            "--user",
            &adult.to_string(),
            "--out",
            "/tmp/x.json",
            "--reason",
            "request",
            "--case",
            "Jeanne Martin",
        ],
        Some(&key),
    );
    assert!(!o.status.success());
    assert!(text(&o).contains("no personal data"), "{}", text(&o));

    // Restriction on and off, by id.
    for (state, expected) in [("on", true), ("off", false)] {
        let o = db.admin(
            &[
                "restrict-user",
                "--user",
                &adult.to_string(),
                state,
                "--reason",
                "legal",
            ],
            Some(&key),
        );
        assert!(o.status.success(), "{}", text(&o));
        assert_eq!(store.is_restricted(adult).await.expect("read"), expected);
    }

    // Unknown account; erasure needs --yes; then the minor is erased.
    let o = db.admin(
        &[
            "erase-user",
            "--user",
            "nobody@clinic-example.org",
            "--reason",
            "minor",
            "--yes",
        ],
        Some(&key),
    );
    assert!(!o.status.success());
    assert!(text(&o).contains("no account"), "{}", text(&o));
    let o = db.admin(
        &[
            "erase-user",
            "--user",
            "young.marker@clinic-example.org",
            "--reason",
            "minor",
        ],
        Some(&key),
    );
    assert!(!o.status.success());
    assert!(store.user(minor).await.expect("read").is_some());
    let o = db.admin(
        &[
            "erase-user",
            "--user",
            "young.marker@clinic-example.org",
            "--reason",
            "minor",
            "--case",
            "REPORT-7",
            "--yes",
        ],
        Some(&key),
    );
    assert!(o.status.success(), "{}", text(&o));
    assert!(store.user(minor).await.expect("read").is_none());
    assert!(store.user(adult).await.expect("read").is_some());

    // Each act is on the audit chain with its reason, and the chain holds.
    let adult_log = store.audit_of_user(adult, 50).await.expect("audit");
    let exported = adult_log
        .iter()
        .find(|e| e.event == "operator_exported")
        .expect("export audited");
    assert_eq!(exported.details["reason"], "request");
    assert_eq!(exported.details["case"], "TICKET-42");
    assert_eq!(
        adult_log
            .iter()
            .filter(|e| e.event == "operator_restriction_changed" && e.details["reason"] == "legal")
            .count(),
        2
    );
    let minor_log = store.audit_of_user(minor, 50).await.expect("audit");
    let erased = minor_log
        .iter()
        .find(|e| e.event == "operator_erased")
        .expect("erasure audited");
    assert_eq!(erased.details["reason"], "minor");
    assert!(minor_log.iter().any(|e| e.event == "account_erased"));

    // A death reported: the adult set a hand-over, but this operator has
    // no mail server configured, so nothing happens; after the directive
    // is removed the default (erasure) applies.
    let handover = praxis_protocol::notice::PostMortemRequest {
        action: praxis_protocol::notice::PostMortemAction::HandOver,
        recipient: Some(praxis_protocol::notice::PostMortemRecipient {
            name: "Heir Marker".into(),
            email: "heir.marker@example.org".into(),
        }),
        message: None,
    };
    store
        .set_post_mortem(adult, &handover, now)
        .await
        .expect("directive");
    let deceased = ["deceased", "--user", "adult.marker@clinic-example.org"];
    let o = db.admin(&deceased, Some(&key));
    assert!(!o.status.success());
    assert!(text(&o).contains("--yes"), "{}", text(&o));
    let with_yes = [&deceased[..], &["--case", "DEATH-9", "--yes"]].concat();
    let o = db.admin(&with_yes, Some(&key));
    assert!(!o.status.success());
    assert!(text(&o).contains("--smtp-url"), "{}", text(&o));
    assert!(store.user(adult).await.expect("read").is_some(), "kept");
    assert!(store.delete_post_mortem(adult).await.expect("remove"));
    let o = db.admin(&with_yes, Some(&key));
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("directive: erase"), "{}", text(&o));
    assert!(store.user(adult).await.expect("read").is_none(), "erased");
    let applied = store.audit_of_user(adult, 50).await.expect("audit");
    let entry = applied
        .iter()
        .find(|e| e.event == "operator_post_mortem_applied")
        .expect("audited");
    assert_eq!(entry.details["reason"], "deceased");
    assert_eq!(entry.details["case"], "DEATH-9");
    assert_eq!(store.verify_audit().await.expect("verify").broken_at, None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operator_commands_on_sqlite() {
    scenario(Db {
        dir: tempfile::tempdir().expect("dir"),
        url: None,
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operator_commands_on_postgres() {
    if let Some((db, client, schema)) = pg_db().await {
        scenario(db).await;
        client
            .batch_execute(&format!("DROP SCHEMA {schema} CASCADE"))
            .await
            .expect("drop schema");
    }
}
