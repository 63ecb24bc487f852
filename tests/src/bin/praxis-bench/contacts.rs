//! Contact sharing: invitations, connections and card reads at scale.

use super::*;

/// An account written straight into the store (no password hashing).
pub(crate) async fn bench_account(
    store: &praxis_server::store::Store,
    id: uuid::Uuid,
    email: &str,
    full_name: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> anyhow::Result<()> {
    let user = praxis_server::store::NewUser {
        id,
        email: email.to_owned(),
        password_hash: "x".into(),
        full_name: full_name.to_owned(),
        phone: "+33612345678".into(),
        country: "FR".into(),
        language: "fr".into(),
        profession: "nurse".into(),
        date_of_birth: chrono::NaiveDate::from_ymd_opt(1980, 1, 1).unwrap_or_default(),
    };
    Ok(store.create_user(user, now).await?)
}

/// Creates `n` accounts straight in the store (no password hashing: they
/// never sign in), each with a full card.
async fn bench_users(server: &TestServer, n: usize, tag: &str) -> anyhow::Result<Vec<uuid::Uuid>> {
    let store = server.state.store();
    let now = server.clock.now();
    let mut ids = Vec::with_capacity(n);
    for i in 0..n {
        let id = uuid::Uuid::new_v4();
        bench_account(
            store,
            id,
            &format!("{tag}{i}@bench-example.org"),
            &format!("Bench {tag} {i}"),
            now,
        )
        .await?;
        let card = praxis_core::protocol::contacts::ContactCard {
            display_name: format!("Dr {tag} {i}"),
            profession: Some("physician".into()),
            work_phone: Some("+33320554433".into()),
            work_email: Some(format!("{tag}{i}@clinic-example.org")),
            organisation: Some("Cabinet Vauban".into()),
            ..Default::default()
        };
        store.put_card(id, &card, now).await?;
        ids.push(id);
    }
    Ok(ids)
}

/// `owner` invites and `holder` accepts, through the store.
async fn bench_connect(
    server: &TestServer,
    owner: uuid::Uuid,
    holder: uuid::Uuid,
) -> anyhow::Result<()> {
    let store = server.state.store();
    let now = server.clock.now();
    let id = uuid::Uuid::new_v4();
    let hash = id.as_bytes().to_vec();
    let fields: Vec<String> = [
        "display_name",
        "profession",
        "work_phone",
        "work_email",
        "organisation",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    store
        .create_invitation(
            id,
            owner,
            &hash,
            &fields,
            false,
            now,
            now + chrono::Duration::hours(1),
            i64::MAX,
        )
        .await?
        .map_err(|e| anyhow::anyhow!("{e:?}"))?;
    store
        .accept_invitation(id, &hash, holder, &fields[..1], false, now)
        .await?
        .map_err(|e| anyhow::anyhow!("{e:?}"))?;
    Ok(())
}

/// Received cards into a fresh device, and one owner edit fanned out to
/// every holder (the server's write time).
pub(crate) async fn contact_benchmarks(opts: &Options) -> anyhow::Result<Vec<Metric>> {
    let cards = if opts.quick { 1_000 } else { 10_000 };
    let holders = if opts.quick { 100 } else { 1_000 };
    let server = TestServer::start(Backend::Sqlite, Transport::Http)
        .await
        .ok_or_else(|| anyhow::anyhow!("server"))?;
    let url = server.base_url().expect("http").to_owned();
    let user = server.user("cardbench").await;
    let me: uuid::Uuid = user.id.parse()?;
    for owner in bench_users(&server, cards, "owner").await? {
        bench_connect(&server, owner, me).await?;
    }
    let dir = tempfile::tempdir()?;
    let client = praxis_core::PraxisClient::open(praxis_core::ClientConfig::new(
        &url,
        dir.path(),
        Arc::new(praxis_core::cache::RawKeyProvider::new([5; 32]))
            as Arc<dyn praxis_core::cache::KeyProvider>,
    ))
    .await?;
    client.account().login(&user.email, &user.password).await?;
    let t = Instant::now();
    client.sync().sync_now("bench").await?;
    let secs = t.elapsed().as_secs_f64();
    let got = client.contacts().list().await?.len();
    anyhow::ensure!(got == cards, "synced {got} of {cards} cards");
    let mut out = vec![Metric::new(
        "received cards into a fresh device",
        cards as f64 / secs,
        "cards/s",
        format!("{cards} cards, core + server on loopback, SQLite server"),
    )];

    let owner = bench_users(&server, 1, "star").await?[0];
    for holder in bench_users(&server, holders, "holder").await? {
        bench_connect(&server, owner, holder).await?;
    }
    let card = praxis_core::protocol::contacts::ContactCard {
        display_name: "Dr Star".into(),
        work_phone: Some("+33320000111".into()),
        ..Default::default()
    };
    let t = Instant::now();
    let n = server
        .state
        .store()
        .put_card(owner, &card, server.clock.now())
        .await?;
    let ms = t.elapsed().as_secs_f64() * 1000.0;
    anyhow::ensure!(n == holders, "{n} holders updated");
    out.push(Metric::new(
        "one card edit written to every holder",
        ms,
        "ms",
        format!("{holders} holders, one transaction, SQLite"),
    ));
    Ok(out)
}
