//! The backend's row model, the same on both engines: columns are read by
//! the name the select list gives them (an expression by its alias), and
//! a name or position the row does not have is a decoding error, not a
//! wrong value.

use praxis_server::store::StoreError;
use praxis_tests::StoreFixture;

praxis_tests::store_suite!(
    columns_are_read_by_their_select_list_names,
    statements_sent_together_answer_in_order_and_commit_all_or_nothing,
    a_statement_failing_before_it_is_sent_commits_nothing,
);

/// The statements the pipeline tests send: a scope's sequence, written
/// and read.
const INSERT: &str = "INSERT INTO sync_scopes (scope, seq) VALUES (?1, ?2)";
const SEQ: &str = "SELECT seq FROM sync_scopes WHERE scope = ?1";

async fn columns_are_read_by_their_select_list_names(f: StoreFixture) {
    let rows = f
        .store
        .db()
        .query(
            "SELECT CAST('held' AS TEXT) AS state, 7 AS n, COUNT(*) AS total FROM users",
            vec![],
        )
        .await
        .expect("query");
    let r = &rows[0];
    assert_eq!(r.text("state").expect("by name"), "held");
    assert_eq!(r.i64("n").expect("by name"), 7);
    assert_eq!(r.i64("total").expect("aliased count"), 0);
    assert_eq!(r.i64(1).expect("by position"), 7);
    for missing in [r.i64("count"), r.i64("N"), r.i64(3)] {
        assert!(matches!(missing, Err(StoreError::Decode(_))), "{missing:?}");
    }
    assert!(
        matches!(r.i64("state"), Err(StoreError::Decode(_))),
        "a type mismatch"
    );

    // A qualified column without an alias is named by its column alone,
    // on both engines (the decoders rely on it).
    super::account(&f, "col").await;
    let rows = f
        .store
        .db()
        .query(
            "SELECT u.id, u.created_at FROM users AS u JOIN users AS v ON v.id = u.id",
            vec![],
        )
        .await
        .expect("query");
    assert_eq!(rows.len(), 1);
    rows[0].uuid("id").expect("u.id is named id");
    assert_eq!(
        rows[0].i64("created_at").expect("named"),
        f.now().timestamp_millis()
    );
}

/// [`Tx::query_all`] and [`Tx::commit_after`] (one round trip each on
/// PostgreSQL, where `BEGIN` also travels with the first statements):
/// each statement's rows come back in its place, a failure is the first
/// error and commits nothing, and a transaction dropped after its first
/// pipeline leaves nothing behind.
///
/// [`Tx::query_all`]: praxis_server::store::Tx::query_all
/// [`Tx::commit_after`]: praxis_server::store::Tx::commit_after
async fn statements_sent_together_answer_in_order_and_commit_all_or_nothing(f: StoreFixture) {
    let db = f.store.db();
    let seq_of = |scope: &'static str| async move {
        db.query(SEQ, vec![scope.into()])
            .await
            .expect("read")
            .first()
            .map(|r| r.i64(0).expect("seq"))
    };

    // In order, each its own rows; written with the commit.
    let mut tx = db.begin().await.expect("begin");
    let rows = tx
        .query_all(vec![
            (INSERT, vec!["pipe:a".into(), 3i64.into()]),
            ("SELECT 'first' AS which", vec![]),
            (SEQ, vec!["pipe:a".into()]),
            (SEQ, vec!["pipe:none".into()]),
        ])
        .await
        .expect("pipeline");
    assert_eq!(rows.len(), 4);
    assert!(rows[0].is_empty());
    assert_eq!(rows[1][0].text("which").expect("text"), "first");
    assert_eq!(rows[2][0].i64("seq").expect("its own insert, seen"), 3);
    assert!(rows[3].is_empty());
    tx.commit_after(vec![(INSERT, vec!["pipe:b".into(), 4i64.into()])])
        .await
        .expect("commit");
    assert_eq!(
        (seq_of("pipe:a").await, seq_of("pipe:b").await),
        (Some(3), Some(4))
    );

    // A duplicate among the last statements: the first error, nothing kept.
    let mut tx = db.begin().await.expect("begin");
    tx.execute(INSERT, vec!["pipe:c".into(), 5i64.into()])
        .await
        .expect("insert");
    let failed = tx
        .commit_after(vec![
            (INSERT, vec!["pipe:d".into(), 6i64.into()]),
            (INSERT, vec!["pipe:a".into(), 7i64.into()]),
            (INSERT, vec!["pipe:e".into(), 8i64.into()]),
        ])
        .await;
    assert!(matches!(failed, Err(StoreError::Conflict)), "{failed:?}");
    for scope in ["pipe:c", "pipe:d", "pipe:e"] {
        assert_eq!(seq_of(scope).await, None, "{scope} was not committed");
    }
    assert_eq!(seq_of("pipe:a").await, Some(3));

    // A failure inside `query_all` is its error; dropping the transaction
    // then leaves nothing.
    let mut tx = db.begin().await.expect("begin");
    let failed = tx
        .query_all(vec![
            (INSERT, vec!["pipe:f".into(), 9i64.into()]),
            (INSERT, vec!["pipe:b".into(), 10i64.into()]),
            ("SELECT 1 AS one", vec![]),
        ])
        .await;
    assert!(matches!(failed, Err(StoreError::Conflict)), "{failed:?}");
    drop(tx);
    let mut tx = db.begin().await.expect("begin");
    tx.query_all(vec![(INSERT, vec!["pipe:g".into(), 11i64.into()])])
        .await
        .expect("pipeline");
    drop(tx);
    assert_eq!(
        (seq_of("pipe:f").await, seq_of("pipe:g").await),
        (None, None)
    );

    // A transaction that ran nothing commits nothing, and fine.
    db.begin()
        .await
        .expect("begin")
        .commit()
        .await
        .expect("empty commit");
    assert_eq!(seq_of("pipe:b").await, Some(4));
}

/// A statement that fails before it reaches the database (here: one
/// parameter too few) among the last ones: the statements after it and
/// the commit are not run, and nothing of the transaction is kept.
async fn a_statement_failing_before_it_is_sent_commits_nothing(f: StoreFixture) {
    let db = f.store.db();
    let mut tx = db.begin().await.expect("begin");
    tx.execute(INSERT, vec!["early:a".into(), 1i64.into()])
        .await
        .expect("insert");
    let failed = tx
        .commit_after(vec![
            (INSERT, vec!["early:b".into(), 2i64.into()]),
            (INSERT, vec!["early:c".into()]),
            (INSERT, vec!["early:d".into(), 4i64.into()]),
        ])
        .await;
    assert!(failed.is_err(), "{failed:?}");
    // The rollback of a dropped PostgreSQL transaction is finished by a
    // task: a read on another connection sees no uncommitted row anyway.
    for scope in ["early:a", "early:b", "early:c", "early:d"] {
        let rows = db.query(SEQ, vec![scope.into()]).await.expect("read");
        assert!(rows.is_empty(), "{scope} was not committed");
    }
}
