//! The `praxis` binary against a real server: a full account and
//! organisation scenario for an admin and a practitioner, bad input, and
//! the exit codes scripts rely on.

use crate::common;

use common::{Run, code, login, register, register_args, sign_up};
use praxis_tests::{Backend, TestServer, Transport, person};
use serde_json::Value;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_and_practitioner_scenario() {
    let server = TestServer::start(Backend::Sqlite, Transport::Http)
        .await
        .expect("server");
    let url = server.base_url().expect("url").to_owned();
    let (d1, d2) = (
        tempfile::tempdir().expect("dir"),
        tempfile::tempdir().expect("dir"),
    );
    let admin = Run {
        server: &url,
        dir: d1.path(),
        passphrase: "admin device passphrase",
    };
    let nurse = Run {
        server: &url,
        dir: d2.path(),
        passphrase: "nurse device passphrase",
    };
    let (pa, pn) = (person("cliadmin"), person("clinurse"));

    let admin_id = register(&admin, &pa).await;
    // Not signed in yet: whoami is an authentication failure (exit 3).
    let o = admin.praxis(&["whoami"], None).await;
    assert_eq!(code(&o), 3, "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stderr).contains("praxis login"));
    // Wrong password: exit 3, nothing stored.
    let o = admin
        .praxis(
            &["login", "--email", pa["email"].as_str().expect("e")],
            Some("not-it"),
        )
        .await;
    assert_eq!(code(&o), 3);
    let v = admin
        .json(
            &["login", "--email", pa["email"].as_str().expect("e")],
            pa["password"].as_str(),
        )
        .await;
    assert_eq!(v["user_id"], admin_id);
    let v = admin.json(&["whoami"], None).await;
    assert_eq!(v["email"], pa["email"]);

    let org = admin.json(&["org", "create", "CLI Clinic"], None).await["org_id"]
        .as_str()
        .expect("org")
        .to_owned();
    let invite = admin.json(&["org", "invite", &org], None).await;
    let join_code = invite["code"].as_str().expect("code").to_owned();

    register(&nurse, &pn).await;
    nurse
        .json(
            &["login", "--email", pn["email"].as_str().expect("e")],
            pn["password"].as_str(),
        )
        .await;
    assert_eq!(
        nurse.json(&["org", "join", &join_code], None).await["org_id"],
        org.as_str()
    );
    // The used code does not work twice (exit 6, with advice).
    let o = nurse.praxis(&["org", "join", &join_code], None).await;
    assert_eq!(code(&o), 6, "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stderr).contains("new one"));
    // A fresh code for someone already in: a conflict (exit 5).
    let again = admin.json(&["org", "invite", &org], None).await["code"]
        .as_str()
        .expect("code")
        .to_owned();
    assert_eq!(code(&nurse.praxis(&["org", "join", &again], None).await), 5);
    let members = admin.json(&["org", "members", &org], None).await;
    assert_eq!(members.as_array().map(Vec::len), Some(2));
    // A practitioner cannot invite (admins only): exit 3 with advice.
    let o = nurse.praxis(&["org", "invite", &org], None).await;
    assert_eq!(code(&o), 3);
    assert!(String::from_utf8_lossy(&o.stderr).contains("admin"));
    let orgs = nurse.json(&["org", "list"], None).await;
    assert_eq!(orgs[0]["role"], "member");

    // Profile: show, edit, bad input.
    let p = nurse.json(&["profile", "show"], None).await;
    assert_eq!(p["email"], pn["email"]);
    let p = nurse
        .json(&["profile", "edit", "--profession", "midwife"], None)
        .await;
    assert_eq!(p["profession"], "midwife");
    let o = nurse
        .praxis(&["profile", "edit", "--phone", "0612"], None)
        .await;
    assert_eq!(code(&o), 6);
    assert!(String::from_utf8_lossy(&o.stderr).contains("phone"));
    let o = nurse.praxis(&["profile", "edit"], None).await;
    assert_eq!(code(&o), 6);
    let offline = nurse.json(&["profile", "show", "--offline"], None).await;
    assert_eq!(offline["profession"], "midwife");
    // A new sign-in email needs the password, and then works for login.
    let new_email = format!("renamed.{}", pn["email"].as_str().expect("email"));
    let o = nurse
        .praxis(
            &["profile", "edit", "--email", &new_email],
            Some("not-the-password-at-all"),
        )
        .await;
    assert_eq!(code(&o), 3, "{}", String::from_utf8_lossy(&o.stderr));
    let p = nurse
        .json(
            &["profile", "edit", "--email", &new_email],
            pn["password"].as_str(),
        )
        .await;
    assert_eq!(p["email"], new_email.as_str());

    // Human output is readable too.
    let o = admin.praxis(&["org", "members", &org], None).await;
    assert!(String::from_utf8_lossy(&o.stdout).contains("admin"));

    // Wrong passphrase for the local data: exit 7.
    let wrong = Run {
        server: &url,
        dir: d1.path(),
        passphrase: "not the passphrase",
    };
    assert_eq!(code(&wrong.praxis(&["whoami"], None).await), 7);

    // Logout, then authentication is required again.
    admin.json(&["logout"], None).await;
    assert_eq!(code(&admin.praxis(&["profile", "show"], None).await), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registration_refusals_and_usage_errors_have_their_exit_codes() {
    let server = TestServer::start(Backend::Sqlite, Transport::Http)
        .await
        .expect("server");
    let url = server.base_url().expect("url").to_owned();
    let d = tempfile::tempdir().expect("dir");
    let r = Run {
        server: &url,
        dir: d.path(),
        passphrase: "passphrase one",
    };
    let mut p = person("clibad");
    p["date_of_birth"] = "2015-02-03".into();
    let run = |a: Vec<String>, pw: Option<String>| {
        let r = &r;
        async move {
            let a: Vec<&str> = a.iter().map(String::as_str).collect();
            r.praxis(&a, pw.as_deref()).await
        }
    };
    let o = run(register_args(&p), p["password"].as_str().map(str::to_owned)).await;
    assert_eq!(code(&o), 6);
    assert!(String::from_utf8_lossy(&o.stderr).contains("18"));
    p["date_of_birth"] = "1980-02-03".into();
    let o = run(register_args(&p), Some("password".into())).await;
    assert_eq!(code(&o), 6);
    assert!(String::from_utf8_lossy(&o.stderr).contains("too weak"));
    register(&r, &p).await;
    let o = run(register_args(&p), p["password"].as_str().map(str::to_owned)).await;
    assert_eq!(code(&o), 5, "email taken");
    // Usage errors are clap's exit 2.
    assert_eq!(code(&r.praxis(&["login"], None).await), 2);
    assert_eq!(code(&r.praxis(&["no-such-command"], None).await), 2);
    assert_eq!(
        code(&r.praxis(&["org", "members", "not-a-uuid"], None).await),
        2
    );
    // Server down: exit 4.
    let down = Run {
        server: "http://127.0.0.1:9",
        dir: d.path(),
        passphrase: "passphrase one",
    };
    let o = down
        .praxis(
            &["login", "--email", "x@clinic-example.org"],
            Some("whatever-pass"),
        )
        .await;
    assert_eq!(code(&o), 4, "{}", String::from_utf8_lossy(&o.stderr));
    // A plain-http remote server is refused before anything is sent.
    let insecure = Run {
        server: "http://praxis.example.org",
        dir: d.path(),
        passphrase: "passphrase one",
    };
    assert_eq!(code(&insecure.praxis(&["whoami"], None).await), 6);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn appointments_sync_between_two_devices() {
    let server = TestServer::start(Backend::Sqlite, Transport::Http)
        .await
        .expect("server");
    let url = server.base_url().expect("url").to_owned();
    let (d1, d2) = (
        tempfile::tempdir().expect("dir"),
        tempfile::tempdir().expect("dir"),
    );
    let phone = Run {
        server: &url,
        dir: d1.path(),
        passphrase: "phone passphrase",
    };
    let laptop = Run {
        server: &url,
        dir: d2.path(),
        passphrase: "laptop passphrase",
    };
    let p = person("cliappt");
    register(&phone, &p).await;
    for d in [&phone, &laptop] {
        login(d, &p).await;
    }
    let added = phone
        .json(
            &[
                "appointments",
                "add",
                "--title",
                "Wound dressing",
                "--start",
                "2026-11-23T09:30:00+01:00",
                "--minutes",
                "45",
                "--address",
                "3 rue des Lilas",
            ],
            None,
        )
        .await;
    let id = added["id"].as_str().expect("id").to_owned();
    // Offline-first: it is listed before any sync.
    assert_eq!(
        phone.json(&["appointments", "list"], None).await[0]["title"],
        "Wound dressing"
    );
    assert_eq!(phone.json(&["sync"], None).await["state"], "idle");
    assert_eq!(laptop.json(&["sync"], None).await["pending"], 0);
    let on_laptop = laptop.json(&["appointments", "list"], None).await;
    assert_eq!(on_laptop[0]["id"], id.as_str());
    assert_eq!(on_laptop[0]["start"], "2026-11-23T08:30:00Z");
    laptop
        .json(
            &["appointments", "edit", &id, "--status", "completed"],
            None,
        )
        .await;
    laptop.json(&["sync"], None).await;
    phone.json(&["sync"], None).await;
    assert_eq!(
        phone.json(&["appointments", "list"], None).await[0]["status"],
        "completed"
    );
    // Regression: `no_show` was printed as `noshow` (a Debug name), which
    // `--status` does not accept. The printed name must be the one typed.
    phone
        .json(&["appointments", "edit", &id, "--status", "no_show"], None)
        .await;
    let listed = phone.json(&["appointments", "list"], None).await;
    assert_eq!(listed[0]["status"], "no_show");
    let human = phone.praxis(&["appointments", "list"], None).await;
    assert!(String::from_utf8_lossy(&human.stdout).contains(" no_show "));
    // Bad input: a start that is not RFC 3339 is a usage error; an unknown id is invalid input.
    let o = phone
        .praxis(
            &["appointments", "add", "--title", "x", "--start", "tomorrow"],
            None,
        )
        .await;
    assert_eq!(code(&o), 2);
    let o = phone
        .praxis(
            &[
                "appointments",
                "edit",
                "00000000-0000-4000-8000-000000000000",
                "--title",
                "x",
            ],
            None,
        )
        .await;
    assert_eq!(code(&o), 6);
    let o = phone
        .praxis(
            &[
                "appointments",
                "add",
                "--title",
                "",
                "--start",
                "2026-11-23T09:30:00Z",
            ],
            None,
        )
        .await;
    assert_eq!(code(&o), 6);
    phone.json(&["appointments", "delete", &id], None).await;
    phone.json(&["sync"], None).await;
    laptop.json(&["sync"], None).await;
    assert_eq!(
        laptop.json(&["appointments", "list"], None).await,
        serde_json::json!([])
    );
    // Server down: sync fails with the network exit code, the change stays queued.
    phone
        .json(
            &[
                "appointments",
                "add",
                "--title",
                "Offline visit",
                "--start",
                "2026-11-24T09:00:00Z",
            ],
            None,
        )
        .await;
    let down = Run {
        server: "http://127.0.0.1:9",
        dir: d1.path(),
        passphrase: "phone passphrase",
    };
    assert_eq!(code(&down.praxis(&["sync"], None).await), 4);
    assert_eq!(phone.json(&["sync"], None).await["pending"], 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn location_policy_consent_and_check_in() {
    let server = TestServer::start(Backend::Sqlite, Transport::Http)
        .await
        .expect("server");
    let url = server.base_url().expect("url").to_owned();
    let (d1, d2) = (
        tempfile::tempdir().expect("dir"),
        tempfile::tempdir().expect("dir"),
    );
    let admin = Run {
        server: &url,
        dir: d1.path(),
        passphrase: "admin device passphrase",
    };
    let nurse = Run {
        server: &url,
        dir: d2.path(),
        passphrase: "nurse device passphrase",
    };
    let (pa, pn) = (person("locadmin"), person("locnurse"));
    for (r, p) in [(&admin, &pa), (&nurse, &pn)] {
        sign_up(r, p).await;
    }
    let org = admin.json(&["org", "create", "Loc Clinic"], None).await["org_id"]
        .as_str()
        .expect("org")
        .to_owned();
    let code_ = admin.json(&["org", "invite", &org], None).await["code"]
        .as_str()
        .expect("code")
        .to_owned();
    nurse.json(&["org", "join", &code_], None).await;

    // Default off; only an admin can switch it on.
    let p = nurse
        .json(&["org", "location-policy", "show", &org], None)
        .await;
    assert_eq!(p["location_visits"], false);
    let o = nurse
        .praxis(
            &["org", "location-policy", "set", &org, "--visits", "on"],
            None,
        )
        .await;
    assert_eq!(code(&o), 3, "{}", String::from_utf8_lossy(&o.stderr));
    let o = admin
        .praxis(&["org", "location-policy", "set", &org], None)
        .await;
    assert_eq!(code(&o), 6, "nothing to change");
    let o = admin
        .praxis(
            &["org", "location-policy", "set", &org, "--precision", "off"],
            None,
        )
        .await;
    assert_eq!(code(&o), 2, "a usage error");
    let p = admin
        .json(
            &[
                "org",
                "location-policy",
                "set",
                &org,
                "--visits",
                "on",
                "--retention-days",
                "5",
            ],
            None,
        )
        .await;
    assert_eq!(
        (p["location_visits"].clone(), p["retention_days"].clone()),
        (true.into(), 5.into())
    );
    let changes = admin
        .json(&["org", "location-policy", "changes", &org], None)
        .await;
    assert_eq!(changes.as_array().map(Vec::len), Some(1));

    // The nurse syncs, consents, checks in.
    nurse.json(&["sync"], None).await;
    let o = nurse.praxis(&["location", "status"], None).await;
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("praxis consent grant location_visits"),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
    nurse
        .json(&["consent", "grant", "location_visits"], None)
        .await;
    let consent = nurse.json(&["consent", "show"], None).await;
    let visits = consent
        .as_array()
        .expect("list")
        .iter()
        .find(|c| c["purpose"] == "location_visits")
        .expect("visits")
        .clone();
    assert_eq!(visits["granted"], true);
    let visit = nurse
        .json(
            &[
                "appointments",
                "add",
                "--title",
                "Insulin",
                "--start",
                "2030-01-01T09:00:00+01:00",
            ],
            None,
        )
        .await["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let o = nurse
        .praxis(
            &[
                "location", "check-in", &visit, "--lat", "91", "--lon", "3.06",
            ],
            None,
        )
        .await;
    assert_eq!(code(&o), 6, "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stderr).contains("lat"));
    let ev = nurse
        .json(
            &[
                "location", "check-in", &visit, "--lat", "50.63", "--lon", "3.06",
            ],
            None,
        )
        .await;
    assert_eq!(ev["precision"], "approximate");
    nurse.json(&["sync"], None).await;

    // Withdrawal: refused at once, with what to do next.
    nurse
        .json(&["consent", "withdraw", "location_visits"], None)
        .await;
    let o = nurse
        .praxis(
            &[
                "location",
                "check-out",
                &visit,
                "--lat",
                "50.63",
                "--lon",
                "3.06",
            ],
            None,
        )
        .await;
    assert_eq!(code(&o), 3);
    assert!(String::from_utf8_lossy(&o.stderr).contains("praxis consent grant location_visits"));
    let history = nurse.json(&["consent", "history"], None).await;
    assert_eq!(history.as_array().map(Vec::len), Some(2));
    let o = nurse.praxis(&["consent", "grant", "tracking"], None).await;
    assert_eq!(code(&o), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contact_cards_from_invitation_to_revocation() {
    let server = TestServer::start(Backend::Sqlite, Transport::Http)
        .await
        .expect("server");
    let url = server.base_url().expect("url").to_owned();
    let (d1, d2) = (
        tempfile::tempdir().expect("dir"),
        tempfile::tempdir().expect("dir"),
    );
    let alice = Run {
        server: &url,
        dir: d1.path(),
        passphrase: "alice device passphrase",
    };
    let bruno = Run {
        server: &url,
        dir: d2.path(),
        passphrase: "bruno device passphrase",
    };
    let (pa, pb) = (person("cardalice"), person("cardbruno"));
    let mut ids = Vec::new();
    for (r, p) in [(&alice, &pa), (&bruno, &pb)] {
        ids.push(sign_up(r, p).await);
    }
    let card = alice
        .json(
            &[
                "contacts",
                "edit-card",
                "--work-phone",
                "+33320554433",
                "--specialty",
                "Endocrinology",
                "--languages",
                "fr,en",
            ],
            None,
        )
        .await;
    assert_eq!(card["languages"], serde_json::json!(["fr", "en"]));
    let o = alice
        .praxis(&["contacts", "edit-card", "--work-phone", "0612"], None)
        .await;
    assert_eq!(code(&o), 6, "{}", String::from_utf8_lossy(&o.stderr));
    let inv = alice
        .json(
            &["contacts", "invite", "--fields", "display_name,work_phone"],
            None,
        )
        .await;
    let invite_code = inv["code"].as_str().expect("code").to_owned();
    let o = alice
        .praxis(&["contacts", "invite", "--fields", "home_address"], None)
        .await;
    assert_eq!(code(&o), 6);

    // A damaged code is refused on the device, with advice.
    let damaged = format!("{}x", &invite_code[..invite_code.len() - 1]);
    let o = bruno.praxis(&["contacts", "preview", &damaged], None).await;
    assert_eq!(code(&o), 6, "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stderr).contains("Nothing was sent"));
    let p = bruno
        .json(&["contacts", "preview", &invite_code], None)
        .await;
    assert_eq!(
        p["fields"],
        serde_json::json!(["display_name", "work_phone"])
    );
    bruno
        .json(
            &[
                "contacts",
                "accept",
                &invite_code,
                "--fields",
                "display_name",
            ],
            None,
        )
        .await;
    let list = bruno.json(&["contacts", "list"], None).await;
    assert_eq!(list[0]["owner_id"], ids[0].as_str());
    assert_eq!(list[0]["card"]["work_phone"], "+33320554433");
    assert!(list[0]["card"].get("specialty").is_none());
    let o = bruno
        .praxis(
            &[
                "contacts",
                "accept",
                &invite_code,
                "--fields",
                "display_name",
            ],
            None,
        )
        .await;
    assert_eq!(code(&o), 5, "used");
    let holders = alice.json(&["contacts", "holders"], None).await;
    assert_eq!(holders[0]["holder_id"], ids[1].as_str());

    alice.json(&["contacts", "revoke", &ids[1]], None).await;
    bruno.json(&["sync"], None).await;
    let list = bruno.json(&["contacts", "list"], None).await;
    assert_eq!(list, serde_json::json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restriction_and_the_audit_log() {
    let server = TestServer::start(Backend::Sqlite, Transport::Http)
        .await
        .expect("server");
    let url = server.base_url().expect("url").to_owned();
    let dir = tempfile::tempdir().expect("dir");
    let me = Run {
        server: &url,
        dir: dir.path(),
        passphrase: "restricted device passphrase",
    };
    let p = person("clirestrict");
    sign_up(&me, &p).await;
    me.json(&["account", "restrict", "on"], None).await;
    let o = me
        .praxis(
            &[
                "appointments",
                "add",
                "--title",
                "Refused",
                "--start",
                "2030-01-01T09:00:00+01:00",
            ],
            None,
        )
        .await;
    assert_eq!(code(&o), 3, "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stderr).contains("restricted"));
    let o = me
        .praxis(&["contacts", "invite", "--fields", "display_name"], None)
        .await;
    assert_eq!(code(&o), 3);
    // Objection still works.
    me.json(&["consent", "withdraw", "analytics"], None).await;
    me.json(&["sync"], None).await;
    me.json(&["account", "restrict", "off"], None).await;
    let audit = me.json(&["account", "audit"], None).await;
    let events: Vec<&str> = audit
        .as_array()
        .expect("entries")
        .iter()
        .filter_map(|e| e["event"].as_str())
        .collect();
    for e in [
        "registered",
        "login_succeeded",
        "restriction_changed",
        "consent_changed",
    ] {
        assert!(events.contains(&e), "{e} in {events:?}");
    }
    let o = me.praxis(&["account", "restrict", "maybe"], None).await;
    assert_eq!(code(&o), 2);

    // Erasure: confirmed twice (the flag, then the password).
    let o = me
        .praxis(&["account", "delete"], p["password"].as_str())
        .await;
    assert_eq!(code(&o), 6, "needs --yes");
    let o = me
        .praxis(&["account", "delete", "--yes"], Some("not-the-password"))
        .await;
    assert_eq!(code(&o), 3);
    me.json(&["account", "delete", "--yes"], p["password"].as_str())
        .await;
    assert_eq!(code(&me.praxis(&["whoami"], None).await), 3, "signed out");
    let o = me
        .praxis(
            &["login", "--email", p["email"].as_str().expect("e")],
            p["password"].as_str(),
        )
        .await;
    assert_eq!(code(&o), 3, "the account is gone");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_privacy_notice_before_sign_in_and_once_after_a_change() {
    let server = TestServer::start(Backend::Sqlite, Transport::Http)
        .await
        .expect("server");
    let url = server.base_url().expect("url").to_owned();
    let dir = tempfile::tempdir().expect("dir");
    let me = Run {
        server: &url,
        dir: dir.path(),
        passphrase: "notice device passphrase",
    };
    // Before any account exists.
    let n = me.json(&["privacy", "notice"], None).await;
    assert_eq!(n["version"], 1);
    assert_eq!(n["controller"]["registration_number"], "HRB 000000");
    assert_eq!(n["changed"], false);
    let o = me.praxis(&["privacy", "notice"], None).await;
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("Privacy notice v1 of 2026-12-01"), "{text}");
    assert!(text.contains("Complaints:"), "{text}");
    assert!(!text.contains("changed"), "{text}");

    sign_up(&me, &person("clinotice")).await;
    let mut v2 = (*server.state.settings().privacy_notice.get()).clone();
    v2.version = 2;
    server.state.settings().privacy_notice.set(v2);
    me.json(&["sync"], None).await;
    let o = me.praxis(&["privacy", "notice"], None).await;
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("has changed since you last saw it"), "{text}");
    assert!(text.contains("Privacy notice v2"), "{text}");
    // Shown once: the next time it is no news.
    let n = me.json(&["privacy", "notice"], None).await;
    assert_eq!(
        (n["version"].as_u64(), n["changed"].as_bool()),
        (Some(2), Some(false))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_plain_and_encrypted() {
    let server = TestServer::start(Backend::Sqlite, Transport::Http)
        .await
        .expect("server");
    let url = server.base_url().expect("url").to_owned();
    let dir = tempfile::tempdir().expect("dir");
    let me = Run {
        server: &url,
        dir: dir.path(),
        passphrase: "export device passphrase",
    };
    let p = person("cliexport");
    sign_up(&me, &p).await;
    let out = tempfile::tempdir().expect("out");
    let plain = out.path().join("export.json");
    me.json(&["export", "--out", plain.to_str().expect("path")], None)
        .await;
    let doc: Value = serde_json::from_slice(&std::fs::read(&plain).expect("read")).expect("json");
    assert_eq!(doc["account"]["email"], p["email"]);

    let sealed = out.path().join("export.enc");
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_praxis"));
    cmd.args(["export", "--encrypt", "--out"])
        .arg(&sealed)
        .arg("--data-dir")
        .arg(dir.path())
        .env("PRAXIS_SERVER", &url)
        .env("PRAXIS_PASSPHRASE", "export device passphrase")
        .env("PRAXIS_EXPORT_PASSPHRASE", "long export passphrase")
        .stdin(std::process::Stdio::null());
    let o = tokio::task::spawn_blocking(move || cmd.output().expect("run"))
        .await
        .expect("join");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let bytes = std::fs::read(&sealed).expect("read");
    let email = p["email"].as_str().expect("e");
    assert!(!bytes.windows(email.len()).any(|w| w == email.as_bytes()));
    let back =
        praxis_core::export::decrypt(bytes.as_slice(), "long export passphrase").expect("decrypt");
    let doc2: Value = serde_json::from_slice(&back).expect("json");
    assert_eq!(doc2["user_id"], doc["user_id"]);
    assert!(praxis_core::export::decrypt(bytes.as_slice(), "wrong").is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_config_file_supplies_server_and_data_dir() {
    let server = TestServer::start(Backend::Sqlite, Transport::Http)
        .await
        .expect("server");
    let url = server.base_url().expect("url").to_owned();
    let dir = tempfile::tempdir().expect("dir");
    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        format!(
            "server = \"{url}\"\ndata_dir = \"{}\"\n",
            dir.path().join("data").display()
        ),
    )
    .expect("write");
    let run = |args: Vec<String>, config: std::path::PathBuf| {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_praxis"));
        cmd.args(&args)
            .arg("--config")
            .arg(&config)
            .env_remove("PRAXIS_SERVER")
            .env_remove("PRAXIS_DATA_DIR")
            .env("PRAXIS_PASSPHRASE", "config device passphrase")
            .stdin(std::process::Stdio::null());
        cmd
    };
    let p = person("cliconfig");
    let mut args = register_args(&p);
    args.push("--json".into());
    let mut cmd = run(args, config.clone());
    cmd.env("PRAXIS_PASSWORD", p["password"].as_str().expect("p"));
    let o = tokio::task::spawn_blocking(move || cmd.output().expect("run"))
        .await
        .expect("join");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(dir.path().join("data").exists(), "data_dir from the file");
    // A broken file is a clear error, before any passphrase is asked.
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "server = 42\ncolour = \"red\"\n").expect("write");
    let mut cmd = run(vec!["whoami".into()], bad);
    let o = tokio::task::spawn_blocking(move || cmd.output().expect("run"))
        .await
        .expect("join");
    assert_eq!(code(&o), 6, "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stderr).contains("config"));
    let mut cmd = run(vec!["whoami".into()], dir.path().join("missing.toml"));
    let o = tokio::task::spawn_blocking(move || cmd.output().expect("run"))
        .await
        .expect("join");
    assert_eq!(code(&o), 6, "a named config file must exist");
}

/// `praxis sync --watch` follows the server: a visit added on another
/// device arrives without any command being run, a JSON line per sync;
/// Ctrl-C ends it with success, and what arrived stays in the cache.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_watch_follows_another_devices_changes() {
    use std::io::BufRead as _;
    use std::time::Duration;

    let server = TestServer::start(Backend::Sqlite, Transport::Http)
        .await
        .expect("server");
    let url = server.base_url().expect("url").to_owned();
    let (d1, d2) = (
        tempfile::tempdir().expect("dir"),
        tempfile::tempdir().expect("dir"),
    );
    let phone = Run {
        server: &url,
        dir: d1.path(),
        passphrase: "phone passphrase",
    };
    let desk = Run {
        server: &url,
        dir: d2.path(),
        passphrase: "desk passphrase",
    };
    let p = person("cliwatch");
    register(&phone, &p).await;
    for d in [&phone, &desk] {
        login(d, &p).await;
    }
    let mut watching = std::process::Command::new(env!("CARGO_BIN_EXE_praxis"))
        .args(["sync", "--watch", "--json", "--data-dir"])
        .arg(desk.dir)
        .env("PRAXIS_SERVER", &url)
        .env("PRAXIS_PASSPHRASE", desk.passphrase)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    let (lines_tx, lines) = std::sync::mpsc::channel::<Value>();
    let stdout = watching.stdout.take().expect("stdout");
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            let _ = lines_tx.send(serde_json::from_str(&line).expect("a JSON line"));
        }
    });
    let next = || lines.recv_timeout(Duration::from_secs(10)).expect("a line");
    // The first line is the first completed sync (nothing is printed for
    // the status before it), which brings what the account already had.
    let first = next();
    assert_eq!(first["state"], "idle", "{first}");
    assert!(first["last_success"].is_string(), "{first}");
    phone
        .json(
            &[
                "appointments",
                "add",
                "--title",
                "Seen from the desk",
                "--start",
                "2026-11-23T09:30:00+01:00",
                "--minutes",
                "30",
            ],
            None,
        )
        .await;
    assert_eq!(phone.json(&["sync"], None).await["state"], "idle");
    // The sync that brought the visit says so (a reconnect may add an
    // empty one before it).
    let after = loop {
        let line = next();
        if line["received"] != 0 {
            break line;
        }
    };
    assert_eq!(after["state"], "idle", "{after}");
    assert_eq!(after["received"], 1, "{after}");
    assert_ne!(after["last_success"], first["last_success"]);
    // Ctrl-C.
    let pid = watching.id().to_string();
    assert!(
        std::process::Command::new("kill")
            .args(["-INT", &pid])
            .status()
            .expect("kill")
            .success()
    );
    let status = watching.wait().expect("wait");
    assert_eq!(status.code(), Some(0));
    let listed = desk.json(&["appointments", "list"], None).await;
    assert_eq!(
        listed[0]["title"], "Seen from the desk",
        "{listed} after {after}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_phone_is_signed_out_and_wiped_from_the_laptop() {
    let server = TestServer::start(Backend::Sqlite, Transport::Http)
        .await
        .expect("server");
    let url = server.base_url().expect("url").to_owned();
    let (d1, d2) = (
        tempfile::tempdir().expect("dir"),
        tempfile::tempdir().expect("dir"),
    );
    let phone = Run {
        server: &url,
        dir: d1.path(),
        passphrase: "phone passphrase",
    };
    let laptop = Run {
        server: &url,
        dir: d2.path(),
        passphrase: "laptop passphrase",
    };
    let p = person("clisessions");
    let pw = p["password"].as_str();
    register(&phone, &p).await;
    let o = phone
        .praxis_env(
            &["login", "--email", p["email"].as_str().expect("e")],
            pw,
            &[("PRAXIS_DEVICE_NAME", "Work phone")],
        )
        .await;
    assert_eq!(code(&o), 0, "{}", String::from_utf8_lossy(&o.stderr));
    login(&laptop, &p).await;
    phone
        .json(
            &[
                "appointments",
                "add",
                "--title",
                "Lost-phone visit",
                "--start",
                "2030-01-01T09:00:00+01:00",
            ],
            None,
        )
        .await;
    phone.json(&["sync"], None).await;

    let list = laptop.json(&["account", "sessions"], None).await;
    let list = list.as_array().expect("sessions");
    assert_eq!(list.len(), 2, "{list:?}");
    let lost = list.iter().find(|s| s["current"] == false).expect("phone");
    assert_eq!(lost["device_name"], "Work phone");
    assert_eq!(lost["platform"], "cli");
    let id = lost["id"].as_str().expect("id");
    let human = laptop.praxis(&["account", "sessions"], None).await;
    assert!(String::from_utf8_lossy(&human.stdout).contains("Work phone"));

    // Neither an id nor --others; both; a wrong password for the wipe.
    assert_eq!(
        code(&laptop.praxis(&["account", "sign-out"], None).await),
        2
    );
    assert_eq!(
        code(
            &laptop
                .praxis(&["account", "sign-out", id, "--others"], None)
                .await
        ),
        2
    );
    let o = laptop
        .praxis(
            &["account", "sign-out", id, "--wipe"],
            Some("not-the-password"),
        )
        .await;
    assert_eq!(code(&o), 3);
    laptop
        .json(&["account", "sign-out", id, "--wipe"], pw)
        .await;

    // The phone learns it at its next contact: signed out, data gone.
    let o = phone.praxis(&["sync"], None).await;
    assert_eq!(code(&o), 3, "{}", String::from_utf8_lossy(&o.stderr));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("wiped"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(code(&phone.praxis(&["whoami"], None).await), 3);
    let mut bytes = Vec::new();
    for e in std::fs::read_dir(d1.path()).expect("dir") {
        bytes.extend(std::fs::read(e.expect("e").path()).expect("read"));
    }
    assert!(
        !bytes.windows(16).any(|w| w == b"Lost-phone visit"),
        "the visit is still on the phone"
    );
    // The laptop goes on, and can end all others (none left).
    laptop.json(&["sync"], None).await;
    laptop
        .json(&["account", "sign-out", "--others"], None)
        .await;
    let list = laptop.json(&["account", "sessions"], None).await;
    assert_eq!(list.as_array().expect("sessions").len(), 1);
}

/// A server behind the organisation's private CA: refused without it (the
/// certificate is untrusted, exit 4, nothing sent), reached with
/// `--ca-cert` or `PRAXIS_CA_CERT`; a file that is not a PEM certificate is
/// refused, naming the setting, before anything is sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_private_ca_is_trusted_only_when_given() {
    use praxis_tests::tls::{Ca, TlsListener};
    let server = TestServer::start(Backend::Sqlite, Transport::Http)
        .await
        .expect("server");
    let ca = Ca::new("Clinic private CA");
    let https = TlsListener::start(&server, &ca.leaf("localhost", false)).await;
    let d = tempfile::tempdir().expect("dir");
    let ca_file = d.path().join("clinic-ca.pem");
    std::fs::write(&ca_file, &ca.pem).expect("write CA");
    let ca_path = ca_file.to_str().expect("utf-8 path");
    let device = d.path().join("device");
    let r = Run {
        server: &https.url,
        dir: &device,
        passphrase: "private ca passphrase",
    };
    let p = person("cliprivateca");
    let args = register_args(&p);
    let password = p["password"].as_str();

    let mut untrusted: Vec<&str> = args.iter().map(String::as_str).collect();
    let o = r.praxis(&untrusted, password).await;
    assert_eq!(code(&o), 4, "{}", String::from_utf8_lossy(&o.stderr));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("certificate"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(
        server.count("SELECT COUNT(*) FROM users").await,
        0,
        "nothing reached the server"
    );

    let not_pem = d.path().join("not-a-cert.pem");
    std::fs::write(&not_pem, "hello").expect("write");
    let o = r
        .praxis_env(
            &untrusted,
            password,
            &[("PRAXIS_CA_CERT", not_pem.to_str().expect("path"))],
        )
        .await;
    assert_eq!(code(&o), 6, "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stderr).contains("ca_cert"));

    untrusted.extend(["--ca-cert", ca_path]);
    let o = r.praxis(&untrusted, password).await;
    assert_eq!(code(&o), 0, "{}", String::from_utf8_lossy(&o.stderr));
    let o = r
        .praxis_env(
            &["login", "--email", p["email"].as_str().expect("email")],
            password,
            &[("PRAXIS_CA_CERT", ca_path)],
        )
        .await;
    assert_eq!(code(&o), 0, "{}", String::from_utf8_lossy(&o.stderr));
}
