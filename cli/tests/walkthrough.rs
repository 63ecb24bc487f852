//! README's walkthrough as a test: an admin and two practitioners (one
//! with a phone and a laptop) drive the `praxis` binary against a real
//! server through every subcommand, bad input included. The last check
//! fails when a subcommand exists that this scenario never ran.

use crate::common;

use common::{Run, code, invoked_against, leaf_subcommands, login, sign_up};
use praxis_tests::{Backend, TestServer, Transport, person};
use serde_json::Value;

fn s(v: &Value, k: &str) -> String {
    v[k].as_str()
        .unwrap_or_else(|| panic!("{k} in {v}"))
        .to_owned()
}

/// The entry for `purpose` in a per-purpose list.
fn purpose<'a>(list: &'a Value, purpose: &str) -> &'a Value {
    list.as_array()
        .and_then(|l| l.iter().find(|e| e["purpose"] == purpose))
        .unwrap_or_else(|| panic!("{purpose} in {list}"))
}

/// The codes mailed to `email` in messages containing `marker`, oldest
/// first (waits up to 10 s for `at_least`).
async fn mailed_codes(
    dir: &std::path::Path,
    email: &str,
    marker: &str,
    at_least: usize,
) -> Vec<String> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let mut found: Vec<(std::time::SystemTime, String)> = std::fs::read_dir(dir)
            .expect("mail dir")
            .flatten()
            .filter_map(|e| {
                let text = std::fs::read_to_string(e.path()).ok()?;
                let when = e.metadata().ok()?.modified().ok()?;
                (text.contains(email) && text.contains(marker)).then(|| {
                    let code = praxis_tests::smtp::Received {
                        from: String::new(),
                        to: Vec::new(),
                        data: text,
                    }
                    .code();
                    code.map(|c| (when, c))
                })?
            })
            .collect();
        if found.len() >= at_least || std::time::Instant::now() > deadline {
            found.sort();
            return found.into_iter().map(|(_, c)| c).collect();
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_subcommand_in_one_working_day() {
    // Mail goes to files, as with `praxis-server --dev`.
    let mail = tempfile::tempdir().expect("mail dir");
    let settings = praxis_server::Settings {
        mail: Some(praxis_server::mail::MailConfig {
            transport: praxis_server::mail::MailTransport::Files(mail.path().to_owned()),
            from: "Praxis <no-reply@localhost>".into(),
        }),
        ..praxis_tests::test_settings()
    };
    let server = TestServer::start_with(Backend::Sqlite, Transport::Http, settings)
        .await
        .expect("server");
    // The binary reads the real clock and the server runs on the fixed
    // test epoch: the core takes the server's time from its answers (as a
    // phone with a wrong clock does), so the day's dates hold on any day.
    let url = server.base_url().expect("url").to_owned();
    let dirs: Vec<tempfile::TempDir> = (0..5).map(|_| tempfile::tempdir().expect("dir")).collect();
    let device = |i: usize, passphrase| Run {
        server: &url,
        dir: dirs[i].path(),
        passphrase,
    };
    let ada = device(0, "ada's laptop passphrase");
    let bruno = device(1, "bruno's phone passphrase");
    let bruno_laptop = device(2, "bruno's laptop passphrase");
    let chloe = device(3, "chloe's phone passphrase");
    let chloe_tablet = device(4, "chloe's tablet passphrase");
    let (pa, pb, pc) = (person("ada"), person("bruno"), person("chloe"));

    // Accounts.
    let ada_id = sign_up(&ada, &pa).await;
    let bruno_id = sign_up(&bruno, &pb).await;
    let chloe_id = sign_up(&chloe, &pc).await;
    assert_eq!(s(&bruno.json(&["whoami"], None).await, "user_id"), bruno_id);
    let p = bruno
        .json(&["profile", "edit", "--phone", "+33699887766"], None)
        .await;
    assert_eq!(p["phone"], "+33699887766");
    assert_eq!(
        bruno.json(&["profile", "show"], None).await["phone"],
        "+33699887766"
    );

    // Ada's organisation; Bruno and Chloé join.
    let org = s(
        &ada.json(&["org", "create", "Soins du Vieux-Lille"], None)
            .await,
        "org_id",
    );
    for who in [&bruno, &chloe] {
        let code_ = s(&ada.json(&["org", "invite", &org], None).await, "code");
        who.json(&["org", "join", &code_], None).await;
    }
    assert_eq!(
        ada.json(&["org", "members", &org], None)
            .await
            .as_array()
            .map(Vec::len),
        Some(3)
    );
    assert_eq!(
        bruno.json(&["org", "list"], None).await[0]["role"],
        "member"
    );

    // Location policy: off by default; Ada switches it on, and off for Chloé.
    assert_eq!(
        ada.json(&["org", "location-policy", "show", &org], None)
            .await["location_visits"],
        false
    );
    ada.json(
        &[
            "org",
            "location-policy",
            "set",
            &org,
            "--visits",
            "on",
            "--sharing",
            "on",
            "--precision",
            "precise",
        ],
        None,
    )
    .await;
    ada.json(
        &["org", "location-policy", "member", &org, &chloe_id, "off"],
        None,
    )
    .await;
    let changes = ada
        .json(&["org", "location-policy", "changes", &org], None)
        .await;
    assert_eq!(changes.as_array().map(Vec::len), Some(2));

    // Ada runs the practice: a spare join code listed and revoked, the
    // name corrected, Bruno promoted and back, the audit log read; a
    // member is refused the same.
    ada.json(&["org", "invite", &org], None).await;
    let codes = ada.json(&["org", "codes", &org], None).await;
    let spare = s(&codes[0], "id");
    ada.json(&["org", "revoke-code", &org, &spare], None).await;
    assert_eq!(
        ada.json(&["org", "codes", &org], None).await,
        serde_json::json!([])
    );
    let renamed = ada
        .json(
            &["org", "rename", &org, "Soins du Vieux-Lille (cabinet)"],
            None,
        )
        .await;
    assert_eq!(renamed[0]["name"], "Soins du Vieux-Lille (cabinet)");
    ada.json(&["org", "role", &org, &bruno_id, "admin"], None)
        .await;
    ada.json(&["org", "role", &org, &bruno_id, "member"], None)
        .await;
    let audit = ada.json(&["org", "audit", &org], None).await;
    let roles = audit
        .as_array()
        .expect("entries")
        .iter()
        .filter(|e| e["event"] == "member_role_changed")
        .count();
    assert_eq!(roles, 2, "{audit}");
    for args in [
        vec!["org", "audit", &org],
        vec!["org", "role", &org, &bruno_id, "admin"],
        vec!["org", "remove", &org, &bruno_id],
        vec!["org", "codes", &org],
    ] {
        let o = chloe.praxis(&args, None).await;
        assert_eq!(code(&o), 3, "a member is refused {args:?}: {}", stderr(&o));
        assert!(
            stderr(&o).contains("Only an organisation admin"),
            "{}",
            stderr(&o)
        );
    }
    // The last admin cannot step down.
    let o = ada
        .praxis(&["org", "role", &org, &ada_id, "member"], None)
        .await;
    assert_eq!(code(&o), 5, "last admin: {}", stderr(&o));

    // Bruno reads the privacy notice, consents and checks in to a visit.
    bruno.json(&["sync"], None).await;
    let notice = bruno.json(&["privacy", "notice"], None).await;
    assert_eq!(notice["changed"], false);
    assert!(notice["supervisory_authority"]["url"].is_string());
    let consents = bruno.json(&["consent", "show"], None).await;
    assert_eq!(purpose(&consents, "location_visits")["granted"], false);
    for purpose in ["location_visits", "location_sharing"] {
        bruno.json(&["consent", "grant", purpose], None).await;
    }
    bruno
        .json(&["location", "precision", "precise"], None)
        .await;
    let status = bruno.json(&["location", "status"], None).await;
    let visits = purpose(&status, "location_visits");
    assert_eq!(
        (&visits["closed"], &visits["precision"]),
        (&Value::Null, &Value::from("precise")),
        "{status}"
    );
    let visit = s(
        &bruno
            .json(
                &[
                    "appointments",
                    "add",
                    "--title",
                    "Pansement",
                    "--start",
                    "2030-01-07T09:00:00+01:00",
                    "--patient",
                    "P-204",
                    "--address",
                    "12 rue Esquermoise, Lille",
                    "--lat",
                    "50.6372",
                    "--lon",
                    "3.0635",
                    "--radius",
                    "80",
                ],
                None,
            )
            .await,
        "id",
    );
    bruno
        .json(&["appointments", "edit", &visit, "--minutes", "45"], None)
        .await;
    let o = bruno
        .praxis(
            &[
                "location", "check-in", &visit, "--lat", "91", "--lon", "3.06",
            ],
            None,
        )
        .await;
    assert_eq!(code(&o), 6, "a latitude past the pole: {}", stderr(&o));
    let ev = bruno
        .json(
            &[
                "location", "check-in", &visit, "--lat", "50.6372", "--lon", "3.0635",
            ],
            None,
        )
        .await;
    assert_eq!(
        (&ev["precision"], &ev["inside"]),
        (&Value::from("precise"), &Value::from(true)),
        "{ev}"
    );
    bruno
        .json(
            &[
                "location",
                "check-out",
                &visit,
                "--lat",
                "50.6372",
                "--lon",
                "3.0635",
            ],
            None,
        )
        .await;
    bruno.json(&["sync"], None).await;

    // Chloé's location was switched off by her admin.
    chloe.json(&["sync"], None).await;
    chloe
        .json(&["consent", "grant", "location_visits"], None)
        .await;
    let status = chloe.json(&["location", "status"], None).await;
    assert_eq!(
        purpose(&status, "location_visits")["closed"],
        "policy_disabled",
        "{status}"
    );

    // Bruno's laptop sees the visit.
    login(&bruno_laptop, &pb).await;
    bruno_laptop.json(&["sync"], None).await;
    let list = bruno_laptop.json(&["appointments", "list"], None).await;
    assert_eq!(list[0]["id"], visit.as_str());
    assert_eq!(list[0]["duration_min"], 45);

    // Live sharing with Ada.
    let share = s(
        &bruno
            .json(
                &["location", "share", "--to", &ada_id, "--minutes", "30"],
                None,
            )
            .await,
        "share_id",
    );
    let sent = bruno
        .json(
            &[
                "location", "send-fix", "--lat", "50.6411", "--lon", "3.0579",
            ],
            None,
        )
        .await;
    assert_eq!(sent["shares"], 1, "{sent}");
    let seen = ada.json(&["location", "shared-with-me"], None).await;
    assert_eq!(seen[0]["user_id"], bruno_id.as_str());
    bruno.json(&["location", "stop-share", &share], None).await;
    assert_eq!(
        ada.json(&["location", "shared-with-me"], None).await,
        serde_json::json!([])
    );

    // Contact cards: Bruno ↔ Chloé, Chloé ↔ Ada, Chloé forwards Bruno's.
    bruno
        .json(
            &[
                "contacts",
                "edit-card",
                "--name",
                "Bruno Vermeille",
                "--work-phone",
                "+33320554433",
            ],
            None,
        )
        .await;
    assert_eq!(
        bruno.json(&["contacts", "card"], None).await["work_phone"],
        "+33320554433"
    );
    let invite = s(
        &bruno
            .json(
                &[
                    "contacts",
                    "invite",
                    "--fields",
                    "display_name,work_phone",
                    "--allow-forward",
                ],
                None,
            )
            .await,
        "code",
    );
    let o = chloe
        .praxis(&["contacts", "preview", "PXC1.junk.junk"], None)
        .await;
    assert_eq!(code(&o), 6, "{}", stderr(&o));
    chloe.json(&["contacts", "preview", &invite], None).await;
    chloe
        .json(
            &[
                "contacts",
                "accept",
                &invite,
                "--fields",
                "display_name",
                "--allow-forward",
            ],
            None,
        )
        .await;
    assert_eq!(
        chloe.json(&["contacts", "list"], None).await[0]["card"]["work_phone"],
        "+33320554433"
    );
    let to_ada = s(
        &chloe
            .json(&["contacts", "invite", "--fields", "display_name"], None)
            .await,
        "code",
    );
    ada.json(
        &["contacts", "accept", &to_ada, "--fields", "display_name"],
        None,
    )
    .await;
    chloe
        .json(&["contacts", "forward", &bruno_id, "--to", &ada_id], None)
        .await;
    ada.json(&["sync"], None).await;
    let ada_cards = ada.json(&["contacts", "list"], None).await;
    assert!(
        ada_cards
            .as_array()
            .expect("list")
            .iter()
            .any(|c| c["owner_id"] == bruno_id.as_str()),
        "{ada_cards}"
    );
    let holders = bruno.json(&["contacts", "holders"], None).await;
    assert_eq!(holders.as_array().map(Vec::len), Some(2), "{holders}");
    bruno
        .json(&["contacts", "revoke-holder", &ada_id], None)
        .await;
    let declined = s(
        &ada.json(&["contacts", "invite", "--fields", "display_name"], None)
            .await,
        "code",
    );
    bruno.json(&["contacts", "decline", &declined], None).await;
    bruno.json(&["contacts", "revoke", &chloe_id], None).await;
    bruno.json(&["contacts", "block", &chloe_id], None).await;
    bruno.json(&["contacts", "unblock", &chloe_id], None).await;

    // Consent history, an objection, restriction and the audit log.
    assert_eq!(
        bruno
            .json(&["consent", "history"], None)
            .await
            .as_array()
            .map(Vec::len),
        Some(2)
    );
    bruno
        .json(&["consent", "withdraw", "location_sharing"], None)
        .await;
    let erased = bruno
        .json(
            &["location", "erase", "--purpose", "location_sharing"],
            None,
        )
        .await;
    assert_eq!(
        erased["visit_events_deleted"], 0,
        "visits are kept: {erased}"
    );
    let pm = bruno.json(&["account", "post-mortem", "show"], None).await;
    assert_eq!(pm["action"], "erase");
    let pm = bruno
        .json(
            &[
                "account",
                "post-mortem",
                "hand-over",
                "--name",
                "Ada Heir",
                "--email",
                "ada.heir@example.org",
                "--message",
                "The schedule is yours",
            ],
            None,
        )
        .await;
    assert_eq!(pm["recipient"]["email"], "ada.heir@example.org");
    let o = bruno
        .praxis(
            &[
                "account",
                "post-mortem",
                "hand-over",
                "--name",
                "X",
                "--email",
                "nope",
            ],
            None,
        )
        .await;
    assert_eq!(code(&o), 6, "invalid input: {}", stderr(&o));
    bruno.json(&["account", "post-mortem", "erase"], None).await;
    let pm = bruno
        .json(&["account", "post-mortem", "remove"], None)
        .await;
    assert!(pm.get("updated_at").is_none(), "the default again: {pm}");
    let objections = bruno.json(&["account", "object"], None).await;
    assert!(
        objections.as_array().is_some_and(|a| a.len() >= 2),
        "{objections}"
    );
    let o = bruno
        .json(&["account", "object", "connection_log"], None)
        .await;
    assert_eq!(o[0]["objected"], true);
    bruno
        .json(&["account", "object", "connection_log", "--withdraw"], None)
        .await;
    bruno.json(&["account", "restrict", "on"], None).await;
    let o = bruno
        .praxis(
            &[
                "appointments",
                "add",
                "--title",
                "x",
                "--start",
                "2030-01-08T09:00:00Z",
            ],
            None,
        )
        .await;
    assert_ne!(code(&o), 0, "no change while restricted");
    bruno.json(&["account", "restrict", "off"], None).await;
    let audit = bruno.json(&["account", "audit"], None).await;
    assert!(audit.as_array().is_some_and(|a| a.len() >= 4), "{audit}");

    // Export, plain and encrypted, and back.
    let out = tempfile::tempdir().expect("out");
    let plain = out.path().join("bruno.json");
    let sealed = out.path().join("bruno.enc");
    let opened = out.path().join("bruno-opened.json");
    let path = |p: &std::path::Path| p.to_str().expect("utf-8").to_owned();
    bruno.json(&["export", "--out", &path(&plain)], None).await;
    let pass = [("PRAXIS_EXPORT_PASSPHRASE", "a long export passphrase")];
    for args in [
        vec!["export", "--encrypt", "--out", &path(&sealed), "--json"],
        vec![
            "export",
            "--decrypt",
            &path(&sealed),
            "--out",
            &path(&opened),
            "--json",
        ],
    ] {
        let o = bruno.praxis_env(&args, None, &pass).await;
        assert!(o.status.success(), "{args:?}: {}", stderr(&o));
    }
    let doc: Value = serde_json::from_slice(&std::fs::read(&opened).expect("read")).expect("json");
    assert_eq!(doc["account"]["email"], pb["email"]);

    // Chloé leaves the practice (Ada removes her), then Bruno leaves it.
    ada.json(&["org", "remove", &org, &chloe_id], None).await;
    bruno.json(&["org", "leave", &org], None).await;
    assert_eq!(
        ada.json(&["org", "members", &org], None)
            .await
            .as_array()
            .map(Vec::len),
        Some(1)
    );

    // The visit is done; Chloé leaves for good (her tablet wipes itself at
    // its next contact); Bruno signs out.
    login(&chloe_tablet, &pc).await;
    bruno.json(&["appointments", "delete", &visit], None).await;
    chloe
        .json(&["account", "delete", "--yes"], pc["password"].as_str())
        .await;
    let o = chloe.praxis(&["whoami"], None).await;
    assert_eq!(code(&o), 3, "the device was wiped: {}", stderr(&o));
    let o = chloe_tablet.praxis(&["sync"], None).await;
    assert_eq!(code(&o), 3, "{}", stderr(&o));
    assert!(stderr(&o).contains("erased"), "{}", stderr(&o));
    // Ada changes her password; her device stays signed in.
    let o = ada
        .praxis_env(
            &["account", "password", "--json"],
            pa["password"].as_str(),
            &[("PRAXIS_NEW_PASSWORD", "quartz-lantern-oboe-91")],
        )
        .await;
    assert!(o.status.success(), "{}", stderr(&o));
    ada.json(&["sync"], None).await;

    // Bruno's laptop is lost: his phone lists his devices and signs the
    // others out with a wipe; the laptop hears it at its next contact.
    let list = bruno.json(&["account", "sessions"], None).await;
    assert_eq!(list.as_array().expect("sessions").len(), 2, "{list}");
    bruno
        .json(
            &["account", "sign-out", "--others", "--wipe"],
            pb["password"].as_str(),
        )
        .await;
    let o = bruno_laptop.praxis(&["sync"], None).await;
    assert_eq!(code(&o), 3, "{}", stderr(&o));
    assert!(stderr(&o).contains("wiped"), "{}", stderr(&o));
    // Bruno proves his address with the code mailed at registration (a
    // new one on request), then forgets his password and resets it.
    let email = s(&pb, "email");
    let o = bruno.json(&["account", "verify-email"], None).await;
    assert_eq!(o["sent"], true);
    let codes = mailed_codes(mail.path(), &email, "confirmation code", 2).await;
    assert_eq!(codes.len(), 2, "at registration and on request");
    bruno
        .json(&["account", "verify-email", &codes[1]], None)
        .await;
    bruno.json(&["logout"], None).await;
    assert_eq!(code(&bruno.praxis(&["sync"], None).await), 3);
    bruno
        .json(&["account", "reset", "--email", &email], None)
        .await;
    let codes = mailed_codes(mail.path(), &email, "reset code", 1).await;
    let o = bruno
        .praxis_env(
            &[
                "account", "reset", "--email", &email, "--code", &codes[0], "--json",
            ],
            None,
            &[("PRAXIS_NEW_PASSWORD", "quartz-lantern-oboe-91")],
        )
        .await;
    assert!(o.status.success(), "{}", stderr(&o));
    let o = bruno
        .praxis(
            &["login", "--email", &email],
            Some("quartz-lantern-oboe-91"),
        )
        .await;
    assert!(o.status.success(), "{}", stderr(&o));

    // Every subcommand the binary has was run above.
    let invoked = invoked_against(&url);
    let leaves = leaf_subcommands();
    for known in [
        "register",
        "org location-policy set",
        "contacts revoke-holder",
        "export",
    ] {
        assert!(leaves.iter().any(|l| l == known), "{known} in {leaves:?}");
    }
    let missed: Vec<String> = leaves
        .into_iter()
        .filter(|leaf| {
            !invoked
                .iter()
                .any(|run| run == leaf || run.starts_with(&format!("{leaf} ")))
        })
        .collect();
    assert!(missed.is_empty(), "never run: {missed:?}");
}
